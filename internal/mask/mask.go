// Package mask hides secret values in streamed output: every occurrence of a masked
// variable's value becomes [MASKED], even when the value is split across writes. It knows
// nothing of variables or jobs.
package mask

import (
	"bytes"
	"io"
	"sort"
)

// Replacement is what a secret becomes.
const Replacement = "[MASKED]"

// Writer masks secrets in what is written to it before passing it on. It holds back at most
// the longest secret's length minus one byte, in case a secret continues in the next write;
// Flush writes what it holds. It is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	secrets [][]byte
	longest int
	pending []byte
}

// NewWriter returns a Writer that masks secrets (empty ones are ignored) on its way to w.
func NewWriter(w io.Writer, secrets []string) *Writer {
	mw := &Writer{w: w}
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		mw.secrets = append(mw.secrets, []byte(s))
		mw.longest = max(mw.longest, len(s))
	}
	// Longer secrets first, so a secret containing another is masked whole.
	sort.Slice(mw.secrets, func(i, j int) bool { return len(mw.secrets[i]) > len(mw.secrets[j]) })
	return mw
}

// Write masks p (with what was held back) and writes all it can be sure of. It reports
// len(p) written unless the underlying writer fails.
func (m *Writer) Write(p []byte) (int, error) {
	if len(m.secrets) == 0 {
		return m.w.Write(p)
	}
	buf := p
	if len(m.pending) > 0 {
		buf = append(m.pending, p...)
	}
	var out []byte // nil while nothing was masked: buf goes out as it is
	for {
		at, secret := m.first(buf)
		if at < 0 {
			break
		}
		out = append(out, buf[:at]...)
		out = append(out, Replacement...)
		buf = buf[at+len(secret):]
	}
	hold := m.heldBack(buf)
	ready := buf[:len(buf)-hold]
	if out != nil {
		ready = append(out, ready...)
	}
	// Keep the tail in a buffer of our own: buf may be the caller's p.
	m.pending = append(m.pending[:0:0], buf[len(buf)-hold:]...)
	if len(ready) > 0 {
		if _, err := m.w.Write(ready); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// first finds the earliest secret in buf (the longest one where several start there).
func (m *Writer) first(buf []byte) (int, []byte) {
	at, found := -1, []byte(nil)
	for _, s := range m.secrets {
		limit := buf
		if at >= 0 {
			limit = buf[:min(len(buf), at+len(s))]
		}
		if i := bytes.Index(limit, s); i >= 0 && (at < 0 || i < at) {
			at, found = i, s
		}
	}
	return at, found
}

// heldBack returns how many bytes at the end of buf could be the start of a secret.
func (m *Writer) heldBack(buf []byte) int {
	start := max(0, len(buf)-(m.longest-1))
	for i := start; i < len(buf); i++ {
		tail := buf[i:]
		for _, s := range m.secrets {
			if len(tail) < len(s) && bytes.HasPrefix(s, tail) {
				return len(buf) - i
			}
		}
	}
	return 0
}

// Flush writes what is held back. Call it when the stream ends.
func (m *Writer) Flush() error {
	if len(m.pending) == 0 {
		return nil
	}
	_, err := m.w.Write(m.pending)
	m.pending = m.pending[:0]
	return err
}
