package runner

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/slipway/slipway/internal/artifact"
)

// writeArchive writes the tree at dir as a tar.gz to w: directories, regular files and
// symbolic links (kept as links), paths relative to dir with slashes, modes and times kept.
func writeArchive(w io.Writer, dir string) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices: not archived
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, io.LimitReader(f, info.Size()))
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	return nil
}

// errTooManyEntries: an archive unpacks to more entries than max_archive_entries.
var errTooManyEntries = errors.New("archive too large")

// extractArchive unpacks a tar.gz from r into dir (created if needed; meant to be empty),
// writing at most max bytes of files and entries entries: each entry of the archive counts,
// and each directory its names imply that did not exist (a million empty files, or names a
// thousand directories deep, use up inodes, not bytes). Every write goes through an os.Root of
// dir: an entry named with "..", an absolute name, or a name through a symbolic link the
// archive made that leaves dir is refused, as is an archive over max (artifact.ErrTooLarge:
// the caller names the setting, see tooLarge) or entries (errTooManyEntries). An entry
// replaces what an earlier one put at its name, and is never
// written through a link. Hard links, devices and FIFOs are skipped: artifacts and caches
// hold none.
func extractArchive(r io.Reader, dir string, max int64, entries int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("extract archive: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract archive: %w", err)
	}
	defer root.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("extract archive: %w", err)
	}
	tr := tar.NewReader(gz)
	b := &budget{bytes: max, maxBytes: max, entries: entries, maxEntries: entries}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract archive: %w", err)
		}
		if err := b.entry(); err != nil {
			return fmt.Errorf("extract archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name == "." {
			continue
		}
		if !fs.ValidPath(name) {
			return fmt.Errorf("extract archive: entry %q: path outside the archive", hdr.Name)
		}
		if err := extractEntry(root, tr, hdr, filepath.FromSlash(name), b); err != nil {
			return fmt.Errorf("extract archive: %s: %w", name, err)
		}
	}
}

// budget is what an archive may still unpack to (bytes, entries), and its limits.
type budget struct {
	bytes, maxBytes     int64
	entries, maxEntries int
}

// entry takes an entry of b.
func (b *budget) entry() error {
	if b.entries <= 0 {
		return fmt.Errorf("more than the limit of %d entries (the runner's max_archive_entries): %w", b.maxEntries, errTooManyEntries)
	}
	b.entries--
	return nil
}

// extractEntry writes one entry at local, taking its size and the directories it makes from
// b.
func extractEntry(root *os.Root, tr *tar.Reader, hdr *tar.Header, local string, b *budget) error {
	if err := mkdirs(root, filepath.Dir(local), b); err != nil {
		return err
	}
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := root.Lstat(local); err == nil && !fi.IsDir() {
			if err := root.Remove(local); err != nil {
				return err
			}
		}
		if err := root.Mkdir(local, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return root.Chmod(local, mode|0o700)
	case tar.TypeReg:
		if hdr.Size > b.bytes {
			return fmt.Errorf("more than the limit of %d bytes: %w", b.maxBytes, artifact.ErrTooLarge)
		}
		if err := removeEntry(root, local); err != nil {
			return err
		}
		f, err := root.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, io.LimitReader(tr, hdr.Size))
		b.bytes -= n
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		_ = root.Chtimes(local, hdr.ModTime, hdr.ModTime)
	case tar.TypeSymlink:
		if err := removeEntry(root, local); err != nil {
			return err
		}
		return root.Symlink(hdr.Linkname, local)
	}
	return nil
}

// mkdirs makes the directories of the path rel that do not exist, from the top, each taking
// an entry of b.
func mkdirs(root *os.Root, rel string, b *budget) error {
	if rel == "." {
		return nil
	}
	for i := 1; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != filepath.Separator {
			continue
		}
		err := root.Mkdir(rel[:i], 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := b.entry(); err != nil {
			return err
		}
	}
	return nil
}

// removeEntry removes a file or link at local, if any; a directory there is an error.
func removeEntry(root *os.Root, local string) error {
	err := root.Remove(local)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
