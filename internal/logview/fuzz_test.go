package logview

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzRender fuzzes the renderer and the section parser with a log and a place to split
// it: the HTML holds only the log's own markup (checkSafe), a Stream fed the log in two
// pieces builds the same HTML as Render, and Scan up to a line start agrees with Render.
// Both run with a small MaxLine too, which cuts lines in pieces.
//
// Run 2026-12-02 (go test -run '^$' -fuzz FuzzRender -fuzztime 5m; Go 1.26.8, 2 workers
// on a 2-vCPU VM shared with other builds, load average 7-11): 164,012 execs in 5m0s, 84
// new interesting inputs (94 in the corpus), no failure. Most of the time went to
// minimizing inputs (0 execs/s counted for minutes at a time).
func FuzzRender(f *testing.F) {
	for seed := range uint64(4) {
		f.Add(genLog(rand.New(rand.NewPCG(seed, 9)), 600), uint16(seed*97))
	}
	f.Add([]byte("\x1b[0Ksection_start:1:a[collapsed=true]\r\x1b[0Kh\n\x1b[0Ksection_end:2:a\r\x1b[0K\n"), uint16(3))
	f.Add([]byte("\x1b]8;;javascript:alert(1)\x1b\\x\x1b]8;;\x1b\\\n\x1b]1338;url=x.png\x07\n"), uint16(9))
	f.Add([]byte("\x1b[38;2;1;2;3m<b>\x1b[0m\rab\x1b[2K\n"), uint16(5))
	small := newRenderer(f, Options{MaxLine: 16, MaxDepth: 3})
	def := newRenderer(f, Options{})
	f.Fuzz(func(t *testing.T, log []byte, split uint16) {
		p := int(split) % (len(log) + 1)
		for _, r := range []*Renderer{def, small} {
			h, end := r.Render(Start, log, true)
			checkSafe(t, string(h))
			if end.Offset != int64(len(log)) {
				t.Fatalf("rendered to %d of %d", end.Offset, len(log))
			}
			s := r.Stream(Start)
			ops := append(s.Append(log[:p]).Ops, s.Append(log[p:]).Ops...)
			ops = append(ops, s.End().Ops...)
			if got := assemble(nil, ops); got != string(h) {
				t.Fatalf("stream split at %d differs:\n%s\n----\n%s", p, got, h)
			}
		}
		cut := p + Align(log[p:], int64(p))
		_, want := def.Render(Start, log[:cut], true)
		got, err := def.Scan(Start, bytes.NewReader(log[:cut]))
		if err != nil {
			t.Fatal(err)
		}
		if !sameState(got, want) {
			t.Fatalf("scan to %d: %+v, render %+v", cut, got, want)
		}
	})
}
