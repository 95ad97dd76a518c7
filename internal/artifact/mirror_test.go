package artifact

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMirrorCopiesOfTheirOwn: Mirror keeps contents, modes, times, symbolic links (as links,
// never followed, wherever they point) and empty directories, replaces what dst held, and
// gives every file an inode of its own, so that writing it in place leaves src alone.
func TestMirrorCopiesOfTheirOwn(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst, outside := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16+1) // 1 MiB and 16 bytes: past a block
	mkTree(t, src, map[string]string{
		"a.txt":          "a\n",
		"empty.txt":      "",
		"bin/run.sh":     "#!/bin/sh\n",
		"deep/er/x.txt":  "x\n",
		"empty/":         "",
		"link":           "-> a.txt",
		"deep/up":        "-> ../a.txt",
		"escape":         "-> ../outside",
		"absolute":       "-> " + outside,
		"dangling":       "-> nowhere",
		"deep/er/dirlnk": "-> ../../bin",
	})
	if err := os.WriteFile(filepath.Join(src, "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "a.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	mkTree(t, dst, map[string]string{"stale.txt": "from before\n", "link/": ""})

	if err := Mirror(src, dst); err != nil {
		t.Fatal(err)
	}
	want := listTree(t, src)
	diffTrees(t, listTree(t, dst), want)
	for rel := range want {
		s, d := filepath.Join(src, rel), filepath.Join(dst, rel)
		if ms, md := mode(t, s), mode(t, d); ms != md {
			t.Errorf("%s: mode %v, want %v", rel, md, ms)
		}
		si, _ := os.Lstat(s)
		di, _ := os.Lstat(d)
		if si.Mode().IsRegular() && os.SameFile(si, di) {
			t.Errorf("%s: the same file as the source (a hard link)", rel)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dst, "a.txt")); !fi.ModTime().Equal(old) {
		t.Errorf("a.txt: modified %v, want %v", fi.ModTime(), old)
	}

	// In-place writes to the copy: append, truncate, chmod, through a link of the tree.
	f, err := os.OpenFile(filepath.Join(dst, "big.bin"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more")
	f.Close()
	if err := os.WriteFile(filepath.Join(dst, "link"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dst, "bin/run.sh"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "big.bin")); !bytes.Equal(b, big) {
		t.Errorf("big.bin of src changed: %d bytes", len(b))
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "a\n" {
		t.Errorf("a.txt of src changed: %q", b)
	}
	if m := mode(t, filepath.Join(src, "bin/run.sh")); m != 0o755 {
		t.Errorf("run.sh of src: mode %v", m)
	}
	if b, _ := os.ReadFile(outside); string(b) != "host file\n" {
		t.Errorf("the file outside changed: %q", b)
	}

	// Again over a copy that was written: the same tree as src.
	if err := Mirror(src, dst); err != nil {
		t.Fatal(err)
	}
	diffTrees(t, listTree(t, dst), want)
}
