package artifact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// project is the build directory most Collect tests start from.
var project = map[string]string{
	"README.md":          "readme",
	"main.go":            "package main",
	"dist/app.js":        "js",
	"dist/app.css":       "css",
	"dist/tmp/cache.bin": "cache",
	"dist/tmp/deep/x":    "x",
	"build/a.bin":        "a",
	"build/b.txt":        "b",
	"build/sub/c.bin":    "c",
	"docs/a.txt":         "doc a",
	"docs/sub/b.txt":     "doc b",
	".hidden/h.txt":      "hidden",
	"empty/":             "",
	"link":               "-> dist/app.js",
	"escape":             "-> ../outside",
}

func TestCollect(t *testing.T) {
	t.Parallel()
	dist := map[string]string{
		"dist/": "", "dist/app.js": "js", "dist/app.css": "css",
		"dist/tmp/": "", "dist/tmp/cache.bin": "cache", "dist/tmp/deep/": "", "dist/tmp/deep/x": "x",
	}
	tests := []struct {
		name      string
		a         pipeline.Artifacts
		vars      map[string]string
		untracked []string
		want      map[string]string
		warnings  []string // substrings, in order
	}{
		{
			name: "double star",
			a:    pipeline.Artifacts{Paths: []string{"**/*.txt"}},
			want: map[string]string{
				"build/": "", "build/b.txt": "b", "docs/": "", "docs/a.txt": "doc a",
				"docs/sub/": "", "docs/sub/b.txt": "doc b", ".hidden/": "", ".hidden/h.txt": "hidden",
			},
		},
		{
			name: "directory is recursive",
			a:    pipeline.Artifacts{Paths: []string{"dist/"}},
			want: dist,
		},
		{
			name: "directory without slash",
			a:    pipeline.Artifacts{Paths: []string{"./dist"}},
			want: dist,
		},
		{
			name: "star is one level",
			a:    pipeline.Artifacts{Paths: []string{"build/*.bin"}},
			want: map[string]string{"build/": "", "build/a.bin": "a"},
		},
		{
			name: "star matching a directory takes it whole",
			a:    pipeline.Artifacts{Paths: []string{"build/*"}},
			want: map[string]string{
				"build/": "", "build/a.bin": "a", "build/b.txt": "b", "build/sub/": "", "build/sub/c.bin": "c",
			},
		},
		{
			name: "question mark and alternatives",
			a:    pipeline.Artifacts{Paths: []string{"docs/?.txt", "{README.md,main.go}"}},
			want: map[string]string{"docs/": "", "docs/a.txt": "doc a", "README.md": "readme", "main.go": "package main"},
		},
		{
			name: "exclude a subtree with /**",
			a:    pipeline.Artifacts{Paths: []string{"dist/"}, Exclude: []string{"dist/tmp/**"}},
			want: map[string]string{"dist/": "", "dist/app.js": "js", "dist/app.css": "css"},
		},
		{
			name: "exclude is not recursive",
			a:    pipeline.Artifacts{Paths: []string{"dist/"}, Exclude: []string{"dist/tmp"}},
			want: map[string]string{
				"dist/": "", "dist/app.js": "js", "dist/app.css": "css",
				"dist/tmp/": "", "dist/tmp/cache.bin": "cache", "dist/tmp/deep/": "", "dist/tmp/deep/x": "x",
			},
		},
		{
			name: "exclude glob",
			a:    pipeline.Artifacts{Paths: []string{"dist/"}, Exclude: []string{"**/*.css", "./dist/tmp/deep/*"}},
			want: map[string]string{
				"dist/": "", "dist/app.js": "js", "dist/tmp/": "", "dist/tmp/cache.bin": "cache", "dist/tmp/deep/": "",
			},
		},
		{
			name: "everything excluded matches nothing",
			a:    pipeline.Artifacts{Paths: []string{"build/*.bin"}, Exclude: []string{"**/*.bin"}},
			want: map[string]string{},
			warnings: []string{
				"build/*.bin: no matching files",
			},
		},
		{
			name: "variables",
			a:    pipeline.Artifacts{Paths: []string{"$OUT/app.js", "${OUT}/tmp/deep/", "$UNSET/README.md"}, Exclude: []string{"$OUT/tmp/deep/x"}},
			vars: map[string]string{"OUT": "dist"},
			want: map[string]string{
				"dist/": "", "dist/app.js": "js", "dist/tmp/": "", "dist/tmp/deep/": "",
			},
			warnings: []string{"/README.md: not supported: outside build directory"},
		},
		{
			name: "absolute path inside the build directory",
			a:    pipeline.Artifacts{Paths: []string{"$ROOT/README.md", "$ROOT/docs/*.txt"}},
			want: map[string]string{"README.md": "readme", "docs/": "", "docs/a.txt": "doc a"},
		},
		{
			name: "untracked",
			a:    pipeline.Artifacts{Untracked: true, Exclude: []string{"docs/**"}},
			untracked: []string{
				"main.go", "docs/a.txt", "build/sub",
			},
			want: map[string]string{"main.go": "package main", "build/": "", "build/sub/": "", "build/sub/c.bin": "c"},
		},
		{
			name:      "untracked ignored unless asked",
			a:         pipeline.Artifacts{Paths: []string{"README.md"}},
			untracked: []string{"main.go"},
			want:      map[string]string{"README.md": "readme"},
		},
		{
			name:     "untracked without files",
			a:        pipeline.Artifacts{Untracked: true},
			want:     map[string]string{},
			warnings: []string{"untracked: no files"},
		},
		{
			name: "outside the build directory",
			a:    pipeline.Artifacts{Paths: []string{"../outside/secret", "/etc/passwd", "docs/../../outside/", "../*"}},
			want: map[string]string{},
			warnings: []string{
				"../outside/secret: not supported: outside build directory",
				"/etc/passwd: not supported",
				"docs/../../outside/: not supported",
				"../*: not supported",
			},
		},
		{
			name: "through a symbolic link that leaves",
			a:    pipeline.Artifacts{Paths: []string{"escape/secret", "escape/*"}},
			want: map[string]string{},
			warnings: []string{
				"escape/secret: not supported: outside build directory (through a symbolic link)",
				"escape/*: not supported: outside build directory (through a symbolic link)",
			},
		},
		{
			name: "symbolic links are kept as links",
			a:    pipeline.Artifacts{Paths: []string{"link", "escape"}},
			want: map[string]string{"link": "-> dist/app.js", "escape": "-> ../outside"},
		},
		{
			name: "empty directory",
			a:    pipeline.Artifacts{Paths: []string{"empty"}},
			want: map[string]string{"empty/": ""},
		},
		{
			name:     "no match",
			a:        pipeline.Artifacts{Paths: []string{"nothing/", "*.none"}},
			want:     map[string]string{},
			warnings: []string{"nothing/: no matching files", "*.none: no matching files"},
		},
		{
			name: "an empty path is the whole build directory, as on GitLab",
			a:    pipeline.Artifacts{Paths: []string{"$UNSET"}, Exclude: []string{"dist/**", "build/**", "docs/**", ".hidden/**", "empty", "escape", "link"}},
			want: map[string]string{"README.md": "readme", "main.go": "package main"},
		},
		{
			name: "same file twice",
			a:    pipeline.Artifacts{Paths: []string{"README.md", "*.md", "README.md"}},
			want: map[string]string{"README.md": "readme"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			root := filepath.Join(base, "build")
			mkTree(t, root, project)
			mkTree(t, base, map[string]string{"outside/secret": "secret"})
			dst := filepath.Join(base, "store", "artifacts")
			vars := map[string]string{"ROOT": root}
			for k, v := range tt.vars {
				vars[k] = v
			}
			rep, err := Collect(root, dst, &tt.a, lookup(vars), tt.untracked)
			if err != nil {
				t.Fatal(err)
			}
			got := listTree(t, dst)
			diffTrees(t, got, tt.want)
			files := 0
			for k := range tt.want {
				if !strings.HasSuffix(k, "/") {
					files++
				}
			}
			if rep.Files != files {
				t.Errorf("Files = %d, want %d", rep.Files, files)
			}
			if len(rep.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings = %q, want %q", rep.Warnings, tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(rep.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, rep.Warnings[i], w)
				}
			}
		})
	}
}

func TestCollectModesLinksAndBytes(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{"bin/tool": "#!/bin/sh\n", "bin/secret": "s", "bin/data": "12345"})
	if err := os.Chmod(filepath.Join(root, "bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "bin/secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "bin"), 0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "bin/data"), old, old); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(base, "store")
	rep, err := Collect(root, dst, &pipeline.Artifacts{Paths: []string{"bin"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 3 || rep.Bytes != int64(len("#!/bin/sh\n")+1+5) || len(rep.Warnings) != 0 {
		t.Errorf("report = %+v", rep)
	}
	for name, want := range map[string]os.FileMode{"bin/tool": 0o755, "bin/secret": 0o600, "bin": os.ModeDir | 0o750} {
		if got := mode(t, filepath.Join(dst, name)); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
	// Same file system: hard links.
	a, _ := os.Stat(filepath.Join(root, "bin/data"))
	b, _ := os.Stat(filepath.Join(dst, "bin/data"))
	if !os.SameFile(a, b) {
		t.Errorf("bin/data was copied, want a hard link")
	}

	// And the copy fallback, as across file systems, keeps modes and times too.
	c, err := newCollector(root)
	if err != nil {
		t.Fatal(err)
	}
	c.addPath("bin")
	copyDst := filepath.Join(base, "copy")
	if _, _, err := writeTree(copyDst, c.sorted(), false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"bin/tool": 0o755, "bin/secret": 0o600, "bin": os.ModeDir | 0o750} {
		if got := mode(t, filepath.Join(copyDst, name)); got != want {
			t.Errorf("copy: mode of %s = %v, want %v", name, got, want)
		}
	}
	fi, err := os.Stat(filepath.Join(copyDst, "bin/data"))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(a, fi) || !fi.ModTime().Equal(old) {
		t.Errorf("copy of bin/data: same file %v, mtime %v, want a copy from %v", os.SameFile(a, fi), fi.ModTime(), old)
	}
}

func TestCollectIntoBuildDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mkTree(t, root, map[string]string{"a.txt": "a", "sub/b.txt": "b"})
	dst := filepath.Join(root, ".slipway", "artifacts")
	rep, err := Collect(root, dst, &pipeline.Artifacts{Paths: []string{"**"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 2 {
		t.Errorf("Files = %d, want 2 (the destination must not collect itself)", rep.Files)
	}
	if _, err := os.Lstat(filepath.Join(dst, ".slipway")); err == nil {
		t.Errorf("the destination was collected into itself")
	}
}

func TestCollectMissingBuildDir(t *testing.T) {
	t.Parallel()
	_, err := Collect(filepath.Join(t.TempDir(), "nope"), t.TempDir(), &pipeline.Artifacts{Paths: []string{"x"}}, nil, nil)
	if err == nil {
		t.Fatal("Collect of a missing build directory succeeded")
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	store := filepath.Join(base, "store")
	mkTree(t, store, map[string]string{
		"dist/app.js":   "new js",
		"dist/tmp/x":    "x",
		"docs/a.txt":    "doc",
		"link":          "-> dist/app.js",
		"bin/tool":      "tool",
		"replaced/file": "f",
	})
	if err := os.Chmod(filepath.Join(store, "bin/tool"), 0o751); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(store, "docs/a.txt"), old, old); err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{
		"dist/app.js":   "old js, longer than the new one",
		"dist/tmp":      "a file where the artifact has a directory",
		"docs":          "-> ../elsewhere", // a link where the artifact has a directory
		"link":          "stale file",
		"replaced/":     "",
		"keep.txt":      "untouched",
		"../elsewhere/": "",
	})
	// A file of the build dir that is a hard link to a stored file must not be written into.
	if err := os.Link(filepath.Join(store, "replaced/file"), filepath.Join(root, "replaced/file")); err != nil {
		t.Fatal(err)
	}

	if err := Restore(store, root); err != nil {
		t.Fatal(err)
	}
	diffTrees(t, listTree(t, root), map[string]string{
		"dist/": "", "dist/app.js": "new js", "dist/tmp/": "", "dist/tmp/x": "x",
		"docs/": "", "docs/a.txt": "doc", "link": "-> dist/app.js",
		"bin/": "", "bin/tool": "tool", "replaced/": "", "replaced/file": "f", "keep.txt": "untouched",
	})
	if entries, _ := os.ReadDir(filepath.Join(base, "elsewhere")); len(entries) != 0 {
		t.Errorf("Restore wrote through a symbolic link: %v", entries)
	}
	if got := mode(t, filepath.Join(root, "bin/tool")); got != 0o751 {
		t.Errorf("mode = %v, want 0751", got)
	}
	if fi, _ := os.Stat(filepath.Join(root, "docs/a.txt")); !fi.ModTime().Equal(old) {
		t.Errorf("mtime = %v, want %v", fi.ModTime(), old)
	}

	// Restored files are copies: changing one in place leaves the store alone.
	if err := os.WriteFile(filepath.Join(root, "dist/app.js"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "replaced/file"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"dist/app.js": "new js", "replaced/file": "f"} {
		if b, _ := os.ReadFile(filepath.Join(store, name)); string(b) != want {
			t.Errorf("store %s = %q after the job changed its copy, want %q", name, b, want)
		}
	}

	// Restoring twice is fine.
	if err := Restore(store, root); err != nil {
		t.Fatal(err)
	}
	if err := Restore(filepath.Join(base, "missing"), root); err == nil {
		t.Error("Restore from a missing tree succeeded")
	}
}

func TestCollectRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, project)
	store := filepath.Join(base, "store")
	if _, err := Collect(root, store, &pipeline.Artifacts{Paths: []string{"dist", "docs", "link", "empty"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(base, "next")
	if err := Restore(store, next); err != nil {
		t.Fatal(err)
	}
	diffTrees(t, listTree(t, next), listTree(t, store))
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"dist/**", "dist", true},
		{"dist/**", "dist/a", true},
		{"dist/**", "dist/a/b/c", true},
		{"dist/**", "distx/a", false},
		{"**", "a/b", true},
		{"dist/*", "dist/a/b", false},
		{"**/*.txt", "a.txt", true},
		{"**/*.txt", "a/b/c.txt", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"*.txt", ".hidden.txt", true},
		{`a/\**`, "a/*x", true},
		{`a/\**`, "a/b/c", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			if got := match(tt.pattern, tt.path); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
			}
		})
	}
}
