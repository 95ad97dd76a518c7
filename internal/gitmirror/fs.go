package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FS returns the tree of commit rev (see Resolve; usually a SHA) as a read-only file system:
// fs.FS, fs.ReadFileFS, fs.ReadDirFS and fs.StatFS, with slash-separated paths relative to the
// repository root. It lists the tree with one git command; each file's content is read with
// another when first asked for, then kept, so the FS is for one short job (planning a
// pipeline), not to hold on to. ctx bounds those reads too: once it ends, reading a file not
// read yet fails.
//
// Symbolic links appear as such in ReadDir and Lstat-like listings, and are followed, within the
// tree, by Open, ReadFile and Stat; one pointing outside the tree or nowhere does not exist.
// Submodules are empty directories, as in a checkout that did not initialise them.
// Modification times are zero: a tree has none.
func (m *Mirrors) FS(ctx context.Context, projectID int64, rev string) (fs.FS, error) {
	t, err := m.tree(ctx, projectID, rev)
	if err != nil {
		return nil, fmt.Errorf("read tree of %q in project %d: %w", rev, projectID, err)
	}
	return t, nil
}

func (m *Mirrors) tree(ctx context.Context, projectID int64, rev string) (*treeFS, error) {
	if !plainRev(rev) {
		return nil, ErrUnknownRevision
	}
	dir := m.path(projectID)
	// -t lists the trees as well as what they hold, so that directories holding only
	// submodules exist; --long adds blob sizes.
	out, err := git(ctx, dir, "ls-tree", "-r", "-t", "-z", "--long", "--full-tree", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, m.failure(ctx, projectID, err, rev)
	}
	t := &treeFS{ctx: ctx, dir: dir, files: map[string]*entry{}, cache: map[string][]byte{}}
	root := &entry{name: ".", mode: fs.ModeDir | 0o555}
	t.files["."] = root
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		e, err := parseEntry(string(rec))
		if err != nil {
			return nil, err
		}
		t.files[e.path] = e
	}
	// ls-tree lists a tree before what it holds, each tree's entries in git's order: collect
	// each directory's children, then sort them by name as fs.ReadDir promises.
	for p, e := range t.files {
		if p == "." {
			continue
		}
		parent := t.files[path.Dir(p)]
		if parent == nil || !parent.mode.IsDir() {
			return nil, fmt.Errorf("git ls-tree: %q without its directory", p)
		}
		parent.children = append(parent.children, e)
	}
	for _, e := range t.files {
		slices.SortFunc(e.children, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
	}
	return t, nil
}

// parseEntry parses one record of ls-tree --long -z: "<mode> SP <type> SP <object> SP+ <size>
// TAB <path>".
func parseEntry(rec string) (*entry, error) {
	meta, p, ok := strings.Cut(rec, "\t")
	f := strings.Fields(meta)
	if !ok || len(f) != 4 || !fs.ValidPath(p) {
		return nil, fmt.Errorf("git ls-tree printed %q", rec)
	}
	e := &entry{path: p, name: path.Base(p), oid: f[2], size: -1}
	switch f[0] {
	case "040000":
		e.mode = fs.ModeDir | 0o555
	case "160000": // a submodule's commit
		e.mode, e.oid = fs.ModeDir|0o555, ""
	case "120000":
		e.mode = fs.ModeSymlink | 0o777
	case "100755":
		e.mode = 0o555
	default: // 100644, and the 100664 of very old repositories
		e.mode = 0o444
	}
	if f[3] != "-" {
		n, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("git ls-tree printed %q", rec)
		}
		e.size = n
	}
	return e, nil
}

// entry is a file, directory or symbolic link of a tree.
type entry struct {
	path, name string
	mode       fs.FileMode
	oid        string // a blob; "" for directories
	size       int64  // -1 for directories
	children   []*entry
}

// treeFS is the tree of one commit.
type treeFS struct {
	ctx   context.Context // bounds reading contents; the FS is short-lived by contract
	dir   string
	files map[string]*entry // by path; "." is the root

	mu    sync.Mutex
	cache map[string][]byte // blob contents by object name
}

var (
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// maxLinks bounds the symbolic links followed to resolve one path, as the kernel does.
const maxLinks = 40

// lookup finds name, following symbolic links (in every component when follow, else in all but
// the last).
func (t *treeFS) lookup(op, name string, follow bool) (*entry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p, links := name, 0
	for {
		e, rest, err := t.walk(p)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if e.mode&fs.ModeSymlink == 0 || (rest == "" && !follow) {
			if rest != "" {
				return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
			}
			return e, nil
		}
		if links++; links > maxLinks {
			return nil, &fs.PathError{Op: op, Path: name, Err: errors.New("too many links")}
		}
		target, err := t.read(e)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		p, err = linkTarget(e.path, string(target), rest)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
	}
}

// walk goes down p's components up to the first symbolic link, which it returns with the rest
// of p ("" when the link is p itself).
func (t *treeFS) walk(p string) (*entry, string, error) {
	if e := t.files[p]; e != nil {
		// Listed by ls-tree: then no directory above it is a link (git stores nothing under
		// a link).
		return e, "", nil
	}
	cur := ""
	for rest := p; rest != ""; {
		var c string
		c, rest, _ = strings.Cut(rest, "/")
		if cur == "" {
			cur = c
		} else {
			cur += "/" + c
		}
		e := t.files[cur]
		if e == nil {
			return nil, "", fs.ErrNotExist
		}
		if e.mode&fs.ModeSymlink != 0 {
			return e, rest, nil
		}
		if rest != "" && !e.mode.IsDir() {
			return nil, "", fs.ErrNotExist
		}
	}
	return nil, "", fs.ErrNotExist // not reached: p would have been listed
}

// linkTarget resolves target, the content of the link at linkPath, followed by rest, to a
// path of the tree.
func linkTarget(linkPath, target, rest string) (string, error) {
	if strings.HasPrefix(target, "/") {
		return "", fs.ErrNotExist // outside the tree
	}
	p := path.Join(path.Dir(linkPath), target)
	if rest != "" {
		p = path.Join(p, rest)
	}
	if p == ".." || strings.HasPrefix(p, "../") || !fs.ValidPath(p) {
		return "", fs.ErrNotExist
	}
	return p, nil
}

// read returns a blob's content, reading it with git cat-file the first time.
func (t *treeFS) read(e *entry) ([]byte, error) {
	t.mu.Lock()
	data, ok := t.cache[e.oid]
	t.mu.Unlock()
	if ok {
		return data, nil
	}
	// Two readers of one new blob may both run git; both get the same bytes.
	data, err := git(t.ctx, t.dir, "cat-file", "blob", e.oid)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.cache[e.oid] = data
	t.mu.Unlock()
	return data, nil
}

// Open opens name, following symbolic links.
func (t *treeFS) Open(name string) (fs.File, error) {
	e, err := t.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if e.mode.IsDir() {
		return &dirFile{info: t.info(e), entries: t.dirEntries(e)}, nil
	}
	data, err := t.read(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{info: t.info(e), r: bytes.NewReader(data)}, nil
}

// ReadFile returns name's content, following symbolic links; the caller may modify it.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	e, err := t.lookup("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if e.mode.IsDir() {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errors.New("is a directory")}
	}
	data, err := t.read(e)
	if err != nil {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: err}
	}
	return bytes.Clone(data), nil
}

// ReadDir lists directory name sorted by file name; links in it are not followed.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !e.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.dirEntries(e), nil
}

// Stat describes name, following symbolic links.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := t.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return t.info(e), nil
}

func (t *treeFS) dirEntries(e *entry) []fs.DirEntry {
	list := make([]fs.DirEntry, len(e.children))
	for i, c := range e.children {
		list[i] = fs.FileInfoToDirEntry(t.info(c))
	}
	return list
}

// info describes e. A link's size is the length of its target, as lstat gives it.
func (t *treeFS) info(e *entry) fs.FileInfo {
	return fileInfo{e: e}
}

type fileInfo struct{ e *entry }

func (i fileInfo) Name() string       { return i.e.name }
func (i fileInfo) Size() int64        { return max(i.e.size, 0) }
func (i fileInfo) Mode() fs.FileMode  { return i.e.mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.e.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// file is an open regular file.
type file struct {
	info fs.FileInfo
	r    *bytes.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *file) Close() error               { return nil }

func (f *file) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }

func (f *file) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }

var _ io.ReadSeeker = (*file)(nil)

// dirFile is an open directory.
type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

// ReadDir returns the next n entries (all that are left when n <= 0), as fs.ReadDirFile says.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	left := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(left), nil
	}
	if len(left) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(left))
	d.off += n
	return slices.Clone(left[:n]), nil
}
