package logview

import (
	"bytes"
	"fmt"
	"strconv"
)

// marker is a GitLab section marker found in a log:
// section_start:UNIXTIME:NAME[OPTIONS] or section_end:UNIXTIME:NAME. Only the marker's own
// text is removed from the line; the "\r\x1b[0K" that surround it are left to the terminal
// (a carriage return and an erase, as a terminal shows them).
type marker struct {
	start    bool
	time     int64
	name     string
	opts     Section // Collapsed and HideDuration of a start
	from, to int     // the marker's bytes in the line
}

var markerPrefix = []byte("section_")

// maxName is the longest section name and options text read.
const maxName = 255

// nextMarker is the first well-formed marker in b at or after i.
func nextMarker(b []byte, i int) (marker, bool) {
	for {
		j := bytes.Index(b[i:], markerPrefix)
		if j < 0 {
			return marker{}, false
		}
		j += i
		if m, ok := parseMarker(b, j); ok {
			return m, true
		}
		i = j + len(markerPrefix)
	}
}

// parseMarker reads the marker that starts at b[at:], which holds "section_".
func parseMarker(b []byte, at int) (marker, bool) {
	m := marker{from: at}
	p := at + len(markerPrefix)
	switch {
	case bytes.HasPrefix(b[p:], []byte("start:")):
		m.start, p = true, p+len("start:")
	case bytes.HasPrefix(b[p:], []byte("end:")):
		p += len("end:")
	default:
		return m, false
	}
	q := p
	for q < len(b) && q-p < 18 && b[q] >= '0' && b[q] <= '9' {
		q++
	}
	if q == p || q >= len(b) || b[q] != ':' {
		return m, false
	}
	m.time, _ = strconv.ParseInt(string(b[p:q]), 10, 64) // at most 18 digits: no overflow
	p, q = q+1, q+1
	for q < len(b) && q-p < maxName && nameByte(b[q]) {
		q++
	}
	if q == p {
		return m, false
	}
	m.name = string(b[p:q])
	if m.start && q < len(b) && b[q] == '[' {
		if e := bytes.IndexByte(b[q+1:min(len(b), q+2+maxName)], ']'); e >= 0 {
			for opt := range bytes.SplitSeq(b[q+1:q+1+e], []byte(",")) {
				switch string(bytes.TrimSpace(opt)) {
				case "collapsed=true":
					m.opts.Collapsed = true
				case "hide_duration=true":
					m.opts.HideDuration = true
				}
			}
			q += e + 2
		}
	}
	m.to = q
	return m, true
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// apply applies a marker to the open sections secs (outermost first) and returns them
// (a new slice when they changed: States share theirs), the sections it closed (innermost
// first) and whether it opened one. An end closes the innermost open section of its name
// and the sections opened inside it; an end whose name is not open, and a start deeper
// than MaxDepth, do nothing.
func (r *Renderer) apply(secs []Section, m marker) (out, closed []Section, opened bool) {
	if m.start {
		if len(secs) >= r.maxDepth {
			return secs, nil, false
		}
		s := m.opts
		s.Name, s.Started = m.name, m.time
		return append(secs[:len(secs):len(secs)], s), nil, true
	}
	for i := len(secs) - 1; i >= 0; i-- {
		if secs[i].Name == m.name {
			for j := len(secs) - 1; j >= i; j-- {
				closed = append(closed, secs[j])
			}
			return secs[:i:i], closed, false
		}
	}
	return secs, nil, false
}

// duration is how a section that ran from start to end (Unix times) shows its duration,
// as GitLab does: "02:05", or "01:02:05" from an hour on.
func duration(start, end int64) string {
	d := max(0, end-start)
	if d >= 3600 {
		return fmt.Sprintf("%02d:%02d:%02d", d/3600, d/60%60, d%60)
	}
	return fmt.Sprintf("%02d:%02d", d/60, d%60)
}
