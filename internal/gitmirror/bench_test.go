package gitmirror

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// benchMirror mirrors a repository of n files (in directories of 50) as project 1.
func benchMirror(b *testing.B, n int) (*Mirrors, *source, string) {
	b.Helper()
	src := newSource(b)
	for i := range n {
		p := filepath.Join(src.dir, fmt.Sprintf("dir%03d", i/50), fmt.Sprintf("file%04d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("package x // %d\n", i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	src.git("add", ".")
	sha := src.commit("many", map[string]string{".gitlab-ci.yml": "include: ci/*.yml\njob: {script: x}\n"})
	m := newMirrors(b)
	mustSync(b, m, 1, src.dir)
	return m, src, sha
}

// BenchmarkSync: a Sync that finds nothing new in a local repository.
func BenchmarkSync(b *testing.B) {
	m, src, _ := benchMirror(b, 100)
	ctx := context.Background()
	for b.Loop() {
		if err := m.Sync(ctx, 1, src.dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	m, _, sha := benchMirror(b, 100)
	ctx := context.Background()
	for b.Loop() {
		if got, err := m.Resolve(ctx, 1, "main"); err != nil || got != sha {
			b.Fatal(got, err)
		}
	}
}

// BenchmarkFS: creating the FS of a commit and reading .gitlab-ci.yml from it, as planning
// does, for trees of 100 and 2000 files.
func BenchmarkFS(b *testing.B) {
	for _, n := range []int{100, 2000} {
		m, _, sha := benchMirror(b, n)
		ctx := context.Background()
		b.Run(fmt.Sprintf("create/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.FS(ctx, 1, sha); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("create+read/%d", n), func(b *testing.B) {
			for b.Loop() {
				fsys, err := m.FS(ctx, 1, sha)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := fs.ReadFile(fsys, ".gitlab-ci.yml"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGitStart is the floor of every call above: starting git to do nothing.
func BenchmarkGitStart(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := git(ctx, "", "--version"); err != nil {
			b.Fatal(err)
		}
	}
}
