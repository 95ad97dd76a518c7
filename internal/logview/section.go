package logview

import (
	"bytes"
	"fmt"
	"strconv"
)

// marker is a GitLab section marker found in a log:
// section_start:UNIXTIME:NAME[OPTIONS] or section_end:UNIXTIME:NAME, followed by a carriage
// return (GitLab writes "\x1b[0Ksection_start:…\r\x1b[0K"). Only the marker's own
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

// nextMarker is the first well-formed marker in b at or after i. A marker is followed by a
// carriage return, as GitLab writes them ("\r\x1b[0K"): searching for that rare byte, then
// reading the marker's grammar backwards, is much faster than searching for "section_".
func nextMarker(b []byte, i int) (marker, bool) {
	for {
		cr := bytes.IndexByte(b[i:], '\r')
		if cr < 0 {
			return marker{}, false
		}
		cr += i
		if at := markerBefore(b, i, cr); at >= 0 {
			if m, ok := parseMarker(b, at); ok && m.to == cr {
				return m, true
			}
		}
		i = cr + 1
	}
}

// markerBefore is where the marker that ends at b[end] would start, no earlier than lo,
// or -1: it reads "section_start:DIGITS:NAME[OPTIONS]" backwards.
func markerBefore(b []byte, lo, end int) int {
	p := end
	if p > lo && b[p-1] == ']' {
		from := max(lo, p-2-maxName)
		k := bytes.LastIndexByte(b[from:p-1], '[')
		if k < 0 {
			return -1
		}
		p = from + k
	}
	q := p
	for q > lo && p-q < maxName && nameByte(b[q-1]) {
		q--
	}
	if q == p || q == lo || b[q-1] != ':' {
		return -1
	}
	q--
	d := q
	for d > lo && q-d < 18 && b[d-1] >= '0' && b[d-1] <= '9' {
		d--
	}
	if d == q || d == lo || b[d-1] != ':' {
		return -1
	}
	d--
	for _, kind := range []string{"section_start", "section_end"} {
		if d-len(kind) >= lo && string(b[d-len(kind):d]) == kind {
			return d - len(kind)
		}
	}
	return -1
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
