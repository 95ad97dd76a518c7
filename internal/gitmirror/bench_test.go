package gitmirror

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

// benchMirror mirrors a repository of n files (in directories of 50) as project 1.
func benchMirror(b testing.TB, n int) (*Mirrors, *source, string) {
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

// BenchmarkLoadPipeline: what planning from a mirror costs before plan.Compile: the FS of the
// commit, then pipeline.Load of a .gitlab-ci.yml that includes two files by a glob.
func BenchmarkLoadPipeline(b *testing.B) {
	src := newSource(b)
	sha := src.commit("ci", map[string]string{
		".gitlab-ci.yml": "include: 'ci/*.yml'\nstages: [build, test]\n",
		"ci/build.yml":   "build: {stage: build, script: make}\n",
		"ci/test.yml":    "test: {stage: test, script: make test, needs: [build]}\n",
		"main.go":        "package main\n",
	})
	m := newMirrors(b)
	mustSync(b, m, 1, src.dir)
	ctx := context.Background()
	for b.Loop() {
		fsys, err := m.FS(ctx, 1, sha)
		if err != nil {
			b.Fatal(err)
		}
		cfg, err := pipeline.Load(ctx, pipeline.Options{FS: fsys})
		if err != nil || len(cfg.Jobs) != 2 {
			b.Fatal(cfg, err)
		}
	}
}
