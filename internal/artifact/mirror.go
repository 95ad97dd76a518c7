package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Mirror makes dst a fresh copy of the tree under src (regular files with their modes and
// times, symbolic links as links, never followed, directories empty ones included). Every
// file is a copy of its own, never a hard link, so writing one in place (`>>`, `chmod`, a
// hard link made to it) leaves src alone: a build directory prepared from a run's snapshot
// costs a copy of each file (a reflink for large ones where the file system has them, see
// copyFile).
func Mirror(src, dst string) error {
	entries, err := scanTree(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := RemoveTree(dst); err != nil {
		return fmt.Errorf("clear %s: %w", dst, err)
	}
	if _, _, err := writeTree(dst, entries, false); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// CopyFiles copies the listed files (slash paths relative to root; symbolic links as links)
// into dst, keeping their paths. A listed file that no longer exists is skipped.
func CopyFiles(root, dst string, files []string) error {
	files = slices.Sorted(slices.Values(files))
	entries := make([]*entry, 0, len(files))
	for _, rel := range files {
		host := filepath.Join(root, filepath.FromSlash(rel))
		fi, err := os.Lstat(host)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		e := &entry{rel: rel, host: host, mode: fi.Mode(), size: -1}
		switch {
		case fi.Mode().IsRegular():
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.target, err = os.Readlink(host); err != nil {
				return err
			}
		default:
			continue
		}
		entries = append(entries, e)
	}
	if _, _, err := writeTree(dst, entries, false); err != nil {
		return fmt.Errorf("copy into %s: %w", dst, err)
	}
	return nil
}
