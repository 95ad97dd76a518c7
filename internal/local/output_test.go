package local

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCleanLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		color, keep    bool
	}{
		{name: "plain", in: "hello", want: "hello", keep: true},
		{name: "section start keeps header", in: "section_start:1:build[collapsed=true]\r\x1b[0KBuilding", want: "Building", keep: true},
		{name: "section end alone is dropped", in: "section_end:2:build\r\x1b[0K", keep: false},
		{name: "carriage return keeps last rewrite", in: "10%\r50%\r100%", want: "100%", keep: true},
		{name: "colour dropped", in: "\x1b[32;1m$ make\x1b[0;m", want: "$ make", keep: true},
		{name: "colour kept", in: "\x1b[32mok\x1b[0m", want: "\x1b[32mok\x1b[0m", color: true, keep: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, keep := cleanLine(tt.in, tt.color)
			if keep != tt.keep || keep && got != tt.want {
				t.Errorf("cleanLine(%q) = %q, %v; want %q, %v", tt.in, got, keep, tt.want, tt.keep)
			}
		})
	}
}

func TestLineWriterPrefixesWholeLines(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &printer{w: &out, width: 5, now: time.Now}
	w := p.jobWriter("job", 0)
	io.WriteString(w, "one\ntw")
	io.WriteString(w, "o\nthree")
	w.Close()
	if got, want := out.String(), "job   │ one\njob   │ two\njob   │ three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func BenchmarkLogPath(b *testing.B) {
	line := strings.Repeat("x", 52) + "\n"
	chunk := []byte(strings.Repeat(line, 600))
	p := &printer{w: io.Discard, width: 5, now: time.Now}
	w := p.jobWriter("job", 0)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		w.Write(chunk)
	}
}
