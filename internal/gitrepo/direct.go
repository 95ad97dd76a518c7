package gitrepo

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/slipway/slipway/internal/gitcmd"
)

// readDirect gathers the same Facts as read from the repository's files, without starting git,
// when the repository and the environment are of the common kind: a .git directory in the work
// tree, owned by the user, loose and packed refs, objects loose or packed whole, config files
// without includes. ok is false for anything else, and the caller asks git: a linked work tree
// or submodule (.git is a file), a bare repository, another owner, any repository extension
// (reftable, SHA-256, …), core.worktree, a shallow clone, grafts or replace refs, a symbolic
// ref that points at another, environment variables that change what git reads, an object
// stored as a delta or elsewhere, several annotated tags on HEAD, a system other than Linux,
// or anything unexpected (including every error, so that git reports it as before).
func readDirect(dir string) (*Facts, bool) {
	if !directEnv() {
		return nil, false
	}
	root, gitDir, ok := findRepo(dir)
	if !ok {
		return nil, false
	}
	files, ok := configFiles(gitDir)
	if !ok {
		return nil, false
	}
	cfg, local, ok := readConfig(files)
	if !ok || !plainRepo(local) {
		return nil, false
	}
	for _, p := range []string{"shallow", "info/grafts", "refs/replace", "commondir", "reftable"} {
		if _, err := os.Lstat(filepath.Join(gitDir, p)); !notExist(err) {
			return nil, false
		}
	}
	refs, ok := readRefs(gitDir)
	if !ok {
		return nil, false
	}
	objs := &objectStore{dir: filepath.Join(gitDir, "objects")}
	defer objs.close()

	f := &Facts{Root: root}
	headRef, originRef := "HEAD", ""
	head, err := readRefFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return nil, false
	}
	oid, sym, ok := parseRef(head)
	switch {
	case !ok:
		return nil, false
	case sym != "":
		headRef = sym
		if !validRef(sym) {
			return nil, false
		}
		if oid, sym, _, ok = refs.read(headRef); !ok || sym != "" {
			return nil, false
		}
	}
	f.SHA = oid
	// origin/HEAD names the default branch when it points at one; when it is not symbolic it
	// names none. A branch that is gone still counts (read asks git symbolic-ref then), but
	// not on an unborn branch (for-each-ref skips such a ref).
	if _, sym, _, ok := refs.read(originHEAD); !ok {
		return nil, false
	} else if sym != "" {
		if !validRef(sym) {
			return nil, false
		}
		_, chained, found, ok := refs.read(sym)
		if !ok || chained != "" {
			return nil, false
		}
		if found || f.SHA != "" {
			originRef = sym
		}
	}
	exists := map[string]bool{}
	for _, c := range defaultCandidates {
		_, sym, found, ok := refs.read(c.ref)
		if !ok || sym != "" {
			return nil, false
		}
		exists[c.ref] = found
	}

	if f.SHA != "" {
		typ, data, found, ok := objs.read(f.SHA)
		if !found || !ok || typ != "commit" {
			return nil, false
		}
		f.Commit = parseCommit(data)
		if parent := firstParent(data); parent != "" {
			if found, ok := objs.has(parent); !found || !ok {
				return nil, false
			}
			f.BeforeSHA = parent
		}
		if f.Tag, ok = refs.tagAt(f.SHA, objs); !ok {
			return nil, false
		}
	}
	if headRef != "HEAD" {
		f.Branch = shortBranch(headRef)
	}
	if f.BeforeSHA == "" {
		f.BeforeSHA = strings.Repeat("0", max(len(f.SHA), 40))
	}
	f.DefaultBranch = defaultBranch(originRef, exists)
	f.RemoteURL = remoteURL(cfg)
	f.ProjectPath, f.ServerHost = ProjectPath(f.RemoteURL)
	if f.ProjectPath == "" {
		f.ProjectPath = "local/" + filepath.Base(root)
	}
	return f, true
}

// directEnv reports whether the environment leaves git reading what readDirect reads: no GIT_
// variable but those git is run without (repoEnv), the config files' places (configFiles
// honours them), and those known to change nothing git reads here: network, identity and
// tracing settings, and GitLab CI's own GIT_ variables.
func directEnv() bool {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GIT_") || repoEnv[k] || harmlessEnv[k] {
			continue
		}
		harmless := false
		for _, p := range harmlessEnvPrefixes {
			harmless = harmless || strings.HasPrefix(k, p)
		}
		if !harmless {
			return false
		}
	}
	return true
}

var harmlessEnv = map[string]bool{
	"GIT_CONFIG_GLOBAL": true, "GIT_CONFIG_SYSTEM": true, "GIT_CONFIG_NOSYSTEM": true,
	"GIT_TERMINAL_PROMPT": true, "GIT_OPTIONAL_LOCKS": true, "GIT_ASKPASS": true, "GIT_EDITOR": true,
	"GIT_SEQUENCE_EDITOR": true, "GIT_PAGER": true, "GIT_PROTOCOL": true, "GIT_ALLOW_PROTOCOL": true,
	// GitLab CI's (https://docs.gitlab.com/ci/runners/configure_runners/).
	"GIT_STRATEGY": true, "GIT_DEPTH": true, "GIT_CHECKOUT": true, "GIT_CLEAN_FLAGS": true,
	"GIT_FETCH_EXTRA_FLAGS": true, "GIT_CLONE_PATH": true, "GIT_SUBMODULE_STRATEGY": true,
	"GIT_SUBMODULE_DEPTH": true, "GIT_SUBMODULE_PATHS": true, "GIT_SUBMODULE_UPDATE_FLAGS": true,
	"GIT_SUBMODULE_FORCE_HTTPS": true,
}

var harmlessEnvPrefixes = []string{"GIT_SSL_", "GIT_SSH", "GIT_HTTP_", "GIT_CURL_", "GIT_PROXY_", "GIT_TRACE", "GIT_AUTHOR_", "GIT_COMMITTER_", "GIT_LFS_"}

// findRepo finds the work tree holding dir as git does, going up from its physical path to
// the first directory with a .git directory (and not past a mount point). ok is false for
// everything but that plain case: dir inside a .git directory, a .git file or symbolic link, a
// directory that is itself a git directory (bare), none found, a .git that is not a valid git
// directory, or one owned by another user.
func findRepo(dir string) (root, gitDir string, ok bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", false
	}
	phys, err := filepath.EvalSymlinks(abs)
	if err != nil || slices.Contains(strings.Split(phys, string(filepath.Separator)), ".git") {
		return "", "", false
	}
	var dev uint64
	for d := phys; ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return "", "", false
		}
		if d == phys {
			dev = st.Dev
		} else if st.Dev != dev {
			return "", "", false
		}
		g := filepath.Join(d, ".git")
		fi, err := os.Lstat(g)
		switch {
		case err == nil && fi.IsDir():
			if !gitDirectory(g) || !ownedByUs(d) || !ownedByUs(g) {
				return "", "", false
			}
			return d, g, true
		case err == nil || !notExist(err) || gitDirectory(d):
			return "", "", false
		}
		if filepath.Dir(d) == d {
			return "", "", false
		}
	}
}

// gitDirectory reports whether d looks like a git directory to git: HEAD, objects and refs.
func gitDirectory(d string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Lstat(filepath.Join(d, name)); err != nil {
			return false
		}
	}
	return true
}

func ownedByUs(p string) bool {
	var st syscall.Stat_t
	return syscall.Lstat(p, &st) == nil && int(st.Uid) == os.Geteuid()
}

// plainRepo reports whether the repository's own config makes it one readDirect reads: format
// version 0 or 1 without extensions, not bare, no core.worktree.
func plainRepo(local []configEntry) bool {
	for _, e := range local {
		switch {
		case strings.HasPrefix(e.key, "extensions."), e.key == "core.worktree":
			return false
		case e.key == "core.repositoryformatversion":
			if e.value != "0" && e.value != "1" {
				return false
			}
		case e.key == "core.bare":
			if !e.hasValue || !envFalse(e.value) || e.value == "" {
				return false
			}
		}
	}
	return true
}

// parseRef parses a loose ref file: an object name, or "ref: " and the name of another ref.
func parseRef(data []byte) (oid, sym string, ok bool) {
	if rest, isSym := bytes.CutPrefix(data, []byte("ref:")); isSym {
		sym = string(bytes.TrimSpace(rest))
		return "", sym, sym != "" && !strings.ContainsAny(sym, " \t\n")
	}
	if len(data) < 40 || !gitcmd.IsOID(string(data[:40])) || len(data) > 40 && !isSpace(data[40]) {
		return "", "", false
	}
	return string(data[:40]), "", true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// refStore reads refs: loose files first, then packed-refs.
type refStore struct {
	gitDir string
	packed map[string]packedRef
	names  []string // packed ref names, in file order
	// fullyPeeled is packed-refs' promise that every annotated tag in it has its peeled line.
	fullyPeeled bool
}

// packedRef is a line of packed-refs, with the "^" line that may follow it.
type packedRef struct{ oid, peeled string }

// readRefs reads packed-refs, if any. ok is false when it holds what refStore does not read.
func readRefs(gitDir string) (*refStore, bool) {
	s := &refStore{gitDir: gitDir, packed: map[string]packedRef{}}
	data, err := os.ReadFile(filepath.Join(gitDir, "packed-refs"))
	if notExist(err) {
		return s, true
	} else if err != nil {
		return nil, false
	}
	last := ""
	for i, l := range strings.Split(string(data), "\n") {
		switch {
		case l == "":
		case i == 0 && strings.HasPrefix(l, "# pack-refs with:"):
			s.fullyPeeled = slices.Contains(strings.Fields(l), "fully-peeled")
		case l[0] == '^' && last != "" && gitcmd.IsOID(l[1:]) && len(l) == 41:
			r := s.packed[last]
			r.peeled = l[1:]
			s.packed[last] = r
			last = ""
		default:
			oid, name, ok := strings.Cut(l, " ")
			if !ok || len(oid) != 40 || !gitcmd.IsOID(oid) || !validRef(name) || strings.HasPrefix(name, "refs/replace/") {
				return nil, false
			}
			if _, dup := s.packed[name]; !dup {
				s.names = append(s.names, name)
			}
			s.packed[name] = packedRef{oid: oid}
			last = name
		}
	}
	return s, true
}

// read reads ref name: the object it names, or the ref it points at (sym). found is false when
// there is no such ref; ok false when it cannot be read.
func (s *refStore) read(name string) (oid, sym string, found, ok bool) {
	data, err := readRefFile(filepath.Join(s.gitDir, filepath.FromSlash(name)))
	switch {
	case err == nil:
		oid, sym, ok := parseRef(data)
		return oid, sym, ok, ok
	case !notExist(err) && !isDirErr(err):
		return "", "", false, false
	}
	if r, found := s.packed[name]; found {
		return r.oid, "", true, true
	}
	return "", "", false, true
}

// readRefFile reads a loose ref file. A symbolic link is an error: git reads one as a
// symbolic ref (as very old git wrote HEAD), not as the file it points at.
func readRefFile(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

func isDirErr(err error) bool { return errors.Is(err, syscall.EISDIR) }

// validRef reports whether name is a ref name readDirect takes as it is: under refs/, made of
// printable ASCII without the characters git refuses, no component starting with "." or
// ending with ".lock", no "..", "//" or "@{".
func validRef(name string) bool {
	if !strings.HasPrefix(name, "refs/") || strings.Contains(name, "..") || strings.Contains(name, "//") ||
		strings.Contains(name, "@{") || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("~^:?*[\\", c) >= 0 {
			return false
		}
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return false
		}
	}
	return true
}

// tagAt is the tag git describe --tags --exact-match names for commit oid: an annotated tag
// before a lightweight one, and of several lightweight ones the first by name. ok is false
// when it cannot tell: several annotated tags (git prefers the newest), or a tag it cannot
// read.
func (s *refStore) tagAt(oid string, objs *objectStore) (tag string, ok bool) {
	tags := map[string]bool{}
	for _, name := range s.names {
		if strings.HasPrefix(name, "refs/tags/") {
			tags[name] = true
		}
	}
	root := filepath.Join(s.gitDir, "refs", "tags")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			return os.ErrInvalid // git reads a symbolic link to a ref file as that file
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(s.gitDir, p)
			if err != nil {
				return err
			}
			tags[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil && !notExist(err) {
		return "", false
	}
	names := make([]string, 0, len(tags))
	for name := range tags {
		if !validRef(name) {
			return "", false
		}
		names = append(names, name)
	}
	slices.Sort(names)
	light, annotated := "", ""
	for _, name := range names {
		target, sym, found, ok := s.read(name)
		if !ok || sym != "" {
			return "", false
		}
		if !found {
			continue
		}
		if target == oid {
			if light == "" {
				light = name
			}
			continue
		}
		peeled, ok := s.peel(name, target, objs)
		if !ok {
			return "", false
		}
		if peeled == oid {
			if annotated != "" {
				return "", false
			}
			annotated = name
		}
	}
	if annotated == "" {
		annotated = light
	}
	return strings.TrimPrefix(annotated, "refs/tags/"), true
}

// peel returns what the annotated tag object target (named by ref name) points at in the end,
// "" when target is not a tag object.
func (s *refStore) peel(name, target string, objs *objectStore) (string, bool) {
	if _, loose := os.Lstat(filepath.Join(s.gitDir, filepath.FromSlash(name))); notExist(loose) {
		if r := s.packed[name]; r.peeled != "" || s.fullyPeeled {
			return r.peeled, true
		}
	}
	peeled := ""
	for range 10 {
		typ, data, found, ok := objs.read(target)
		if !found || !ok {
			return "", false
		}
		if typ != "tag" {
			return peeled, true
		}
		obj, _, _ := bytes.Cut(data, []byte("\n"))
		next, isObj := bytes.CutPrefix(obj, []byte("object "))
		if !isObj || !gitcmd.IsOID(string(next)) || len(next) != 40 {
			return "", false
		}
		peeled, target = string(next), string(next)
	}
	return "", false
}

// firstParent returns the first parent named in a raw commit's header, "" when it has none.
func firstParent(raw []byte) string {
	header, _, _ := bytes.Cut(raw, []byte("\n\n"))
	for _, l := range strings.Split(string(header), "\n") {
		if p, ok := strings.CutPrefix(l, "parent "); ok {
			return p
		}
	}
	return ""
}
