package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/plan"
)

// Facts describes a repository's work tree and HEAD.
type Facts struct {
	// Root is the work tree's top-level directory.
	Root string
	// Branch is the checked-out branch, "" when HEAD is detached.
	Branch string
	// Tag is a tag pointing exactly at HEAD, "" if none.
	Tag string
	// SHA is HEAD's commit, "" in a repository without commits. BeforeSHA is its first
	// parent, or zeros (as GitLab sends) when it has none.
	SHA, BeforeSHA string
	// DefaultBranch is origin's HEAD branch; else "main" or "master", the first that exists
	// locally or on origin; else "" (the caller applies its own default).
	DefaultBranch string
	// RemoteURL is origin's URL, "" without an origin remote.
	RemoteURL string
	// ProjectPath is "group/sub/name" from RemoteURL (see ProjectPath), or "local/<dir>" when
	// there is no remote.
	ProjectPath string
	// ServerHost is the host name in RemoteURL ("gitlab.com"), "" when it has none.
	ServerHost string
	// Commit describes HEAD. Its Timestamp is the committer date, which is what GitLab puts in
	// CI_COMMIT_TIMESTAMP, in the committer's time zone.
	Commit plan.Commit
}

// Read gathers the Facts of the repository whose work tree contains dir. A directory outside
// any work tree gives an error wrapping ErrNotRepo.
func Read(ctx context.Context, dir string) (*Facts, error) {
	f, err := read(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("read git repo %q: %w", dir, err)
	}
	return f, nil
}

func read(ctx context.Context, dir string) (*Facts, error) {
	root, err := toplevel(ctx, dir)
	if err != nil {
		return nil, err
	}
	f := &Facts{Root: root}
	// symbolic-ref fails with 1 when HEAD is detached; it works on an unborn branch.
	if f.Branch, err = optional(ctx, root, []int{1}, "symbolic-ref", "-q", "--short", "HEAD"); err != nil {
		return nil, err
	}
	if f.SHA, err = resolve(ctx, root, "HEAD"); err != nil {
		return nil, err
	}
	if f.SHA != "" {
		if f.BeforeSHA, err = resolve(ctx, root, "HEAD^"); err != nil {
			return nil, err
		}
		// describe fails with 128 when no tag matches.
		if f.Tag, err = optional(ctx, root, []int{128}, "describe", "--tags", "--exact-match", "HEAD"); err != nil {
			return nil, err
		}
		if f.Commit, err = readCommit(ctx, root, f.SHA); err != nil {
			return nil, err
		}
	}
	if f.BeforeSHA == "" {
		f.BeforeSHA = strings.Repeat("0", max(len(f.SHA), 40))
	}
	if f.DefaultBranch, err = defaultBranch(ctx, root); err != nil {
		return nil, err
	}
	if f.RemoteURL, err = remoteURL(ctx, root); err != nil {
		return nil, err
	}
	f.ProjectPath, f.ServerHost = ProjectPath(f.RemoteURL)
	if f.ProjectPath == "" {
		f.ProjectPath = "local/" + filepath.Base(root)
	}
	return f, nil
}

func defaultBranch(ctx context.Context, root string) (string, error) {
	// symbolic-ref -q fails with 1 when the ref is not symbolic and 128 when it is missing.
	head, err := optional(ctx, root, []int{1, 128}, "symbolic-ref", "-q", "refs/remotes/origin/HEAD")
	if err != nil {
		return "", err
	}
	if b, ok := strings.CutPrefix(head, "refs/remotes/origin/"); ok && b != "" {
		return b, nil
	}
	for _, b := range []string{"main", "master"} {
		for _, ref := range []string{"refs/heads/" + b, "refs/remotes/origin/" + b} {
			ok, err := refExists(ctx, root, ref)
			if err != nil {
				return "", err
			}
			if ok {
				return b, nil
			}
		}
	}
	return "", nil
}

func remoteURL(ctx context.Context, root string) (string, error) {
	// config --get fails with 1 when the key is unset.
	raw, err := optional(ctx, root, []int{1}, "config", "--get", "remote.origin.url")
	if err != nil || raw == "" {
		return "", err
	}
	// get-url applies url.<base>.insteadOf, which turns shorthands into real URLs.
	if u, err := line(ctx, root, "remote", "get-url", "origin"); err == nil && u != "" {
		return u, nil
	}
	return raw, nil
}

// readCommit parses the raw commit object, which has the message byte for byte.
func readCommit(ctx context.Context, root, sha string) (plan.Commit, error) {
	out, err := run(ctx, root, "cat-file", "commit", sha)
	if err != nil {
		return plan.Commit{}, err
	}
	var c plan.Commit
	header, msg, _ := bytes.Cut(out, []byte("\n\n"))
	c.Message = string(msg)
	for _, l := range strings.Split(string(header), "\n") {
		switch {
		case strings.HasPrefix(l, "author "):
			c.AuthorName, c.AuthorEmail, _ = parseIdent(l[len("author "):])
		case strings.HasPrefix(l, "committer "):
			_, _, c.Timestamp = parseIdent(l[len("committer "):])
		}
	}
	return c, nil
}

// parseIdent parses "Name <email> 1700000000 +0200".
func parseIdent(s string) (name, email string, when time.Time) {
	lt := strings.IndexByte(s, '<')
	gt := strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return strings.TrimSpace(s), "", time.Time{}
	}
	name = strings.TrimSpace(s[:lt])
	email = s[lt+1 : gt]
	fields := strings.Fields(s[gt+1:])
	if len(fields) >= 1 {
		if sec, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			when = time.Unix(sec, 0).UTC()
			if len(fields) >= 2 {
				if off, ok := parseOffset(fields[1]); ok {
					when = when.In(time.FixedZone("", off))
				}
			}
		}
	}
	return name, email, when
}

// parseOffset parses a git time zone, "+0200" or "-0530", into seconds east of UTC.
func parseOffset(z string) (int, bool) {
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return 0, false
	}
	hh, err1 := strconv.Atoi(z[1:3])
	mm, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil {
		return 0, false
	}
	off := hh*3600 + mm*60
	if z[0] == '-' {
		off = -off
	}
	return off, true
}

// ResolveBase picks what ChangedFiles compares against: compareTo when set (from
// --compare-to), else "origin/<defaultBranch>" when that remote-tracking branch exists, else
// defaultBranch itself.
func ResolveBase(ctx context.Context, dir, defaultBranch, compareTo string) string {
	if compareTo != "" {
		return compareTo
	}
	if defaultBranch == "" {
		return ""
	}
	if ok, err := refExists(ctx, dir, "refs/remotes/origin/"+defaultBranch); err == nil && ok {
		return "origin/" + defaultBranch
	}
	return defaultBranch
}

// ChangedFiles lists the files a push of the work tree would change relative to base (a ref
// such as "origin/main"): those changed between merge-base(base, HEAD) and HEAD, plus staged,
// unstaged and untracked (not ignored) ones. Paths are slash-separated, relative to the root,
// sorted and unique; a rename lists both names and a deletion the removed path, as GitLab's
// rules:changes sees them. A base that names no commit gives an error wrapping ErrUnknownRef.
func ChangedFiles(ctx context.Context, dir, base string) ([]string, error) {
	files, err := changedFiles(ctx, dir, base)
	if err != nil {
		return nil, fmt.Errorf("list files changed since %q in %q: %w", base, dir, err)
	}
	return files, nil
}

func changedFiles(ctx context.Context, dir, base string) ([]string, error) {
	root, err := toplevel(ctx, dir)
	if err != nil {
		return nil, err
	}
	baseSHA, err := resolve(ctx, root, base)
	if err != nil {
		return nil, err
	}
	if baseSHA == "" {
		return nil, fmt.Errorf("%q: %w", base, ErrUnknownRef)
	}
	head, err := resolve(ctx, root, "HEAD")
	if err != nil {
		return nil, err
	}
	diff := []string{"diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv"}
	var cmds [][]string
	if head != "" {
		// merge-base fails with 1 when the histories share nothing; then compare the trees.
		from, err := optional(ctx, root, []int{1}, "merge-base", baseSHA, head)
		if err != nil {
			return nil, err
		}
		if from == "" {
			from = baseSHA
		}
		cmds = append(cmds,
			append(append([]string(nil), diff...), from, head, "--"),
			append(append([]string(nil), diff...), "--cached", head, "--"))
	} else {
		// No commit yet: everything staged is new.
		cmds = append(cmds, []string{"ls-files", "--cached", "-z"})
	}
	cmds = append(cmds,
		append(append([]string(nil), diff...), "--"),
		[]string{"ls-files", "--others", "--exclude-standard", "-z"})
	seen := map[string]bool{}
	for _, args := range cmds {
		out, err := run(ctx, root, args...)
		if err != nil {
			return nil, err
		}
		for _, p := range splitZ(out) {
			seen[p] = true
		}
	}
	return sortedKeys(seen), nil
}

// Files lists the files of the work tree for rules:exists: tracked ones that are not deleted
// and untracked ones that are not ignored. Paths are slash-separated, relative to the root,
// sorted and unique.
func Files(ctx context.Context, dir string) ([]string, error) {
	files, err := listFiles(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list files in %q: %w", dir, err)
	}
	return files, nil
}

func listFiles(ctx context.Context, dir string) ([]string, error) {
	root, err := toplevel(ctx, dir)
	if err != nil {
		return nil, err
	}
	out, err := run(ctx, root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
	if err != nil {
		return nil, err
	}
	deleted, err := run(ctx, root, "ls-files", "--deleted", "-z")
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	for _, p := range splitZ(deleted) {
		gone[p] = true
	}
	seen := map[string]bool{}
	for _, p := range splitZ(out) {
		if !gone[p] {
			seen[p] = true
		}
	}
	return sortedKeys(seen), nil
}

func sortedKeys(m map[string]bool) []string {
	list := make([]string, 0, len(m))
	for k := range m {
		list = append(list, k)
	}
	sort.Strings(list)
	return list
}
