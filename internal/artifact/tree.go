package artifact

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// modeBits are the mode bits a tree keeps: permissions only. Set-user-ID and set-group-ID bits
// are dropped: a file a root Docker job made set-user-ID must not become one in a later job's
// build dir through an artifact or a cache (git keeps no such bits either).
const modeBits = fs.ModePerm

// Files are written by several goroutines when there are at least parallelMin of them, each
// taking chunk files at a time: neighbours share a directory, whose lock writers contend for.
const (
	parallelMin = 64
	chunk       = 64
)

// Files smaller than cloneMin are copied with one read and one write. A reflink (or
// copy_file_range, which makes one on Btrfs and XFS) costs more for so little data: the kernel
// flushes the source to disk and records the sharing. Copying 10,000 freshly written files of
// 1 KiB on XFS took 0.5–0.7 s so and 1.0–1.8 s as reflinks.
const cloneMin = 64 << 10

// writer writes entries below root.
type writer struct {
	root string
	// link is set while hard links are worth trying (cleared on the first EXDEV).
	link atomic.Bool
	// clone is set while reflinks are worth trying for copies (cleared on the first refusal:
	// a file system without them costs one failed call per tree, not one per file).
	clone atomic.Bool
	// dirs are the relative directories known to be real directories (not links) under root.
	dirs map[string]bool
	// bytes adds up the sizes of the regular files written.
	bytes atomic.Int64
	// opened are directories found without write permission and opened up to be written
	// into, with their mode, to put back at the end.
	opened []*entry
}

// writeTree writes entries (sorted, parents first) below root, creating it. Regular files are
// hard-linked when link is set and the file system allows it, and copied otherwise (as
// reflinks where the file system has them, see copyFile); whatever
// is in the way of an entry is replaced, and symbolic links already below root are replaced,
// never written through. It returns the number of files and links written and the bytes of
// the regular files.
func writeTree(root string, entries []*entry, link bool) (files int, bytes int64, err error) {
	if err := os.MkdirAll(root, 0o777); err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", root, err)
	}
	w := &writer{root: root, dirs: map[string]bool{".": true}}
	w.link.Store(link)
	w.clone.Store(true)
	var dirs, todo []*entry
	for _, e := range entries {
		if e.mode.IsDir() {
			if err := w.ensureDir(e.rel); err != nil {
				return 0, 0, err
			}
			dirs = append(dirs, e)
			continue
		}
		if err := w.ensureDir(path.Dir(e.rel)); err != nil {
			return 0, 0, err
		}
		todo = append(todo, e)
	}
	err = w.files(todo)
	// Directory modes last, deepest first, so that a read-only directory is filled first
	// (Go's module cache is read-only, and often cached). Those of the tree win.
	dirs = append(w.opened, dirs...)
	for i := len(dirs) - 1; i >= 0; i-- {
		e := dirs[i]
		if cerr := os.Chmod(w.host(e.rel), e.mode&modeBits); cerr != nil && err == nil {
			err = fmt.Errorf("chmod %s: %w", e.rel, cerr)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	return len(todo), w.bytes.Load(), nil
}

func (w *writer) host(rel string) string { return filepath.Join(w.root, filepath.FromSlash(rel)) }

// ensureDir makes rel a real directory, replacing a file or symbolic link in its way.
func (w *writer) ensureDir(rel string) error {
	if w.dirs[rel] {
		return nil
	}
	if err := w.ensureDir(path.Dir(rel)); err != nil {
		return err
	}
	h := w.host(rel)
	err := os.Mkdir(h, 0o777)
	if errors.Is(err, fs.ErrExist) {
		var fi fs.FileInfo
		switch fi, err = os.Lstat(h); {
		case err != nil:
		case !fi.IsDir():
			if err = os.Remove(h); err == nil {
				err = os.Mkdir(h, 0o777)
			}
		case fi.Mode()&0o300 != 0o300:
			if err = os.Chmod(h, fi.Mode()&modeBits|0o700); err == nil {
				w.opened = append(w.opened, &entry{rel: rel, mode: fi.Mode()})
			}
		}
	}
	if err != nil {
		return fmt.Errorf("create directory %s: %w", rel, err)
	}
	w.dirs[rel] = true
	return nil
}

// files writes regular files and symbolic links, on several goroutines when there are many.
func (w *writer) files(todo []*entry) error {
	n := min(max(runtime.GOMAXPROCS(0), 2), 8)
	if len(todo) < parallelMin {
		for _, e := range todo {
			if err := w.file(e); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
		errs   = make([]error, n)
	)
	for g := range n {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(chunk) - chunk)
				if i >= len(todo) {
					return
				}
				for _, e := range todo[i:min(i+chunk, len(todo))] {
					if err := w.file(e); err != nil {
						errs[g] = err
						failed.Store(true)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// file writes one regular file or symbolic link.
func (w *writer) file(e *entry) error {
	dst := w.host(e.rel)
	if e.mode&fs.ModeSymlink != 0 {
		err := os.Symlink(e.target, dst)
		if errors.Is(err, fs.ErrExist) {
			if err = removeAny(dst); err == nil {
				err = os.Symlink(e.target, dst)
			}
		}
		if err != nil {
			return fmt.Errorf("create link %s: %w", e.rel, err)
		}
		return nil
	}
	if w.link.Load() {
		err := w.hardLink(e, dst)
		if err == nil {
			w.bytes.Add(max(e.size, 0))
			return nil
		}
		if crossDevice(err) {
			w.link.Store(false)
		}
		// Any other failure (protected_hardlinks, too many links, a file that changed, …)
		// copies this one file.
	}
	n, err := copyFile(e, dst, &w.clone)
	if err != nil {
		return fmt.Errorf("copy %s: %w", e.rel, err)
	}
	w.bytes.Add(n)
	return nil
}

// errChanged: a build directory's file is no longer the one that was found.
var errChanged = errors.New("file changed while it was collected")

// hardLink links e's file at dst. A file of a build directory is linked by its host path and
// then checked to be the very file found beneath the build directory's root (same device and
// inode): if a directory on the way was replaced by a symbolic link meanwhile, what got linked
// is removed again and the file is copied through the root instead.
func (w *writer) hardLink(e *entry, dst string) error {
	src := e.host
	if e.from != nil {
		if e.sys == nil {
			return errChanged // no identity to check: copy through the root
		}
		src = filepath.Join(e.from.Name(), filepath.FromSlash(e.host))
	}
	err := os.Link(src, dst)
	if errors.Is(err, fs.ErrExist) {
		if err = removeAny(dst); err == nil {
			err = os.Link(src, dst)
		}
	}
	if err != nil || e.from == nil {
		return err
	}
	if fi, err := os.Lstat(dst); err != nil || !sameIdentity(identity(fi), e.sys) {
		os.Remove(dst)
		return errChanged
	}
	return nil
}

// copyFile copies a regular file, its mode and modification time, and returns its size. A
// small file (see cloneMin) is read and written. For a larger one, while clone is set, it makes
// a reflink (which shares the data until either file is written) and clears clone when the
// file system refuses; otherwise the kernel copies the bytes (copy_file_range on Linux, which
// os.File.ReadFrom uses) when it can. An entry whose size is unknown (-1) takes size, mode and
// time from the open file.
func copyFile(e *entry, dst string, clone *atomic.Bool) (n int64, err error) {
	var in *os.File
	if e.from != nil {
		in, err = openIn(e.from, e.host)
	} else {
		in, err = openSource(e.host)
	}
	if err != nil {
		return 0, err
	}
	defer in.Close()
	size, perm, mtime := e.size, e.mode&modeBits, e.mtime
	if size < 0 {
		fi, err := in.Stat()
		if err != nil {
			return 0, err
		}
		if !fi.Mode().IsRegular() {
			return 0, fmt.Errorf("%s: not a regular file", e.host)
		}
		size, perm, mtime = fi.Size(), fi.Mode()&modeBits, fi.ModTime()
	}
	out, err := createExcl(dst, perm)
	if errors.Is(err, fs.ErrExist) {
		// Never write into what is there: it may be a link to a stored file, or a symlink.
		if err = removeAny(dst); err == nil {
			out, err = createExcl(dst, perm)
		}
	}
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chtimes(dst, time.Time{}, mtime)
		}
	}()
	if size < cloneMin {
		buf := make([]byte, size)
		k, err := io.ReadFull(in, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) { // shrunk: copy what is left
			return 0, err
		}
		if k > 0 {
			if _, err := out.Write(buf[:k]); err != nil {
				return 0, err
			}
		}
		return int64(k), out.Chmod(perm)
	}
	if clone.Load() {
		err := cloneFile(out, in)
		if err == nil {
			return size, out.Chmod(perm)
		}
		if !cloneRefused(err) {
			return 0, fmt.Errorf("reflink: %w", err)
		}
		clone.Store(false) // nothing was written: copy this file and the rest
	}
	// The size is known: a limited reader lets the kernel copy it in one call.
	if n, err = out.ReadFrom(io.LimitReader(in, size)); err != nil {
		return n, err
	}
	// The umask applied at creation; set the mode exactly.
	return n, out.Chmod(perm)
}

// removeAny removes whatever is at p, a directory tree included.
func removeAny(p string) error {
	err := os.Remove(p)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return RemoveTree(p) // a directory with contents
}

// RemoveTree removes p and everything below it, as os.RemoveAll does (a symbolic link is
// removed, not what it points to), also when the tree has read-only directories (Go's module
// cache, or a job's doing): those are first made writable (0700), through an os.Root of p, so
// that a link put in place of a directory meanwhile cannot lead the chmod out of the tree.
func RemoveTree(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	if fi, lerr := os.Lstat(p); lerr != nil || !fi.IsDir() {
		return err // p itself could not be removed
	}
	r, rerr := os.OpenRoot(p)
	if rerr != nil {
		return err
	}
	defer r.Close()
	fs.WalkDir(r.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			r.Chmod(name, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// scanTree lists the tree under root (root itself excluded), parents first.
func scanTree(root string) ([]*entry, error) {
	var list []*entry
	err := filepath.WalkDir(root, func(h string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if h == root {
			if !d.IsDir() {
				return fmt.Errorf("%s: not a directory", root)
			}
			return nil
		}
		e := &entry{rel: below(root, h), host: h, mode: d.Type(), size: -1}
		switch {
		case e.mode.IsRegular():
			// copyFile takes size, mode and time from the open file: no lstat here.
		case e.mode.IsDir():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			e.mode = fi.Mode()
		case e.mode&fs.ModeSymlink != 0:
			var err error
			if e.target, err = os.Readlink(h); err != nil {
				return err
			}
		default:
			return nil // a store holds nothing else; skip what someone put there
		}
		list = append(list, e)
		return nil
	})
	return list, err
}

// regular returns f if it is a regular file, and closes it otherwise.
func regular(f *os.File) (*os.File, error) {
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", f.Name())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sameIdentity reports whether two identities are known and equal.
func sameIdentity(a, b any) bool { return a != nil && a == b }
