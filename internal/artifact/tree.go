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
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// modeBits are the mode bits a tree keeps: permissions plus setuid, setgid and sticky.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// parallelMin is the number of files from which writeTree uses several goroutines.
const parallelMin = 64

// writer writes entries below root.
type writer struct {
	root string
	// link is set while hard links are worth trying (cleared on the first EXDEV).
	link atomic.Bool
	// dirs are the relative directories known to be real directories (not links) under root.
	dirs map[string]bool
}

// writeTree writes entries (sorted, parents first) below root, creating it. Regular files are
// hard-linked when link is set and the file system allows it, and copied otherwise; whatever
// is in the way of an entry is replaced, and symbolic links already below root are replaced,
// never written through. It returns the number of files and links written and the bytes of
// the regular files.
func writeTree(root string, entries []*entry, link bool) (files int, bytes int64, err error) {
	if err := os.MkdirAll(root, 0o777); err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", root, err)
	}
	w := &writer{root: root, dirs: map[string]bool{".": true}}
	w.link.Store(link)
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
		if e.mode.IsRegular() {
			bytes += e.size
		}
	}
	if err := w.files(todo); err != nil {
		return 0, 0, err
	}
	// Directory modes last, deepest first, so that a read-only directory is filled first.
	for i := len(dirs) - 1; i >= 0; i-- {
		e := dirs[i]
		if err := os.Chmod(w.host(e.rel), e.mode&modeBits); err != nil {
			return 0, 0, fmt.Errorf("chmod %s: %w", e.rel, err)
		}
	}
	return len(todo), bytes, nil
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
		if fi, err = os.Lstat(h); err == nil && !fi.IsDir() {
			if err = os.Remove(h); err == nil {
				err = os.Mkdir(h, 0o777)
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
	n := min(runtime.GOMAXPROCS(0)*2, 16)
	if v, err := strconv.Atoi(os.Getenv("ART_WORKERS")); err == nil {
		n = v
	}
	if len(todo) < parallelMin || n < 2 {
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
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				if err := w.file(todo[i]); err != nil {
					errs[g] = err
					failed.Store(true)
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
		err := os.Link(e.host, dst)
		if errors.Is(err, fs.ErrExist) {
			if err = removeAny(dst); err == nil {
				err = os.Link(e.host, dst)
			}
		}
		if err == nil {
			return nil
		}
		if crossDevice(err) {
			w.link.Store(false)
		}
		// Any other failure (protected_hardlinks, too many links, …) copies this one file.
	}
	if err := copyFile(e, dst); err != nil {
		return fmt.Errorf("copy %s: %w", e.rel, err)
	}
	return nil
}

// copyFile copies a regular file, its mode and modification time. The kernel copies the
// bytes (copy_file_range on Linux, which os.File.ReadFrom uses) when it can.
func copyFile(e *entry, dst string) (err error) {
	in, err := os.Open(e.host)
	if err != nil {
		return err
	}
	defer in.Close()
	perm := e.mode & modeBits
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
	if errors.Is(err, fs.ErrExist) {
		// Never write into what is there: it may be a link to a stored file, or a symlink.
		if err = removeAny(dst); err == nil {
			out, err = os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
		}
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chtimes(dst, time.Time{}, e.mtime)
		}
	}()
	// The size is known: a limited reader lets the kernel copy it in one call.
	if _, err = out.ReadFrom(io.LimitReader(in, e.size)); err != nil {
		return err
	}
	// The umask applied at creation; set the mode exactly.
	return out.Chmod(perm)
}

// removeAny removes whatever is at p, a directory tree included.
func removeAny(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if fi.IsDir() {
		return os.RemoveAll(p)
	}
	return os.Remove(p)
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
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := &entry{rel: below(root, h), host: h, mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
		switch {
		case e.mode.IsRegular(), e.mode.IsDir():
		case e.mode&fs.ModeSymlink != 0:
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
