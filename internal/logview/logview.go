// Package logview turns a job's log (bytes as the runner wrote them) into HTML for the job
// page: ANSI colours and carriage returns as a terminal shows them (rendered by
// github.com/buildkite/terminal-to-html/v3), numbered lines with anchors, and GitLab's
// section_start/section_end markers as collapsible <details> sections with their durations.
// It also owns the page's log script and stylesheet (Assets).
//
// It renders bytes it is given: reading them from the store, and the HTTP handlers that
// serve a page, a "load earlier" range or a live stream, belong to internal/server.
//
// A log is rendered from a State (what rendering must know of the bytes before: the line
// number, the sections open there), so that a part of it renders alone:
//   - the first response renders only the tail (WindowBefore, Align, Scan, Render);
//   - "load earlier" renders the range before what the page holds (the same calls);
//   - a live page gets Updates from a Stream, whose Offset is the SSE event id: a reconnect
//     resumes at the end of the last line the page holds, and no line is sent twice.
//
// What the page's handlers serve, and log.js expects (see the header of assets/log.js):
//   - the page: an element with class lv-log holding Render's HTML, with data-start (the
//     State's Offset it started from), data-offset (the Offset of the State it returned),
//     data-stream (the SSE URL, while the job runs) and data-earlier (the "load earlier" URL);
//   - the stream, from ?offset= or Last-Event-ID: for each Update with Ops,
//     "id: OFFSET\nevent: log\ndata: UPDATE-JSON\n\n"; once the job is final and its log
//     sent (Stream.End), "event: end\ndata: {…}\n\n";
//   - load earlier, ?before=N: the HTML of Render over [Align(WindowBefore(N)), N) with
//     final set, and the range's start offset in the X-Log-Start header.
//
// Each line is rendered on its own: a colour or a cursor movement does not carry over a
// newline (most CI tools reset colours at the end of each line; a multi-line colour block is
// coloured on its first line only). This keeps any part of a log renderable from a State.
package logview

import (
	"bytes"
	"errors"
	"fmt"
)

// Options are the limits of a Renderer.
type Options struct {
	// Window is how many bytes of a log one response renders: the tail of the first
	// response, and each "load earlier" range. Zero means 256 KiB.
	Window int
	// MaxLine is the longest line rendered as one; a longer one is shown in pieces of this
	// size (a piece after the first has no number), and a live stream holds at most this
	// much of an unfinished line. Zero means 1 MiB.
	MaxLine int
	// MaxDepth is how deeply sections nest; a section_start deeper than that is ignored
	// (its line shows as a plain line). Zero means 32.
	MaxDepth int
}

// Defaults of Options.
const (
	DefaultWindow   = 256 << 10
	DefaultMaxLine  = 1 << 20
	DefaultMaxDepth = 32
)

// Renderer renders logs with its Options. It is safe for concurrent use.
type Renderer struct {
	window, maxLine, maxDepth int
}

// New returns a Renderer; a negative limit is an error.
func New(o Options) (*Renderer, error) {
	if o.Window < 0 || o.MaxLine < 0 || o.MaxDepth < 0 {
		return nil, errors.New("new log renderer: negative limit")
	}
	r := &Renderer{window: o.Window, maxLine: o.MaxLine, maxDepth: o.MaxDepth}
	if r.window == 0 {
		r.window = DefaultWindow
	}
	if r.maxLine == 0 {
		r.maxLine = DefaultMaxLine
	}
	if r.maxLine < 4 {
		return nil, fmt.Errorf("new log renderer: MaxLine %d is below 4 bytes", r.maxLine)
	}
	if r.maxDepth == 0 {
		r.maxDepth = DefaultMaxDepth
	}
	return r, nil
}

// State is where rendering stands in a log: what it must know of the bytes before Offset.
// The zero State is not valid; Start is the start of a log. States are small values (the
// sections are copied on change), safe to keep and reuse, e.g. cached by job and offset.
type State struct {
	// Offset is the byte offset in the log.
	Offset int64
	// Line is the number of the line at Offset (1 for the first line of a log).
	Line int64
	// Mid is true when Offset is inside line Line (after a piece of a line longer than
	// MaxLine, or where a Window starts in a line longer than itself): what follows is
	// shown as the line's continuation, without a number.
	Mid bool
	// Sections are the sections open at Offset, outermost first.
	Sections []Section
}

// Start is the State at the start of a log.
var Start = State{Line: 1}

// Section is an open GitLab section.
type Section struct {
	// Name is the section's name from its marker ([A-Za-z0-9_.-], at most 255 bytes).
	Name string
	// Started is the Unix time of its section_start marker.
	Started int64
	// Collapsed is [collapsed=true]: the section shows closed.
	Collapsed bool
	// HideDuration is [hide_duration=true]: no duration is shown.
	HideDuration bool
}

// WindowBefore is where a rendered range ending at end starts: Window bytes before it, or 0.
// Read the log's bytes [WindowBefore(end), end) and pass them to Align.
func (r *Renderer) WindowBefore(end int64) int64 {
	return max(0, end-int64(r.window))
}

// Align is the index in data, bytes of a log from offset on, of the first line start: 0
// when offset is 0, else just after data's first newline, or 0 when data has none (a
// line longer than the data: rendering starts inside it, and Scan of the bytes before
// reports Mid).
func Align(data []byte, offset int64) int {
	if offset == 0 {
		return 0
	}
	return bytes.IndexByte(data, '\n') + 1
}
