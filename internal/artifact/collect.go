package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/pipeline"
)

// Report says what Collect or Push stored.
type Report struct {
	// Files counts regular files and symbolic links (not directories); Bytes is the size of the
	// regular files.
	Files int
	Bytes int64
	// Warnings are problems that do not fail the job, as GitLab Runner prints them: a path that
	// matches nothing, a path outside the build directory, a special file skipped.
	Warnings []string
}

// ErrTooLarge is returned (wrapped) when what CollectMax selects is larger than its limit.
var ErrTooLarge = errors.New("too large")

// Collect is CollectMax without a size limit nor a job uid, for the user's own runs.
func Collect(buildDir, dst string, a *pipeline.Artifacts, vars func(string) (string, bool), untracked []string) (Report, error) {
	return CollectMax(buildDir, dst, a, vars, untracked, 0, 0)
}

// CollectMax copies into dst (created if needed) what artifacts:paths name in buildDir, minus
// artifacts:exclude, plus the untracked files when a.Untracked, with GitLab Runner's rules:
//
//   - A path is expanded with vars ($VAR, ${VAR}; undefined variables are empty), then names a
//     file, a directory (taken with everything below it) or a doublestar glob (`*`, `?`,
//     `[...]`, `{a,b}`, `**/` for any number of directories; see match). Paths are relative to
//     buildDir; an absolute path is accepted only inside it. A path outside buildDir (`../x`,
//     `/etc/x`, or reached through a symbolic link that leaves it) is refused with a warning.
//     An empty path names buildDir itself, as it does on GitLab.
//   - A path that matches nothing is a warning ("no matching files"), not an error.
//   - Exclude patterns are expanded and matched against each path relative to buildDir; they
//     are not recursive (`dist/tmp` excludes that entry, `dist/tmp/**` everything below).
//   - untracked lists the untracked files (as `git ls-files -o` does), relative to buildDir;
//     the caller computes it. Excludes apply to them too.
//   - maxBytes, when positive, bounds the total size of the regular files taken: a selection
//     over it is an error wrapping ErrTooLarge, found from the files' sizes before any is read.
//   - jobUID, when not zero, is the uid the job ran as, one of its own (run.Result.HostUID):
//     a regular file with more than one link that another uid owns is skipped with a warning.
//     The job did not make that file: it linked it, and it may be one it cannot read, such as
//     the server's database, where fs.protected_hardlinks is 0 (the runner, root, could).
//     Files are then copied into dst, never linked, so that the links a file has are the
//     job's doing, not an earlier collection's.
//
// buildDir is read only beneath an os.Root opened on it, so that a job's files cannot make
// Collect read anything outside it, even by changing while it runs. Relative paths, modes and
// modification times are kept, and symbolic links are stored as links, never followed.
// Regular files are hard-linked into dst when it is on the same file system as buildDir, and
// copied otherwise: after Collect the caller must not modify the collected files in place in
// buildDir (removing or replacing them is fine), or the stored copy changes too. Job build
// directories are recreated or discarded, so this holds for them.
//
// The error reports a failure to write dst or a selection over maxBytes; everything else about
// the build directory is a warning.
func CollectMax(buildDir, dst string, a *pipeline.Artifacts, vars func(string) (string, bool), untracked []string, maxBytes int64, jobUID int) (Report, error) {
	var rep Report
	c, err := newCollector(buildDir)
	if err != nil {
		return rep, err
	}
	defer c.close()
	c.jobUID = jobUID
	real, err := realPath(dst)
	if err != nil {
		return rep, fmt.Errorf("collect into %s: %w", dst, err)
	}
	if within(c.realRoot, real) {
		rel, _ := filepath.Rel(c.realRoot, real)
		c.skip = filepath.ToSlash(rel)
	}
	if a != nil {
		c.setExclude(a.Exclude, vars)
		for _, p := range a.Paths {
			p = expand(p, vars)
			if c.addPath(p) == 0 { // a refused path (-1) has its warning
				c.warnf("%s: no matching files. Ensure that the artifact path is relative to the working directory (%s)", p, c.root)
			}
		}
		if a.Untracked {
			c.addUntracked(untracked)
		}
	}
	rep.Warnings = c.warnings
	entries := c.sorted()
	if n := bytesOf(entries); maxBytes > 0 && n > maxBytes {
		return rep, fmt.Errorf("collect: %d bytes of files, more than the limit of %d: %w", n, maxBytes, ErrTooLarge)
	}
	rep.Files, rep.Bytes, err = writeTree(dst, entries, jobUID == 0)
	if err != nil {
		return rep, fmt.Errorf("collect into %s: %w", dst, err)
	}
	return rep, nil
}

// addUntracked adds the untracked files (and directories, taken recursively) listed.
func (c *collector) addUntracked(untracked []string) {
	found := 0
	for _, u := range untracked {
		rel, ok := c.relative(filepath.ToSlash(u))
		if !ok {
			c.warnf("%s: not supported: outside build directory", u)
			continue
		}
		found += max(c.addLiteral(u, rel), 0)
	}
	if found == 0 {
		c.warnf("untracked: no files")
	}
}

// Restore copies the tree at src (as Collect or Push wrote it) into buildDir, replacing
// whatever is in the way: files are overwritten, a file or symbolic link where the tree has a
// directory is replaced by the directory, and nothing is written through a symbolic link found
// in buildDir. Files are always copied, never linked, so a job cannot change the store by
// writing its files in place.
func Restore(src, buildDir string) error {
	entries, err := scanTree(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if _, _, err := writeTree(buildDir, entries, false); err != nil {
		return fmt.Errorf("restore into %s: %w", buildDir, err)
	}
	return nil
}

// realPath is filepath.EvalSymlinks for a path that may not exist yet: the part that exists
// is resolved, the rest appended.
func realPath(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		parent := filepath.Dir(p)
		if !errors.Is(err, fs.ErrNotExist) || parent == p {
			return "", err
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

// expand expands $VAR references in s.
func expand(s string, vars func(string) (string, bool)) string { return expr.Expand(s, vars) }
