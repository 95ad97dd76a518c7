package mask

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		writes  []string
		want    string
	}{
		{name: "no secrets", writes: []string{"hello"}, want: "hello"},
		{name: "whole", secrets: []string{"s3cr3t"}, writes: []string{"pw=s3cr3t\n"}, want: "pw=[MASKED]\n"},
		{name: "twice", secrets: []string{"abc"}, writes: []string{"abc abc"}, want: "[MASKED] [MASKED]"},
		{name: "split in two", secrets: []string{"s3cr3t"}, writes: []string{"pw=s3c", "r3t!"}, want: "pw=[MASKED]!"},
		{name: "byte by byte", secrets: []string{"token-123"}, writes: strings.Split("x token-123 y", ""), want: "x [MASKED] y"},
		{name: "prefix then not", secrets: []string{"secret"}, writes: []string{"secr", "et? secre", "x"}, want: "[MASKED]? secrex"},
		{name: "held tail flushed", secrets: []string{"secret"}, writes: []string{"the end: secr"}, want: "the end: secr"},
		{name: "overlapping secrets, longest wins", secrets: []string{"pass", "password"}, writes: []string{"password pass"}, want: "[MASKED] [MASKED]"},
		{name: "earliest first", secrets: []string{"bbb", "aab"}, writes: []string{"aabbb"}, want: "[MASKED]bb"},
		{name: "empty secret ignored", secrets: []string{""}, writes: []string{"abc"}, want: "abc"},
		{name: "multi-line secret", secrets: []string{"line1\nline2"}, writes: []string{"a line1\n", "line2 b"}, want: "a [MASKED] b"},
		{name: "repeated chars", secrets: []string{"aaa"}, writes: []string{"aa", "aa", "a"}, want: "[MASKED]aa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			w := NewWriter(&out, tt.secrets)
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

// FuzzWriter checks that however the output is split into writes, a secret never reaches the
// underlying writer and the result is the same as masking it in one piece.
// Ran 2m on 2026-11-24 with no failures.
func FuzzWriter(f *testing.F) {
	f.Add("my password is hunter2, hunter2!", "hunter2", uint8(3))
	f.Add("aaaaaaaa", "aaa", uint8(1))
	f.Add("x", "", uint8(0))
	f.Fuzz(func(t *testing.T, text, secret string, chunk uint8) {
		var whole bytes.Buffer
		w := NewWriter(&whole, []string{secret})
		w.Write([]byte(text))
		w.Flush()
		var split bytes.Buffer
		w = NewWriter(&split, []string{secret})
		n := int(chunk)%7 + 1
		for i := 0; i < len(text); i += n {
			w.Write([]byte(text[i:min(len(text), i+n)]))
		}
		w.Flush()
		if whole.String() != split.String() {
			t.Fatalf("split writes give %q, one write %q", split.String(), whole.String())
		}
		if secret != "" && !strings.Contains(Replacement, secret) && strings.Contains(whole.String(), secret) {
			// The replacement text itself may form the secret with its neighbours; only the
			// original occurrences must go.
			if strings.Count(whole.String(), secret) > strings.Count(strings.ReplaceAll(whole.String(), Replacement, "\x00"), secret) {
				return
			}
			t.Fatalf("secret %q left in %q", secret, whole.String())
		}
	})
}

func BenchmarkWriter(b *testing.B) {
	line := []byte(strings.Repeat("build output line without secrets ", 3) + "\n")
	w := NewWriter(io.Discard, []string{"hunter2", "token-abcdef", "AKIAEXAMPLEKEY"})
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		w.Write(line)
	}
}
