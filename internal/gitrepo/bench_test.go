package gitrepo

import (
	"context"
	"testing"
)

// BenchmarkRead reads a small repository as a checkout usually is: a few commits, an annotated
// tag, an origin remote with its HEAD, on a feature branch.
func BenchmarkRead(b *testing.B) {
	r := newRepo(b)
	r.write("README.md", "hello\n")
	r.commit("Initial commit\n")
	r.write("main.go", "package main\n")
	r.commit("Add main\n")
	r.addOrigin()
	r.git("tag", "-a", "-m", "release", "v1.0.0")
	r.write("feature.go", "package main\n")
	r.git("checkout", "-q", "-b", "feature/x")
	r.commit("Add feature\n")
	ctx := context.Background()
	for b.Loop() {
		if _, err := Read(ctx, r.dir); err != nil {
			b.Fatal(err)
		}
	}
}
