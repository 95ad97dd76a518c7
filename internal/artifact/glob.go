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
	// rel is the slash path relative to the tree's root. host is where the entry is now: a
	// slash path below from when from is set (a build directory, read only through it), else
	// a host path (a tree of the store).
	rel, host string
	from      *os.Root
	mode      fs.FileMode
	size      int64
	mtime     time.Time
	// target is a symbolic link's target, kept as written.
	target string
	// sys is the file's identity (device and inode) where the system has one, as lstat saw it.
	sys any
}

// maxLinkHops bounds the symbolic links followed to resolve one directory, as the kernel's
// ELOOP does.
const maxLinkHops = 40

// collector resolves paths in a build directory into entries, with the runner's rules: a path
// is a file, a directory (taken recursively) or a doublestar glob; nothing outside the build
// directory is taken, and symbolic links are recorded as links, never followed out of it.
//
// Every look at the build directory goes through an os.Root opened on it: a name with "..",
// an absolute name or a symbolic link that leaves cannot reach the host, even if the tree
// changes while it is read. Symbolic links to directories inside are followed by resolving
// them here, so the paths recorded (entry.host) hold no link at all.
type collector struct {
	root, realRoot string
	r              *os.Root
	// skip is a resolved directory never walked (the destination, when it lies in the build
	// dir); "" when there is none.
	skip     string
	exclude  []string
	entries  map[string]*entry
	real     map[string]string // resolved directories, by rel ("" when outside)
	warnings []string
	// jobUID, when not zero, is the uid the job that wrote the build directory ran as: a
	// hard link to a file of another uid is skipped (see CollectMax).
	jobUID int
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
	r, err := os.OpenRoot(realRoot)
	if err != nil {
		return nil, fmt.Errorf("build directory: %w", err)
	}
	return &collector{root: root, realRoot: realRoot, r: r, entries: map[string]*entry{}, real: map[string]string{}}, nil
}

// close releases the build directory; the entries cannot be read after.
func (c *collector) close() { c.r.Close() }

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

// resolveDir returns where directory rel really is, as a slash path below the build
// directory with no symbolic link in it (links on the way are followed while they stay
// inside), and false when that is outside. A missing directory resolves to its own path:
// nothing will be found there.
func (c *collector) resolveDir(rel string) (string, bool) { return c.resolve(rel, 0) }

func (c *collector) resolve(rel string, hops int) (string, bool) {
	if rel == "." {
		return ".", true
	}
	if h, ok := c.real[rel]; ok {
		return h, h != ""
	}
	parent, ok := c.resolve(path.Dir(rel), hops)
	p := path.Join(parent, path.Base(rel))
	if ok {
		if fi, err := c.r.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			p, ok = c.follow(parent, p, hops)
		}
	}
	if !ok {
		p = ""
	}
	c.real[rel] = p
	return p, ok
}

// follow resolves the symbolic link at p (in the resolved directory parent).
func (c *collector) follow(parent, p string, hops int) (string, bool) {
	if hops >= maxLinkHops {
		return "", false
	}
	target, err := c.r.Readlink(p)
	if err != nil {
		return "", false
	}
	var t string
	if filepath.IsAbs(target) {
		var ok bool
		if t, ok = c.relative(filepath.ToSlash(target)); !ok {
			return "", false
		}
	} else if t = path.Join(parent, filepath.ToSlash(target)); t == ".." || strings.HasPrefix(t, "../") {
		return "", false
	}
	return c.resolve(t, hops+1)
}

// walk calls fn for dir (a resolved directory) and for everything below it, parents first
// and in name order; fn returns whether to descend into a directory. Each directory is opened
// beneath the one above it, so nothing is followed: a directory replaced by a link meanwhile
// is at worst another directory of the build dir. Problems below dir are warnings about p.
func (c *collector) walk(p, dir string, fn func(rel string, fi fs.FileInfo) bool) {
	fi, err := c.r.Lstat(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.warnf("%s: %v", p, err)
		}
		return
	}
	if !fn(dir, fi) || !fi.IsDir() {
		return
	}
	sub, err := c.r.OpenRoot(dir)
	if err != nil {
		c.warnf("%s: %v", p, err)
		return
	}
	defer sub.Close()
	c.walkIn(p, sub, dir, fn)
}

func (c *collector) walkIn(p string, r *os.Root, dir string, fn func(rel string, fi fs.FileInfo) bool) {
	f, err := r.Open(".")
	if err != nil {
		c.warnf("%s: %v", p, err)
		return
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		c.warnf("%s: %v", p, err)
	}
	sort.Strings(names)
	for _, name := range names {
		fi, err := r.Lstat(name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				c.warnf("%s: %v", p, err)
			}
			continue
		}
		rel := path.Join(dir, name)
		if !fn(rel, fi) || !fi.IsDir() {
			continue
		}
		sub, err := r.OpenRoot(name)
		if err != nil {
			c.warnf("%s: %v", p, err)
			continue
		}
		c.walkIn(p, sub, rel, fn)
		sub.Close()
	}
}

// below returns the slash path of h, which walk found under dir, relative to dir.
func below(dir, h string) string {
	if dir == "." {
		return h
	}
	return strings.TrimPrefix(h[len(dir):], "/")
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
	baseDir, ok := c.resolveDir(rel)
	if !ok {
		c.warnf("%s: not supported: outside build directory (through a symbolic link)", p)
		return -1
	}
	pattern := path.Join(rel, rest)
	limit := maxDepth(pattern)
	found := 0
	c.walk(p, baseDir, func(h string, fi fs.FileInfo) bool {
		if h == c.skip {
			return false
		}
		r := path.Join(rel, below(baseDir, h))
		if r != "." && match(pattern, r) {
			if fi.IsDir() {
				found += c.addTree(r, h)
				return false
			}
			found += c.add(r, h, fi)
			return false
		}
		return !fi.IsDir() || limit < 0 || depth(r) < limit
	})
	return found
}

// addLiteral adds the file or directory at rel, which p names without wildcards; it returns
// -1 when rel is refused, like addPath.
func (c *collector) addLiteral(p, rel string) int {
	if rel == "." {
		return c.addTree(".", ".")
	}
	dir, ok := c.resolveDir(path.Dir(rel))
	if !ok {
		c.warnf("%s: not supported: outside build directory (through a symbolic link)", p)
		return -1
	}
	h := path.Join(dir, path.Base(rel))
	fi, err := c.r.Lstat(h)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.warnf("%s: %v", p, err)
		}
		return 0
	}
	if fi.IsDir() {
		return c.addTree(rel, h)
	}
	return c.add(rel, h, fi)
}

// addTree adds the directory at h (resolved) and everything below it, as rel.
func (c *collector) addTree(rel, h string) int {
	found := 0
	c.walk(rel, h, func(x string, fi fs.FileInfo) bool {
		if x == c.skip {
			return false
		}
		if x == h {
			if rel != "." {
				found += c.add(rel, x, fi)
			}
			return true
		}
		found += c.add(path.Join(rel, below(h, x)), x, fi)
		return true
	})
	return found
}

// add records one entry, found at the resolved path h, unless an exclude pattern matches it.
// An excluded directory is not recorded but its contents may be: exclude patterns are not
// recursive, as in GitLab.
func (c *collector) add(rel, h string, fi fs.FileInfo) int {
	if c.excluded(rel) {
		return 0
	}
	if _, dup := c.entries[rel]; dup {
		return 1
	}
	e := &entry{rel: rel, host: h, from: c.r, mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime(), sys: identity(fi)}
	switch {
	case e.mode.IsRegular() && c.jobUID != 0 && foreignLink(fi, c.jobUID):
		c.warnf("%s: skipped: a hard link to a file that the job's user (uid %d) does not own", rel, c.jobUID)
		return 0
	case e.mode.IsRegular(), e.mode.IsDir():
	case e.mode&fs.ModeSymlink != 0:
		var err error
		if e.target, err = c.r.Readlink(h); err != nil {
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

// bytes adds up the sizes of the regular files of entries.
func bytesOf(entries []*entry) int64 {
	var n int64
	for _, e := range entries {
		if e.mode.IsRegular() {
			n += e.size
		}
	}
	return n
}
