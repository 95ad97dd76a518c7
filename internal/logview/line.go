package logview

import (
	"bytes"
	"html"
	"strconv"
	"strings"
	"unicode/utf8"

	terminal "github.com/buildkite/terminal-to-html/v3"
)

// content renders the text of one line (its markers removed, no newline) as HTML that holds
// only escaped text and <span class="term-…"> elements: what the terminal shows of it, its
// trailing blanks trimmed.
func content(b []byte) string {
	if plain(b) {
		return html.EscapeString(strings.TrimRight(string(b), " \t"))
	}
	s, err := terminal.NewScreen()
	if err != nil { // not with these (no) options; escaped text is a safe answer anyway
		return html.EscapeString(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	s.Write(palette(b))
	return sanitize(s.AsHTMLWithTimestamps(false))
}

// plain reports whether b is text a terminal shows as it is: valid UTF-8 without control
// characters but tabs. Most lines of a log are; they skip the terminal.
func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			return utf8.Valid(b)
		}
	}
	return true
}

// sanitize keeps of the terminal's HTML only what the page needs and nothing a log could
// abuse: escaped text and <span class="term-…"> elements. Links (OSC 8 and Buildkite's
// 1339), images (iTerm's 1337 and Buildkite's 1338) and timestamps are dropped, their text
// kept; control characters are dropped. Text in the terminal's HTML is escaped, so every
// '<' starts one of its tags.
func sanitize(h string) string {
	if h == "&nbsp;" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(h))
	for i := 0; i < len(h); {
		c := h[i]
		switch {
		case c == '<':
			j := strings.IndexByte(h[i:], '>')
			if j < 0 {
				return b.String() // not the terminal's output: drop the rest
			}
			tag := h[i : i+j+1]
			if tag == "</span>" || spanTag(tag) {
				b.WriteString(tag)
			}
			i += j + 1
		case c < 0x20 && c != '\t' && c != '\n' || c == 0x7f:
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// spanTag reports whether tag is <span class="…"> with term-* classes.
func spanTag(tag string) bool {
	cls, ok := strings.CutPrefix(tag, `<span class="`)
	if !ok {
		return false
	}
	cls, ok = strings.CutSuffix(cls, `">`)
	if !ok {
		return false
	}
	for f := range strings.FieldsSeq(cls) {
		rest, ok := strings.CutPrefix(f, "term-")
		if !ok || rest == "" || strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return false
		}
	}
	return true
}

// palette replaces 24-bit colours in SGR sequences (38;2;R;G;B, 48;2;…, and the colon
// forms 38:2::R:G:B, 38:5:N) by the nearest of xterm's 256 colours, which have classes in
// log.css: a stylesheet cannot give every RGB value a class, and the page's CSP forbids
// style attributes. terminal-to-html gives 24-bit colours no class at all.
func palette(b []byte) []byte {
	if !bytes.Contains(b, []byte("8;2;")) && !bytes.Contains(b, []byte("8:")) {
		return b
	}
	var out []byte
	last := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("\x1b["))
		if j < 0 {
			break
		}
		j += i + 2
		k := j
		for k < len(b) && (b[k] >= '0' && b[k] <= '9' || b[k] == ';' || b[k] == ':') {
			k++
		}
		if k < len(b) && b[k] == 'm' {
			if p, ok := sgr(string(b[j:k])); ok {
				out = append(append(out, b[last:j]...), p...)
				last = k
			}
		}
		i = k
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// sgr rewrites the parameters of one SGR sequence, reporting whether it changed any.
func sgr(params string) (string, bool) {
	toks := strings.Split(params, ";")
	out := make([]string, 0, len(toks))
	changed := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if sub := strings.Split(t, ":"); len(sub) >= 3 && (sub[0] == "38" || sub[0] == "48") {
			switch rgb := sub[2:]; {
			case sub[1] == "5":
				out, changed = append(out, sub[0], "5", sub[2]), true
				continue
			case sub[1] == "2" && (len(rgb) == 3 || len(rgb) == 4):
				rgb = rgb[len(rgb)-3:]
				out, changed = append(out, sub[0], "5", xterm(rgb[0], rgb[1], rgb[2])), true
				continue
			}
		}
		if (t == "38" || t == "48") && i+2 < len(toks) && toks[i+1] == "5" {
			out, i = append(out, t, "5", toks[i+2]), i+2
			continue
		}
		if (t == "38" || t == "48") && i+4 < len(toks) && toks[i+1] == "2" {
			out, i, changed = append(out, t, "5", xterm(toks[i+2], toks[i+3], toks[i+4])), i+4, true
			continue
		}
		out = append(out, t)
	}
	return strings.Join(out, ";"), changed
}

// cubeLevels are the channel values of xterm's 6×6×6 colour cube (colours 16-231).
var cubeLevels = [6]int{0, 95, 135, 175, 215, 255}

// xterm is the number of the xterm colour nearest to R, G, B (decimal, clamped to 0-255),
// from the cube and the grey ramp (232-255); the first 16 follow the page's theme.
func xterm(rs, gs, bs string) string {
	c := [3]int{}
	for i, s := range []string{rs, gs, bs} {
		v, _ := strconv.Atoi(s)
		c[i] = min(max(v, 0), 255)
	}
	level := func(v int) int {
		switch {
		case v < 48:
			return 0
		case v < 115:
			return 1
		default:
			return (v - 35) / 40
		}
	}
	dist := func(r, g, b int) int {
		return (c[0]-r)*(c[0]-r) + (c[1]-g)*(c[1]-g) + (c[2]-b)*(c[2]-b)
	}
	ri, gi, bi := level(c[0]), level(c[1]), level(c[2])
	cube := 16 + 36*ri + 6*gi + bi
	cd := dist(cubeLevels[ri], cubeLevels[gi], cubeLevels[bi])
	grey := min(max((c[0]+c[1]+c[2])/3-3, 0)/10, 23)
	gv := 8 + 10*grey
	if dist(gv, gv, gv) < cd {
		return strconv.Itoa(232 + grey)
	}
	return strconv.Itoa(cube)
}
