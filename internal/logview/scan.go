package logview

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// scanBlock is how much Scan reads at a time.
const scanBlock = 256 << 10

// Scan advances st over the bytes src yields, the log from st.Offset on, without rendering
// them: it counts their lines and applies their section markers. It reads src to its end,
// so give it the log up to where rendering starts (a line start from Align, or where a
// Window starts inside a long line: then the State is Mid). It is cheap — a newline count
// and a search for "section_" — so that a page can show true line numbers and sections
// however long the log before its window; its cost is mostly reading src.
//
// It differs from rendering in one corner: a marker that a line longer than MaxLine has
// across the place where it is cut in pieces counts here, not when rendered.
func (r *Renderer) Scan(st State, src io.Reader) (State, error) {
	buf := make([]byte, scanBlock)
	var carry []byte // an unfinished line from the blocks before
	for {
		n, err := io.ReadFull(src, buf)
		data := buf[:n]
		if len(carry) > 0 {
			carry = append(carry, data...)
			data = carry
		}
		k := bytes.LastIndexByte(data, '\n') + 1
		st = r.scanLines(st, data[:k])
		rest := data[k:]
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return st, fmt.Errorf("scan log: %w", err)
			}
			if len(rest) > 0 {
				st = r.scanLines(st, rest)
				st.Mid = true
			}
			return st, nil
		}
		if len(rest) > r.maxLine { // a long line: rendered in pieces, inside it from here on
			st = r.scanLines(st, rest)
			st.Mid, rest = true, nil
		}
		carry = append(carry[:0], rest...)
	}
}

// scanLines advances st over data, which ends at a line's end (or is its unfinished part).
func (r *Renderer) scanLines(st State, data []byte) State {
	if len(data) == 0 {
		return st
	}
	for i := 0; ; {
		mk, ok := nextMarker(data, i)
		if !ok {
			break
		}
		st.Sections, _, _ = r.apply(st.Sections, mk)
		i = mk.to
	}
	nl := int64(bytes.Count(data, []byte{'\n'}))
	st.Line += nl
	if nl > 0 {
		st.Mid = false
	}
	st.Offset += int64(len(data))
	return st
}
