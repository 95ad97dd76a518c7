package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway/slipway/internal/plan"

	"github.com/slipway/slipway/internal/gitcmd"
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
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read git repo %q: %w", dir, context.Cause(ctx))
	}
	if f, ok := readDirect(dir); ok {
		return f, nil
	}
	f, err := read(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("read git repo %q: %w", dir, err)
	}
	return f, nil
}

// originHEAD is the symbolic ref naming origin's default branch.
const originHEAD = "refs/remotes/origin/HEAD"

// defaultCandidates are the refs that name a default branch when origin/HEAD does not, best first.
var defaultCandidates = []struct{ branch, ref string }{
	{"main", "refs/heads/main"}, {"main", "refs/remotes/origin/main"},
	{"master", "refs/heads/master"}, {"master", "refs/remotes/origin/master"},
}

// read runs four git commands, two at a time:
//
//   - rev-parse: the top level, HEAD's commit and branch, and origin/HEAD's target;
//   - config: origin's URL and the url.*.insteadOf rules that rewrite it;
//
// then, when HEAD has a commit,
//
//   - cat-file --batch: HEAD's commit, its first parent, and which of main, master, origin/main
//     and origin/master exist;
//   - describe: the tag at HEAD;
//
// or, on an unborn branch, symbolic-ref (the branch) and for-each-ref (the refs above). A fifth,
// symbolic-ref, reads origin/HEAD only when it is dangling.
func read(ctx context.Context, dir string) (*Facts, error) {
	var (
		root, warnings string
		revs           []string
		err, cfgErr    error
		cfg            []byte
	)
	both(func() {
		// rev-parse prints nothing for HEAD, or for anything after it, on an unborn branch; and
		// nothing for origin/HEAD when it is missing.
		root, revs, warnings, err = revParse(ctx, dir, "--revs-only", "HEAD", "--symbolic-full-name", "HEAD", originHEAD)
	}, func() {
		// config fails with 1 when no key matches.
		cfg, cfgErr = run(ctx, dir, "config", "-z", "--get-regexp", `^(remote\.origin\.url|url\..*\.insteadof)$`)
	})
	if err != nil {
		return nil, err
	}
	if cfgErr != nil && (gitcmd.ExitCode(cfgErr) != 1 || ctx.Err() != nil) {
		return nil, cfgErr
	}
	f := &Facts{Root: root}
	var headRef, originRef string
	switch {
	case len(revs) == 0: // unborn branch
	case (len(revs) == 2 || len(revs) == 3) && gitcmd.IsOID(revs[0]):
		f.SHA, headRef = revs[0], revs[1]
		if len(revs) == 3 {
			originRef = revs[2]
		}
	default:
		return nil, fmt.Errorf("git rev-parse printed %q", revs)
	}

	exists := map[string]bool{}
	var err2 error
	if f.SHA != "" {
		both(func() {
			names := []string{f.SHA, f.SHA + "^"}
			for _, c := range defaultCandidates {
				names = append(names, c.ref)
			}
			var objs []*object
			if objs, err = catFile(ctx, root, names...); err != nil {
				return
			}
			if objs[0] == nil || objs[0].typ != "commit" {
				err = fmt.Errorf("HEAD commit %s: not found", f.SHA)
				return
			}
			f.Commit = parseCommit(objs[0].data)
			if objs[1] != nil {
				f.BeforeSHA = objs[1].oid
			}
			for i, c := range defaultCandidates {
				exists[c.ref] = objs[2+i] != nil
			}
		}, func() {
			// describe fails with 128 when no tag matches.
			f.Tag, err2 = optional(ctx, root, []int{128}, "describe", "--tags", "--exact-match", f.SHA)
		})
	} else {
		both(func() {
			// symbolic-ref -q fails with 1 when HEAD is detached, which it cannot be here.
			headRef, err = optional(ctx, root, []int{1}, "symbolic-ref", "-q", "HEAD")
		}, func() {
			args := []string{"for-each-ref", "--format=%(refname)%00%(symref)", originHEAD}
			for _, c := range defaultCandidates {
				args = append(args, c.ref)
			}
			var out []byte
			if out, warnings, err2 = runIO(ctx, root, nil, args...); err2 != nil {
				return
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
				ref, symref, _ := strings.Cut(l, "\x00")
				if ref == originHEAD {
					originRef = symref
				} else if ref != "" {
					exists[ref] = true
				}
			}
		})
	}
	if err == nil {
		err = err2
	}
	if err != nil {
		return nil, err
	}
	if headRef != "HEAD" {
		f.Branch = shortBranch(headRef)
	}
	if f.BeforeSHA == "" {
		f.BeforeSHA = strings.Repeat("0", max(len(f.SHA), 40))
	}
	if strings.Contains(warnings, originHEAD) {
		// origin/HEAD is dangling (its branch is gone): git skips it with a warning, but its
		// target still names the default branch.
		// symbolic-ref -q fails with 1 when the ref is not symbolic and 128 when it is missing.
		if originRef, err = optional(ctx, root, []int{1, 128}, "symbolic-ref", "-q", originHEAD); err != nil {
			return nil, err
		}
	}
	f.DefaultBranch = defaultBranch(originRef, exists)
	f.RemoteURL = remoteURL(cfg)
	f.ProjectPath, f.ServerHost = ProjectPath(f.RemoteURL)
	if f.ProjectPath == "" {
		f.ProjectPath = "local/" + filepath.Base(root)
	}
	return f, nil
}

// shortBranch is the name of the branch ref HEAD points at, as symbolic-ref --short prints it
// when the name is unambiguous.
func shortBranch(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/", "refs/remotes/", "refs/"} {
		if b, ok := strings.CutPrefix(ref, p); ok {
			return b
		}
	}
	return ref
}

// defaultBranch is origin's HEAD branch, from the full ref name origin/HEAD points at ("" when
// it is missing; itself when it is not symbolic); else the first candidate that exists.
func defaultBranch(originRef string, exists map[string]bool) string {
	if b, ok := strings.CutPrefix(originRef, "refs/remotes/origin/"); ok && b != "" && originRef != originHEAD {
		return b
	}
	for _, c := range defaultCandidates {
		if exists[c.ref] {
			return c.branch
		}
	}
	return ""
}

// remoteURL is origin's URL as git remote get-url origin prints it, from the output of git config
// -z --get-regexp for remote.origin.url and url.*.insteadof: the first URL, rewritten by the
// longest insteadOf prefix it starts with. "" when origin has no URL. When git would reject the
// configuration, it is the last URL, as git config --get prints it.
func remoteURL(cfg []byte) string {
	type rewrite struct {
		base      string
		insteadOf []string
	}
	var (
		urls     []string
		rewrites []*rewrite
		bad      bool
	)
	byBase := map[string]*rewrite{}
	for _, e := range bytes.Split(cfg, []byte{0}) {
		if len(e) == 0 {
			continue
		}
		key, value, ok := strings.Cut(string(e), "\n")
		if !ok {
			bad = true // a key without "=": git rejects it
		}
		if key == "remote.origin.url" {
			urls = append(urls, value)
			continue
		}
		base, ok1 := strings.CutPrefix(key, "url.")
		base, ok2 := strings.CutSuffix(base, ".insteadof")
		if !ok1 || !ok2 {
			continue
		}
		rw := byBase[base]
		if rw == nil {
			rw = &rewrite{base: base}
			byBase[base] = rw
			rewrites = append(rewrites, rw)
		}
		rw.insteadOf = append(rw.insteadOf, value)
	}
	if len(urls) == 0 || urls[len(urls)-1] == "" {
		return ""
	}
	if bad || urls[0] == "" {
		return urls[len(urls)-1]
	}
	u := urls[0]
	var best *rewrite
	longest := -1
	for _, rw := range rewrites {
		for _, p := range rw.insteadOf {
			if strings.HasPrefix(u, p) && len(p) > longest {
				best, longest = rw, len(p)
			}
		}
	}
	if best != nil {
		u = best.base + u[longest:]
	}
	return u
}

// object is an object git cat-file --batch printed.
type object struct {
	oid, typ string
	data     []byte
}

// catFile looks objects up by name with one git cat-file --batch and returns them in the same
// order, nil for a name that names none. Names must not contain newlines.
func catFile(ctx context.Context, root string, names ...string) ([]*object, error) {
	out, _, err := runIO(ctx, root, strings.NewReader(strings.Join(names, "\n")+"\n"), "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	objs := make([]*object, len(names))
	for i := range names {
		header, rest, ok := bytes.Cut(out, []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("git cat-file --batch: output ends early")
		}
		out = rest
		// "<oid> <type> <size>" and the object, or "<name> missing" (or "ambiguous").
		fields := strings.Fields(string(header))
		if len(fields) != 3 || !gitcmd.IsOID(fields[0]) {
			continue
		}
		size, err := strconv.Atoi(fields[2])
		if err != nil || size < 0 || size >= len(out) || out[size] != '\n' {
			return nil, fmt.Errorf("git cat-file --batch: bad output for %q: %q", names[i], header)
		}
		objs[i] = &object{oid: fields[0], typ: fields[1], data: out[:size]}
		out = out[size+1:]
	}
	return objs, nil
}

// parseCommit parses a raw commit object, which has the message byte for byte.
func parseCommit(raw []byte) plan.Commit {
	var c plan.Commit
	header, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	c.Message = string(msg)
	for _, l := range strings.Split(string(header), "\n") {
		switch {
		case strings.HasPrefix(l, "author "):
			c.AuthorName, c.AuthorEmail, _ = parseIdent(l[len("author "):])
		case strings.HasPrefix(l, "committer "):
			_, _, c.Timestamp = parseIdent(l[len("committer "):])
		}
	}
	return c
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

// changedFiles runs three git commands: rev-parse for the top level, base, HEAD and their merge
// base; then, side by side, diff for what was committed since the merge base and status for
// what is staged, unstaged or untracked.
func changedFiles(ctx context.Context, dir, base string) ([]string, error) {
	if base == "" || strings.HasPrefix(base, "^") || strings.Contains(base, "..") {
		// Not one revision (rev-parse would take "^x" as a negation and "a..b" as a range).
		if _, err := toplevel(ctx, dir); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%q: %w", base, ErrUnknownRef)
	}
	// rev-parse prints base's commit, then for base...HEAD: HEAD, base again and "^" and each
	// merge base. Once a revision does not resolve it prints nothing more (see revParse).
	rev := base + "^{commit}"
	root, revs, _, err := revParse(ctx, dir, "--revs-only", "--end-of-options", rev, rev+"...HEAD")
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, fmt.Errorf("%q: %w", base, ErrUnknownRef)
	}
	var head, from string
	switch {
	case len(revs) == 1 && gitcmd.IsOID(revs[0]): // no commit yet
	case len(revs) >= 3 && gitcmd.IsOID(revs[0]) && gitcmd.IsOID(revs[1]) && revs[2] == revs[0]:
		head, from = revs[1], revs[0]
		if len(revs) > 3 {
			// The first merge base, as git merge-base prints it. None when the histories share
			// nothing: then compare the trees.
			from = strings.TrimPrefix(revs[3], "^")
		}
	default:
		return nil, fmt.Errorf("git rev-parse printed %q for %q", revs, base)
	}
	var committed, status []byte
	var err2 error
	both(func() {
		if head != "" {
			committed, err = run(ctx, root, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", from, head, "--")
		}
	}, func() {
		// Staged (against HEAD, or everything staged before the first commit), unstaged, and
		// untracked files that are not ignored, each listed.
		status, err2 = run(ctx, root, "status", "--porcelain=v2", "-z", "--no-renames", "--untracked-files=all")
	})
	if err == nil {
		err = err2
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range splitZ(committed) {
		seen[p] = true
	}
	for _, p := range statusPaths(status) {
		seen[p] = true
	}
	return sortedKeys(seen), nil
}

// statusPaths lists the paths in git status --porcelain=v2 -z output.
func statusPaths(out []byte) []string {
	var paths []string
	entries := strings.Split(string(out), "\x00")
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		// The path follows a fixed number of fields: "1 XY sub mH mI mW hH hI path",
		// "2 XY sub mH mI mW hH hI Xscore path\x00origPath", "u XY sub m1 m2 m3 mW h1 h2 h3 path",
		// "? path".
		fields := 0
		switch {
		case strings.HasPrefix(e, "1 "):
			fields = 8
		case strings.HasPrefix(e, "2 "):
			fields = 9
			if i+1 < len(entries) {
				i++
				paths = append(paths, entries[i])
			}
		case strings.HasPrefix(e, "u "):
			fields = 10
		case strings.HasPrefix(e, "? "):
			fields = 1
		default: // "# header", "! ignored", ""
			continue
		}
		p := e
		for range fields {
			_, p, _ = strings.Cut(p, " ")
		}
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// Files lists the files of the work tree for rules:exists: tracked ones that are not deleted
// and untracked ones that are not ignored. Paths are slash-separated, relative to the root,
// sorted and unique.
func Files(ctx context.Context, dir string) ([]string, error) {
	files, _, err := listFiles(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list files in %q: %w", dir, err)
	}
	return files, nil
}

// WorkTree lists the work tree as Files does, and which of those files git tracks (the rest
// are untracked, not ignored), with one git command.
func WorkTree(ctx context.Context, dir string) (files, tracked []string, err error) {
	files, tracked, err = listFiles(ctx, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list files in %q: %w", dir, err)
	}
	return files, tracked, nil
}

// listFiles runs one git ls-files when dir is the top level of its work tree (it holds .git),
// else rev-parse first to find the top level.
//
// Which tracked files are deleted it finds by reading the directories that hold them, which
// costs a few system calls per directory instead of one lstat per file (ls-files --deleted),
// and lstat only for names missing from their directory's listing (which, on a
// case-insensitive file system, may still exist under another case).
func listFiles(ctx context.Context, dir string) (files, tracked []string, err error) {
	if err := checkDir(dir); err != nil {
		return nil, nil, err
	}
	root := dir
	if _, err := os.Lstat(filepath.Join(dir, ".git")); err != nil {
		if root, err = toplevel(ctx, dir); err != nil {
			return nil, nil, err
		}
	}
	entries, err := lsFiles(ctx, root)
	if err != nil {
		return nil, nil, notRepo(err)
	}
	if root == dir && slices.ContainsFunc(entries, func(e string) bool { return strings.HasPrefix(e[2:], "../") }) {
		// dir holds a .git that is not its work tree's (git found the top level higher up):
		// paths come relative to dir. Ask for the top level.
		if root, err = toplevel(ctx, dir); err != nil {
			return nil, nil, err
		}
		if entries, err = lsFiles(ctx, root); err != nil {
			return nil, nil, err
		}
	}
	dirs := map[string]map[string]bool{}
	files = make([]string, 0, len(entries))
	for _, e := range entries {
		tag, p := e[:2], e[2:]
		// "H " tracked, "M " unmerged (once per stage), "S " skip-worktree (not expected on
		// disk; ls-files --deleted does not report it), "? " untracked.
		if (tag == "H " || tag == "M ") && !onDisk(root, p, dirs) {
			continue
		}
		files = append(files, p)
		if tag != "? " {
			tracked = append(tracked, p)
		}
	}
	slices.Sort(files)
	slices.Sort(tracked)
	return slices.Compact(files), slices.Compact(tracked), nil
}

// lsFiles lists the work tree's tracked and untracked files, each with a tag (ls-files -t).
func lsFiles(ctx context.Context, root string) ([]string, error) {
	// ":/" is the whole work tree, wherever git finds its top level.
	out, err := run(ctx, root, "ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard", "--", ":/")
	if err != nil {
		return nil, err
	}
	entries := strings.Split(string(out), "\x00")
	return slices.DeleteFunc(entries, func(e string) bool { return len(e) < 3 || e[1] != ' ' }), nil
}

// onDisk reports whether the slash-separated path p under root exists (lstat succeeds), using
// and filling dirs, the names in each directory read so far (nil when it could not be read).
func onDisk(root, p string, dirs map[string]map[string]bool) bool {
	d, name := path.Split(p)
	names, ok := dirs[d]
	if !ok {
		names = readNames(filepath.Join(root, filepath.FromSlash(d)))
		dirs[d] = names
	}
	if names[name] {
		return true
	}
	if names != nil && names[""] {
		// The directory is missing: so is everything in it.
		return false
	}
	_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p)))
	return err == nil
}

// readNames lists the names in directory d; the set {""} when d does not exist or is not a
// directory, nil when it cannot be read otherwise.
func readNames(d string) map[string]bool {
	f, err := os.Open(d)
	if err == nil {
		var list []string
		list, err = f.Readdirnames(-1)
		f.Close()
		if err == nil {
			names := make(map[string]bool, len(list))
			for _, n := range list {
				names[n] = true
			}
			return names
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return map[string]bool{"": true}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	list := make([]string, 0, len(m))
	for k := range m {
		list = append(list, k)
	}
	sort.Strings(list)
	return list
}
