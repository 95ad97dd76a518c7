package executortest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an output writer a test may read while Run writes to it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countWriter counts the bytes 'y' written and keeps the others.
type countWriter struct {
	mu   sync.Mutex
	ys   int64
	rest bytes.Buffer
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := bytes.Count(p, []byte{'y'})
	w.ys += int64(n)
	if n < len(p) {
		w.rest.Write(bytes.ReplaceAll(p, []byte{'y'}, nil))
	}
	return len(p), nil
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// lines returns out's lines with colours stripped.
func lines(out string) []string {
	out = strings.TrimSuffix(ansi.ReplaceAllString(out, ""), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func equal(a, b []string) bool               { return slices.Equal(a, b) }
func contains(lines []string, s string) bool { return slices.Contains(lines, s) }

// after returns the line following the first line equal to s.
func after(lines []string, s string) string {
	if i := slices.Index(lines, s); i >= 0 && i+1 < len(lines) {
		return lines[i+1]
	}
	return ""
}

// poll calls cond until it holds or d has passed, and reports whether it held.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// samePath reports whether a and b name the same path, through symbolic links on the host.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}
