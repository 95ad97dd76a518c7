package logview

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// streamAll feeds log to a Stream from st in random pieces, then ends it, and checks the
// Updates' offsets: increasing, each at the end of a line that Updates carried.
func streamAll(t testing.TB, r *Renderer, st State, log []byte, rng *rand.Rand) []Op {
	t.Helper()
	s := r.Stream(st)
	var ops []Op
	last := st.Offset
	check := func(u Update) {
		if u.Offset < last {
			t.Fatalf("update offset %d after %d", u.Offset, last)
		}
		last = u.Offset
		ops = append(ops, u.Ops...)
	}
	for rest := log; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(64))
		if rng.IntN(10) == 0 {
			n = min(len(rest), rng.IntN(4096))
		}
		check(s.Append(rest[:n]))
		rest = rest[n:]
	}
	check(s.End())
	if last != st.Offset+int64(len(log)) {
		t.Fatalf("stream ended at %d, want %d", last, st.Offset+int64(len(log)))
	}
	return ops
}

// TestStreamSameAsRender: a log fed to a Stream in random pieces builds the same HTML as
// Render of it in one pass, with a small MaxLine too (long lines cut in pieces).
func TestStreamSameAsRender(t *testing.T) {
	t.Parallel()
	for _, maxLine := range []int{0, 17} {
		r := newRenderer(t, Options{MaxLine: maxLine})
		for seed := range uint64(30) {
			rng := rand.New(rand.NewPCG(seed, uint64(maxLine)))
			log := genLog(rng, 2000+rng.IntN(20000))
			want, end := r.Render(Start, log, true)
			got := assemble(nil, streamAll(t, r, Start, log, rng))
			if got != string(want) {
				t.Fatalf("seed %d, MaxLine %d: stream and render differ:\n%s\n----\n%s", seed, maxLine, got, want)
			}
			if end.Offset != int64(len(log)) {
				t.Fatalf("render ended at %d of %d", end.Offset, len(log))
			}
		}
	}
}

// TestStreamHoldsUnfinishedLine: a line without its newline is not sent until it completes,
// and the update's offset stays at the end of the last whole line.
func TestStreamHoldsUnfinishedLine(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Options{})
	s := r.Stream(Start)
	u := s.Append([]byte("one\ntw"))
	if len(u.Ops) != 1 || u.Offset != 4 || !strings.Contains(u.Ops[0].HTML, ">one<") {
		t.Fatalf("got %+v", u)
	}
	u = s.Append([]byte("o"))
	if len(u.Ops) != 0 || u.Offset != 4 {
		t.Fatalf("partial line sent: %+v", u)
	}
	u = s.Append([]byte("\nthree"))
	if len(u.Ops) != 1 || u.Offset != 8 || !strings.Contains(u.Ops[0].HTML, `id="L2"`) || !strings.Contains(u.Ops[0].HTML, ">two<") {
		t.Fatalf("got %+v", u)
	}
	u = s.End()
	if len(u.Ops) != 1 || u.Offset != 13 || !strings.Contains(u.Ops[0].HTML, ">three<") {
		t.Fatalf("got %+v", u)
	}
}

// TestStreamMaxLine: a line longer than MaxLine is sent in pieces, so a stream holds at
// most MaxLine bytes.
func TestStreamMaxLine(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Options{MaxLine: 10})
	s := r.Stream(Start)
	u := s.Append(bytes.Repeat([]byte("x"), 25))
	if len(u.Ops) != 2 || u.Offset != 20 || !strings.Contains(u.Ops[0].HTML, `id="L1"`) || !strings.Contains(u.Ops[1].HTML, "lv-cont") {
		t.Fatalf("got %+v", u)
	}
	if st := s.State(); !st.Mid || st.Line != 1 {
		t.Fatalf("state %+v", st)
	}
	u = s.Append([]byte("\ny\n"))
	if len(u.Ops) != 2 || !strings.Contains(u.Ops[0].HTML, "lv-cont") || !strings.Contains(u.Ops[1].HTML, `id="L2"`) {
		t.Fatalf("got %+v", u)
	}
}

// TestStreamResume: a Stream started at an update's offset with the State Scan computes
// there (a reconnect) continues exactly where the first one left off.
func TestStreamResume(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, Options{})
	rng := rand.New(rand.NewPCG(7, 7))
	log := genLog(rng, 50000)
	want := assemble(nil, streamAll(t, r, Start, log, rng))
	s := r.Stream(Start)
	u := s.Append(log[:len(log)/2])
	ops := u.Ops
	st, err := r.Scan(Start, bytes.NewReader(log[:u.Offset]))
	if err != nil {
		t.Fatal(err)
	}
	if !sameState(st, s.State()) {
		t.Fatalf("scan %+v, stream %+v", st, s.State())
	}
	ops = append(ops, streamAll(t, r, st, log[u.Offset:], rng)...)
	if got := assemble(nil, ops); got != want {
		t.Fatal("resumed stream differs")
	}
}

func sameState(a, b State) bool {
	if a.Offset != b.Offset || a.Line != b.Line || a.Mid != b.Mid || len(a.Sections) != len(b.Sections) {
		return false
	}
	for i := range a.Sections {
		if a.Sections[i] != b.Sections[i] {
			return false
		}
	}
	return true
}
