package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// match reports whether the slash path name (relative to the build directory) matches
// pattern as GitLab Runner matches artifacts:paths, artifacts:exclude and cache:paths: with
// github.com/bmatcuk/doublestar/v4. That is pipeline.Glob (Ruby's fnmatch, which rules:changes
// uses) except for a trailing `/**`, which doublestar lets match the directory itself and
// everything below it at any depth, and a lone `**`, which matches every path. So
// `dist/**` excludes all of dist, where `dist/*` excludes only its direct children.
func match(pattern, name string) bool {
	if pattern == "**" {
		return true
	}
	if dir, ok := strings.CutSuffix(pattern, "/**"); ok && !strings.HasSuffix(dir, `\`) {
		return pipeline.Glob(dir, name) || pipeline.Glob(dir+"/**/*", name)
	}
	return pipeline.Glob(pattern, name)
}

// splitPattern splits a slash pattern where the runner does (doublestar.SplitPattern): base is
// everything before the last slash that precedes the first wildcard, rest the remainder.
// A pattern without wildcards is a literal path and rest is empty.
func splitPattern(p string) (base, rest string) {
	i := strings.IndexAny(p, `*?[{\`)
	if i < 0 {
		return p, ""
	}
	j := strings.LastIndexByte(p[:i], '/')
	switch {
	case j < 0:
		return ".", p
	case j == 0:
		return "/", p[1:]
	}
	return p[:j], p[j+1:]
}

// maxDepth is the number of path elements a name matching pattern has, or -1 when it is
// unbounded (`**`, or alternatives that may hold a slash).
func maxDepth(pattern string) int {
	if strings.Contains(pattern, "**") || strings.ContainsRune(pattern, '{') {
		return -1
	}
	return strings.Count(pattern, "/") + 1
}

func depth(rel string) int {
	if rel == "." {
		return 0
	}
	return strings.Count(rel, "/") + 1
}

// entry is one file, directory or symbolic link of a tree.
type entry struct {
	// rel is the slash path relative to the tree's root; host is where the entry is now.
	rel, host string
	mode      fs.FileMode
	size      int64
	mtime     time.Time
	// target is a symbolic link's target, kept as written.
	target string
}

// collector resolves paths in a build directory into entries, with the runner's rules: a path
// is a file, a directory (taken recursively) or a doublestar glob; nothing outside the build
// directory is taken, and symbolic links are recorded as links, never followed out of it.
type collector struct {
	root, realRoot string
	// skip is a host directory never walked (the destination, when it lies in the build dir).
	skip     string
	exclude  []string
	entries  map[string]*entry
	real     map[string]string // resolved host directories, by rel
	warnings []string
}

func newCollector(buildDir string) (*collector, error) {
	root, err := filepath.Abs(buildDir)
	if err != nil {
		return nil, fmt.Errorf("build directory: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("build directory: %w", err)
	}
	return &collector{root: root, realRoot: realRoot, entries: map[string]*entry{}, real: map[string]string{}}, nil
}

func (c *collector) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// relative turns a slash path, relative to the build directory or absolute, into a clean slash
// path relative to it ("." for the directory itself). ok is false when p lies outside.
func (c *collector) relative(p string) (rel string, ok bool) {
	fp := filepath.FromSlash(p)
	for _, root := range []string{c.root, c.realRoot} {
		abs := fp
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(root, abs)
		}
		r, err := filepath.Rel(root, filepath.Clean(abs))
		if err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(r), true
		}
		if !filepath.IsAbs(fp) {
			break // a relative path leaves the build directory whatever its spelling
		}
	}
	return "", false
}

// resolveDir returns where directory rel really is, following symbolic links on the way, and
// false when that is outside the build directory. A missing directory resolves to its own
// path: nothing will be found there.
func (c *collector) resolveDir(rel string) (string, bool) {
	if rel == "." {
		return c.realRoot, true
	}
	if h, ok := c.real[rel]; ok {
		return h, h != ""
	}
	parent, ok := c.resolveDir(path.Dir(rel))
	if !ok {
		c.real[rel] = ""
		return "", false
	}
	host := filepath.Join(parent, filepath.FromSlash(path.Base(rel)))
	if fi, err := os.Lstat(host); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(host)
		if err == nil && !within(c.realRoot, real) {
			c.real[rel] = ""
			return "", false
		}
		if err == nil {
			host = real
		}
	}
	c.real[rel] = host
	return host, true
}

// below returns the slash path of h, which WalkDir found under dir, relative to dir.
func below(dir, h string) string {
	return filepath.ToSlash(strings.TrimLeft(h[len(dir):], string(filepath.Separator)))
}

// within reports whether the clean absolute path p is dir or lies below it.
func within(dir, p string) bool {
	r, err := filepath.Rel(dir, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
}

// setExclude records exclude patterns, made relative to the build directory as the runner does.
func (c *collector) setExclude(patterns []string, vars func(string) (string, bool)) {
	for _, p := range patterns {
		p = filepath.ToSlash(expand(p, vars))
		base, rest := splitPattern(p)
		rel, ok := c.relative(base)
		if !ok {
			c.warnf("%s: exclude pattern is outside the build directory, ignored", p)
			continue
		}
		c.exclude = append(c.exclude, path.Join(rel, rest))
	}
}

func (c *collector) excluded(rel string) bool {
	for _, p := range c.exclude {
		if match(p, rel) {
			return true
		}
	}
	return false
}

// addPath adds what p (already expanded) names and returns how many entries it matched, or -1
// when p is refused (with a warning) for lying outside the build directory.
func (c *collector) addPath(p string) int {
	p = filepath.ToSlash(p)
	base, rest := splitPattern(p)
	rel, ok := c.relative(base)
	if !ok {
		c.warnf("%s: not supported: outside build directory", p)
		return -1
	}
	if rest == "" {
		return c.addLiteral(p, rel)
	}
	baseHost, ok := c.resolveDir(rel)
	if !ok {
		c.warnf("%s: not supported: outside build directory (through a symbolic link)", p)
		return -1
	}
	pattern := path.Join(rel, rest)
	limit := maxDepth(pattern)
	found := 0
	err := filepath.WalkDir(baseHost, func(h string, d fs.DirEntry, err error) error {
		if err != nil {
			if h == baseHost && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			c.warnf("%s: %v", p, err)
			return nil
		}
		if h == c.skip {
			return filepath.SkipDir
		}
		r := rel
		if h != baseHost {
			r = path.Join(rel, below(baseHost, h))
		}
		if r != "." && match(pattern, r) {
			if d.IsDir() {
				found += c.addTree(r, h)
				return filepath.SkipDir
			}
			found += c.add(r, h, d)
			return nil
		}
		if d.IsDir() && limit >= 0 && depth(r) >= limit {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		c.warnf("%s: %v", p, err)
	}
	return found
}

// addLiteral adds the file or directory at rel, which p names without wildcards; it returns
// -1 when rel is refused, like addPath.
func (c *collector) addLiteral(p, rel string) int {
	if rel == "." {
		return c.addTree(".", c.realRoot)
	}
	dir, ok := c.resolveDir(path.Dir(rel))
	if !ok {
		c.warnf("%s: not supported: outside build directory (through a symbolic link)", p)
		return -1
	}
	host := filepath.Join(dir, filepath.FromSlash(path.Base(rel)))
	fi, err := os.Lstat(host)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.warnf("%s: %v", p, err)
		}
		return 0
	}
	if fi.IsDir() {
		return c.addTree(rel, host)
	}
	return c.add(rel, host, fs.FileInfoToDirEntry(fi))
}

// addTree adds the directory at host and everything below it.
func (c *collector) addTree(rel, host string) int {
	found := 0
	err := filepath.WalkDir(host, func(h string, d fs.DirEntry, err error) error {
		if err != nil {
			c.warnf("%s: %v", rel, err)
			return nil
		}
		if h == c.skip {
			return filepath.SkipDir
		}
		if h == host {
			if rel != "." {
				found += c.add(rel, h, d)
			}
			return nil
		}
		found += c.add(path.Join(rel, below(host, h)), h, d)
		return nil
	})
	if err != nil {
		c.warnf("%s: %v", rel, err)
	}
	return found
}

// add records one entry unless an exclude pattern matches it. An excluded directory is not
// recorded but its contents may be: exclude patterns are not recursive, as in GitLab.
func (c *collector) add(rel, host string, d fs.DirEntry) int {
	if c.excluded(rel) {
		return 0
	}
	if _, dup := c.entries[rel]; dup {
		return 1
	}
	fi, err := d.Info()
	if err != nil {
		c.warnf("%s: %v", rel, err)
		return 0
	}
	e := &entry{rel: rel, host: host, mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
	switch {
	case e.mode.IsRegular(), e.mode.IsDir():
	case e.mode&fs.ModeSymlink != 0:
		if e.target, err = os.Readlink(host); err != nil {
			c.warnf("%s: %v", rel, err)
			return 0
		}
	default:
		c.warnf("%s: skipped: not a regular file, directory or symbolic link", rel)
		return 0
	}
	c.entries[rel] = e
	return 1
}

// sorted returns the entries in path order, parents before their contents.
func (c *collector) sorted() []*entry {
	list := make([]*entry, 0, len(c.entries))
	for _, e := range c.entries {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].rel < list[j].rel })
	return list
}
