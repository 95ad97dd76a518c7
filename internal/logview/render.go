package logview

import (
	"bytes"
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Op is one change to the page's log, applied in order by log.js (and by Render, which
// writes what they build).
type Op struct {
	// Kind is what to do:
	//   - "l": append HTML (one line, a div.lv-l) to the innermost open section, or the log;
	//   - "o": append HTML (a details.lv-sec.lv-run holding only its summary) there, and make
	//     it the innermost open section;
	//   - "c": end the innermost open section: remove its class lv-run and put Duration in
	//     its summary's span.lv-dur (absent with [hide_duration=true]).
	Kind     string `json:"k"`
	HTML     string `json:"h,omitempty"`
	Duration string `json:"d,omitempty"`

	// sec, num and head of an "o" op: what its <details> tag is made of.
	sec  Section
	num  int64
	head string
}

// Markup of a rendered log (what log.css and log.js know):
//
//	<div class="lv-l" id="L7"><a class="lv-n" href="#L7">7</a><span class="lv-c">TEXT</span></div>
//	<div class="lv-l lv-cont"><span class="lv-n"></span><span class="lv-c">TEXT</span></div>
//	<details class="lv-sec[ lv-more][ lv-run]" data-name="NAME"[ open]>
//	  <summary class="lv-l" id="L8"><a class="lv-n" href="#L8">8</a><span class="lv-c">HEADER</span>
//	    <time class="lv-ts" datetime="…">15:04:05</time><span class="lv-dur">00:03</span></summary>
//	  …lines and sections…</details>
//
// lv-cont is the continuation of a line (no number); lv-run a section not ended (yet);
// lv-more a section that started before the rendered range (its summary has its name).
// TEXT is escaped text and <span class="term-…"> elements.

// line is the markup of a line with number num (0: a continuation) and content c.
func line(num int64, c string) string {
	if num == 0 {
		return `<div class="lv-l lv-cont"><span class="lv-n"></span><span class="lv-c">` + c + `</span></div>`
	}
	n := strconv.FormatInt(num, 10)
	return `<div class="lv-l" id="L` + n + `"><a class="lv-n" href="#L` + n + `">` + n + `</a><span class="lv-c">` + c + `</span></div>`
}

// sectionTag is the opening markup of a section, up to its children: head is its summary's
// content, num its line number (0: none), more that it started before the rendered range,
// running that it has not ended, dur its duration once ended.
func sectionTag(s Section, num int64, head string, more, running bool, dur string) string {
	var b strings.Builder
	b.WriteString(`<details class="lv-sec`)
	if more {
		b.WriteString(` lv-more`)
	}
	if running {
		b.WriteString(` lv-run`)
	}
	b.WriteString(`" data-name="`)
	b.WriteString(s.Name) // [A-Za-z0-9_.-]: nothing to escape
	b.WriteString(`"`)
	if !s.Collapsed || more {
		b.WriteString(` open`)
	}
	b.WriteString(`><summary class="lv-l"`)
	if num > 0 {
		n := strconv.FormatInt(num, 10)
		b.WriteString(` id="L` + n + `"><a class="lv-n" href="#L` + n + `">` + n + `</a>`)
	} else {
		b.WriteString(`><span class="lv-n"></span>`)
	}
	b.WriteString(`<span class="lv-c">`)
	b.WriteString(head)
	b.WriteString(`</span>`)
	t := time.Unix(s.Started, 0).UTC()
	b.WriteString(`<time class="lv-ts" datetime="` + t.Format(time.RFC3339) + `">` + t.Format(time.TimeOnly) + `</time>`)
	if !s.HideDuration {
		b.WriteString(`<span class="lv-dur">` + dur + `</span>`)
	}
	b.WriteString(`</summary>`)
	return b.String()
}

// machine turns the lines of a log into Ops, from a State.
type machine struct {
	r   *Renderer
	st  State
	ops []Op
}

// feed renders the lines of data (the log from m.st.Offset on) that are complete — ended by
// a newline, or MaxLine long — and with final the rest too; it returns how many bytes it
// consumed.
func (m *machine) feed(data []byte, final bool) int {
	n := 0
	for n < len(data) {
		rest := data[n:]
		if i := bytes.IndexByte(rest[:min(len(rest), m.r.maxLine+1)], '\n'); i >= 0 {
			m.piece(rest[:i], true)
			n += i + 1
			continue
		}
		cut := len(rest)
		if cut > m.r.maxLine {
			cut = m.r.maxLine
			for k := 0; k < utf8.UTFMax-1 && !utf8.RuneStart(rest[cut]); k++ {
				cut-- // do not split a character
			}
		} else if !final {
			break
		}
		m.piece(rest[:cut], false)
		n += cut
	}
	return n
}

// piece renders one line, or a piece of a long one (nl: it ended with a newline): its
// markers change the open sections; its text becomes the header of the last section it
// opened, or a line of its own (none when it held markers and shows nothing).
func (m *machine) piece(b []byte, nl bool) {
	num := m.st.Line
	if m.st.Mid {
		num = 0
	}
	first := len(m.ops)
	text, last := b, -1
	hadMarker := false
	if bytes.IndexByte(b, '\r') >= 0 && bytes.Contains(b, markerPrefix) {
		var kept []byte
		from := 0
		for i := 0; ; {
			mk, ok := nextMarker(b, i)
			if !ok {
				break
			}
			hadMarker = true
			kept = append(kept, b[from:mk.from]...)
			from, i = mk.to, mk.to
			secs, closed, opened := m.r.apply(m.st.Sections, mk)
			for _, s := range closed {
				d := ""
				if !s.HideDuration {
					d = duration(s.Started, mk.time)
				}
				m.ops = append(m.ops, Op{Kind: "c", Duration: d})
			}
			if opened {
				s := secs[len(secs)-1]
				last = len(m.ops)
				m.ops = append(m.ops, Op{Kind: "o", sec: s, head: html.EscapeString(s.Name)})
			}
			m.st.Sections = secs
		}
		if hadMarker {
			text = append(kept, b[from:]...)
		}
	}
	c := content(text)
	switch {
	case last >= 0:
		if c != "" {
			m.ops[last].head = c
		}
		m.ops[last].num = num
	case c != "" || !hadMarker:
		m.ops = append(m.ops, Op{Kind: "l", HTML: line(num, c)})
	}
	for i := first; i < len(m.ops); i++ {
		if o := &m.ops[i]; o.Kind == "o" {
			o.HTML = sectionTag(o.sec, o.num, o.head, false, true, "") + "</details>"
		}
	}
	m.st.Offset += int64(len(b))
	if nl {
		m.st.Offset++
		m.st.Line++
	}
	m.st.Mid = !nl
}

// Render renders data, the bytes of a log from st.Offset on, as HTML: its complete lines,
// and with final (the log has ended, or data ends where the page's content starts) its
// last unfinished line too. Sections open in st are wrapped around the lines (marked
// lv-more, open); sections still open at the end are marked lv-run. It returns the State
// after what it rendered: a Stream from there continues the page.
func (r *Renderer) Render(st State, data []byte, final bool) (template.HTML, State) {
	m := machine{r: r, st: st}
	m.feed(data, final)
	return template.HTML(assemble(st.Sections, m.ops)), m.st
}

// assemble writes the HTML that ops build inside the open sections secs.
func assemble(secs []Section, ops []Op) string {
	type frame struct {
		seg  int // the segment that is the section's opening tag
		op   Op
		more bool
	}
	segs := make([]string, 0, len(ops)+2*len(secs))
	stack := make([]frame, 0, len(secs)+4)
	for _, s := range secs {
		stack = append(stack, frame{seg: len(segs), op: Op{sec: s, head: html.EscapeString(s.Name)}, more: true})
		segs = append(segs, "")
	}
	for _, o := range ops {
		switch o.Kind {
		case "l":
			segs = append(segs, o.HTML)
		case "o":
			stack = append(stack, frame{seg: len(segs), op: o})
			segs = append(segs, "")
		case "c":
			if len(stack) == 0 {
				continue // not made by a machine
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			segs[f.seg] = sectionTag(f.op.sec, f.op.num, f.op.head, f.more, false, o.Duration)
			segs = append(segs, "</details>")
		}
	}
	for i := len(stack) - 1; i >= 0; i-- {
		f := stack[i]
		segs[f.seg] = sectionTag(f.op.sec, f.op.num, f.op.head, f.more, true, "")
		segs = append(segs, "</details>")
	}
	return strings.Join(segs, "")
}
