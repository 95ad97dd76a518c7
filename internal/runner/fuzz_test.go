package runner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtractArchive unpacks arbitrary tar streams (gzipped here): whatever the entries, nothing
// may be written outside the directory, and no more than the limit.
func FuzzExtractArchive(f *testing.F) {
	raw := func(entries ...tarEntry) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, e := range entries {
			h := e.hdr
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(e.body))
			}
			tw.WriteHeader(&h)
			tw.Write([]byte(e.body))
		}
		tw.Close()
		return b.Bytes()
	}
	reg := func(name, body string) tarEntry {
		return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body: body}
	}
	link := func(name, target string, typ byte) tarEntry {
		return tarEntry{hdr: tar.Header{Name: name, Typeflag: typ, Linkname: target, Mode: 0o777}}
	}
	f.Add(raw(reg("a/b.txt", "hello"), reg("c", "x")))
	f.Add(raw(reg("../evil", "x")))
	f.Add(raw(link("l", "..", tar.TypeSymlink), reg("l/evil", "x")))
	f.Add(raw(link("l", "/", tar.TypeSymlink), reg("l/tmp/evil", "x")))
	f.Add(raw(link("f", "../evil", tar.TypeSymlink), reg("f", "x")))
	f.Add(raw(link("h", "../evil", tar.TypeLink), reg("d/", ""), reg("d", "x")))
	f.Add(raw(tarEntry{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o000}}, reg("d/x", "y")))
	f.Add(raw(reg("big", strings.Repeat("z", 3000))))
	f.Fuzz(func(t *testing.T, data []byte) {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(data)
		w.Close()
		base := t.TempDir()
		dir := filepath.Join(base, "in", "dir")
		_ = extractArchive(&gz, dir, 2048, 64)
		var size int64
		entries := -2 // base and base/in are none of the archive's
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			entries++
			if err != nil {
				return nil
			}
			if p != base && p != filepath.Join(base, "in") && !strings.HasPrefix(p, dir) {
				t.Fatalf("%s was written outside %s", p, dir)
			}
			if d.IsDir() {
				os.Chmod(p, 0o700) // so that the test's cleanup can remove it
			} else if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
				size += fi.Size()
			}
			return nil
		})
		if size > 2048 {
			t.Fatalf("%d bytes extracted, over the limit of 2048", size)
		}
		if entries > 64+1 { // dir itself, made before the first entry
			t.Fatalf("%d entries extracted, over the limit of 64", entries)
		}
	})
}
