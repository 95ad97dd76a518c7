package artifact

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

// benchFiles files of 1 KiB, in 100 directories, make the benchmark tree.
const benchFiles = 10_000

func benchTree(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	data := bytes.Repeat([]byte("x"), 1024)
	for i := range benchFiles {
		dir := filepath.Join(root, "dist", fmt.Sprintf("d%02d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", i%100)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

func reportFiles(b *testing.B) {
	b.ReportMetric(float64(b.N*benchFiles)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkCollect collects 10,000 files of 1 KiB, hard-linked (same file system).
func BenchmarkCollect(b *testing.B) {
	root := benchTree(b)
	store := b.TempDir()
	a := &pipeline.Artifacts{Paths: []string{"dist/"}}
	b.ResetTimer()
	for i := range b.N {
		rep, err := Collect(root, filepath.Join(store, strconv.Itoa(i)), a, nil, nil)
		if err != nil || rep.Files != benchFiles {
			b.Fatal(rep.Files, err)
		}
	}
	reportFiles(b)
}

// BenchmarkCollectCopy collects 10,000 files of 1 KiB by copying, as across file systems.
func BenchmarkCollectCopy(b *testing.B) {
	root := benchTree(b)
	store := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		c, err := newCollector(root)
		if err != nil {
			b.Fatal(err)
		}
		c.addPath("dist/")
		if n, _, err := writeTree(filepath.Join(store, strconv.Itoa(i)), c.sorted(), false); err != nil || n != benchFiles {
			b.Fatal(n, err)
		}
	}
	reportFiles(b)
}

// BenchmarkRestore restores 10,000 files of 1 KiB into an empty build directory.
func BenchmarkRestore(b *testing.B) {
	src := benchTree(b)
	dst := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		if err := Restore(src, filepath.Join(dst, strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	reportFiles(b)
}

// BenchmarkRestoreOverwrite restores 10,000 files of 1 KiB over the same files.
func BenchmarkRestoreOverwrite(b *testing.B) {
	src := benchTree(b)
	dst := b.TempDir()
	if err := Restore(src, dst); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := Restore(src, dst); err != nil {
			b.Fatal(err)
		}
	}
	reportFiles(b)
}
