package logview

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

var lineID = regexp.MustCompile(`id="L(\d+)"`)

// TestScanSameAsRender: the State Scan computes at any line start is the State rendering
// up to there ends in.
func TestScanSameAsRender(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Options{})
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		log := genLog(rng, 1+rng.IntN(600000)) // across Scan's blocks
		p := rng.IntN(len(log))
		cut := p + Align(log[p:], int64(p))
		_, want := r.Render(Start, log[:cut], true)
		got, err := r.Scan(Start, bytes.NewReader(log[:cut]))
		if err != nil {
			t.Fatal(err)
		}
		if !sameState(got, want) {
			t.Fatalf("seed %d at %d: scan %+v, render %+v", seed, cut, got, want)
		}
	}
}

// TestWindow renders the tail of a log as a page's first response does, then the ranges
// before it as "load earlier" does: each has the line numbers of the whole log's render,
// and the sections open at its start wrapped around its lines.
func TestWindow(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Options{Window: 4096})
	rng := rand.New(rand.NewPCG(3, 3))
	log := genLog(rng, 60000)
	whole, _ := r.Render(Start, log, true)
	ids := lineID.FindAllStringSubmatch(string(whole), -1)

	end := int64(len(log))
	var got []string
	final := true // the log has ended: its last line shows
	for end > 0 {
		from := r.WindowBefore(end)
		data := log[from:end]
		i := Align(data, from)
		st, err := r.Scan(Start, bytes.NewReader(log[:from+int64(i)]))
		if err != nil {
			t.Fatal(err)
		}
		h, after := r.Render(st, data[i:], final)
		if after.Offset != end {
			t.Fatalf("range [%d,%d) rendered to %d", from+int64(i), end, after.Offset)
		}
		checkSafe(t, string(h))
		if len(st.Sections) > 0 && !strings.HasPrefix(string(h), `<details class="lv-sec lv-more`) {
			t.Fatalf("sections %v open at %d not wrapped: %.200s", st.Sections, st.Offset, h)
		}
		var part []string
		for _, m := range lineID.FindAllStringSubmatch(string(h), -1) {
			part = append(part, m[1])
		}
		got = append(part, got...)
		end = from + int64(i)
	}
	if len(got) != len(ids) {
		t.Fatalf("windows have %d lines, the whole log %d", len(got), len(ids))
	}
	for k := range ids {
		if got[k] != ids[k][1] {
			t.Fatalf("line %d: window says L%s, whole log L%s", k, got[k], ids[k][1])
		}
	}
}

// TestWindowInsideLongLine: a window that starts inside a line longer than itself shows
// the line's end as a continuation, and the next line has its true number.
func TestWindowInsideLongLine(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Options{Window: 100})
	log := []byte("first\n" + strings.Repeat("x", 300) + "\nlast\n")
	from := r.WindowBefore(int64(len(log)))
	data := log[from:]
	if i := Align(data, from); i != len(data)-len("last\n") {
		t.Fatalf("align %d", i)
	}
	// A range with no newline before its end: rendering starts inside the line.
	data = log[100:200]
	st, err := r.Scan(Start, bytes.NewReader(log[:100]))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mid || st.Line != 2 || Align(data, 100) != 0 {
		t.Fatalf("state %+v", st)
	}
	h, _ := r.Render(st, data, true)
	if !strings.Contains(string(h), "lv-cont") || strings.Contains(string(h), `id="L`) {
		t.Fatalf("got %s", h)
	}
}
