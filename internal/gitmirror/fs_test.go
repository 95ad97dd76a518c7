package gitmirror

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
)

func TestFS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource(t)
	first := src.commit("files", map[string]string{
		".gitlab-ci.yml":      "include: ci/*.yml\n",
		"ci/build.yml":        "build: {script: make}\n",
		"ci/deep/nested.yaml": "x: 1\n",
		"README":              "hi\n",
	})
	// A link to a file, a link to a directory and a dangling one.
	for link, target := range map[string]string{"link.yml": "ci/build.yml", "cilink": "ci", "dangling": "nowhere", "escape": "../../etc/passwd"} {
		if err := os.Symlink(target, filepath.Join(src.dir, link)); err != nil {
			t.Fatal(err)
		}
		src.git("add", link)
	}
	sha := src.commit("links", nil)
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	fsys, err := m.FS(ctx, 1, sha)
	if err != nil {
		t.Fatal(err)
	}

	// fstest wants every listed file to open, which a dangling link does not (as with os.DirFS):
	// check the commit before the links.
	if _, err := m.FS(ctx, 1, sha+"~1"); err == nil {
		t.Fatal("FS accepted revision syntax")
	}
	plain, err := m.FS(ctx, 1, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(plain, ".gitlab-ci.yml", "ci/build.yml", "ci/deep/nested.yaml", "README"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"ci/deep/nested.yaml": "x: 1\n", "link.yml": "build: {script: make}\n", "cilink/deep/nested.yaml": "x: 1\n",
	} {
		got, err := fs.ReadFile(fsys, name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"missing.yml", "ci/missing", "README/x", "dangling", "escape", "cilink/nope"} {
		if _, err := fs.ReadFile(fsys, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%q) = %v; want fs.ErrNotExist", name, err)
		}
		if _, err := fs.Stat(fsys, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v; want fs.ErrNotExist", name, err)
		}
	}
	if _, err := fs.ReadFile(fsys, "../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadFile(../x) = %v; want fs.ErrInvalid", err)
	}

	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{".gitlab-ci.yml", "README", "ci", "cilink", "dangling", "escape", "link.yml"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir(.) = %q; want %q", names, want)
	}
	if entries[3].Type() != fs.ModeSymlink {
		t.Errorf("cilink's type %v; want a symbolic link", entries[3].Type())
	}
	fi, err := fs.Stat(fsys, "ci/build.yml")
	if err != nil || fi.Size() != int64(len("build: {script: make}\n")) || fi.IsDir() || fi.Name() != "build.yml" {
		t.Errorf("Stat(ci/build.yml) = %v, %v", fi, err)
	}
	if fi, err := fs.Stat(fsys, "ci/deep"); err != nil || !fi.IsDir() {
		t.Errorf("Stat(ci/deep) = %v, %v", fi, err)
	}
	var walked []string
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			walked = append(walked, p)
		}
		return err
	})
	if want := []string{".gitlab-ci.yml", "README", "ci/build.yml", "ci/deep/nested.yaml", "cilink", "dangling", "escape", "link.yml"}; !slices.Equal(walked, want) {
		t.Errorf("WalkDir = %q; want %q", walked, want)
	}

	if _, err := m.FS(ctx, 1, "nope"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("FS(nope) = %v; want ErrUnknownRevision", err)
	}
}

// TestFSReadsLazily: contents are read when asked for, once, and reading needs ctx alive.
func TestFSReadsLazily(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	sha := src.commit("files", map[string]string{"a.yml": "a\n", "b.yml": "b\n"})
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	ctx, cancel := context.WithCancel(context.Background())
	fsys, err := m.FS(ctx, 1, sha)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("a.yml")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	cancel()
	if again, err := fs.ReadFile(fsys, "a.yml"); err != nil || string(again) != string(data) {
		t.Errorf("a cached file after ctx ended: %q, %v", again, err)
	}
	if _, err := fs.ReadFile(fsys, "b.yml"); err == nil {
		t.Error("a file not read yet was read after ctx ended")
	}
}
