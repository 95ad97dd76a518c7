package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// snapshot copies files (slash paths relative to root) into dir once per run, so every job
// starts from the work tree as it was when the run began, uncommitted changes included, and
// the user's tree is never touched by a job.
func snapshot(root, dir string, files []string) error {
	return parallel(files, func(f string) error {
		return copyFile(filepath.Join(root, filepath.FromSlash(f)), filepath.Join(dir, filepath.FromSlash(f)))
	})
}

// linkTree makes dst a fresh copy of src where every regular file is a hard link into src:
// preparing a job's build directory costs one link per file, not a copy. A job that rewrites
// a file replaces the link; one that appends to a source file in place changes it for the
// jobs of this run that start later (see docs/architecture.md).
func linkTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("clear build dir: %w", err)
	}
	var files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("link build dir: %w", err)
	}
	return parallel(files, func(rel string) error {
		s, t := filepath.Join(src, rel), filepath.Join(dst, rel)
		if err := os.Link(s, t); err != nil {
			return copyFile(s, t)
		}
		return nil
	})
}

// parallel runs f on every item with a few workers and returns the first error.
func parallel(items []string, f func(string) error) error {
	workers := min(len(items), 2*runtime.NumCPU())
	ch := make(chan string)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := f(it); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
	return first
}

// copyFile copies a file, a symlink (as a link) or skips what vanished since it was listed.
func copyFile(src, dst string) error {
	info, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(link, dst)
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
