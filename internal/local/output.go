package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// printer writes the interleaved output of concurrent jobs: whole lines, each prefixed with
// its job's name, coloured on a terminal, with a live progress line at the bottom; or, with
// events, one JSON object a line.
type printer struct {
	mu sync.Mutex
	// w is where output goes; off a terminal it is buffered (flush writes it out).
	w          io.Writer
	color      bool
	tty        bool
	timestamps bool
	events     bool
	width      int
	status     string
	now        func() time.Time
}

var jobColors = []string{"36", "35", "33", "34", "32", "96", "95", "93", "94", "92"}

var (
	ansiRe    = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")
	sectionRe = regexp.MustCompile(`section_(start|end):[0-9]+:[A-Za-z0-9_.-]+(\[[^\]]*\])?\r(\x1b\[0K)?`)
)

// cleanLine applies what a terminal would do to a job's log line: GitLab's section markers
// removed (the header text stays), carriage returns keep the last rewrite, colours kept or
// dropped.
func cleanLine(s string, color bool) (string, bool) {
	if !strings.ContainsAny(s, "\r\x1b") && !strings.Contains(s, "section_") {
		return s, true // most lines: nothing to clean
	}
	hadSection := sectionRe.MatchString(s)
	s = sectionRe.ReplaceAllString(s, "")
	if i := strings.LastIndexByte(strings.TrimRight(s, "\r"), '\r'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimRight(s, "\r")
	if !color {
		s = ansiRe.ReplaceAllString(s, "")
	}
	if hadSection && strings.TrimSpace(ansiRe.ReplaceAllString(s, "")) == "" {
		return "", false
	}
	return s, true
}

// jobWriter returns the writer for one job's log; Close flushes a last partial line.
func (p *printer) jobWriter(name string, n int) *lineWriter {
	return &lineWriter{p: p, job: name, color: jobColors[n%len(jobColors)]}
}

type lineWriter struct {
	p     *printer
	job   string
	color string
	buf   []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.p.line(l.job, l.color, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a very long line without newline: print what we have
		l.p.line(l.job, l.color, string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(b), nil
}

func (l *lineWriter) Close() error {
	if len(l.buf) > 0 {
		l.p.line(l.job, l.color, string(l.buf))
		l.buf = nil
	}
	return nil
}

func (p *printer) line(job, color, text string) {
	text, ok := cleanLine(text, p.color && !p.events)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events {
		p.emit(map[string]any{"type": "log", "job": job, "line": text})
		return
	}
	var b strings.Builder
	if p.tty {
		b.WriteString("\r\x1b[K")
	}
	if p.timestamps {
		b.WriteString(p.now().Format("15:04:05.000") + " ")
	}
	name := job + strings.Repeat(" ", max(0, p.width-len(job)))
	if p.color {
		b.WriteString("\x1b[" + color + "m" + name + "\x1b[0m │ ")
	} else {
		b.WriteString(name + " │ ")
	}
	b.WriteString(text)
	b.WriteString("\n")
	if p.tty && p.status != "" {
		b.WriteString(p.status)
	}
	io.WriteString(p.w, b.String())
}

// flush writes out buffered output.
func (p *printer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.w.(interface{ Flush() error }); ok {
		f.Flush()
	}
}

// note prints a pipeline-level line (not a job's output).
func (p *printer) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if p.tty {
		msg = "\r\x1b[K" + msg
	}
	io.WriteString(p.w, msg+"\n")
	if p.tty && p.status != "" {
		io.WriteString(p.w, p.status)
	}
}

// setStatus replaces the live progress line (terminals only).
func (p *printer) setStatus(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty || p.events {
		return
	}
	p.status = "\x1b[2m" + s + "\x1b[0m"
	if s == "" {
		p.status = ""
	}
	io.WriteString(p.w, "\r\x1b[K"+p.status)
}

// event writes one JSON event (only with --json-events).
func (p *printer) event(v map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events {
		p.emit(v)
	}
}

func (p *printer) emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	p.w.Write(append(b, '\n'))
}
