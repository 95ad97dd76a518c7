package logview

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
)

var bigLog = sync.OnceValue(func() []byte { return genLog(rand.New(rand.NewPCG(50, 50)), 50<<20) })

// BenchmarkFirstResponse50MB is the logview part of a job page's first response for a
// 50 MB log held in memory: find the tail window, Scan the 50 MB before it for line
// numbers and open sections, render the window. Reading the bytes from the store is the
// server's part.
func BenchmarkFirstResponse50MB(b *testing.B) {
	log := bigLog()
	r := newRenderer(b, Options{})
	b.ResetTimer()
	for b.Loop() {
		from := r.WindowBefore(int64(len(log)))
		data := log[from:]
		i := Align(data, from)
		st, err := r.Scan(Start, bytes.NewReader(log[:from+int64(i)]))
		if err != nil {
			b.Fatal(err)
		}
		r.Render(st, data[i:], false)
	}
}

// BenchmarkFirstResponse50MBCached is the first response when the server kept a State of
// the job 1 MiB before the window (from an earlier view or its live stream): Scan goes on
// from there.
func BenchmarkFirstResponse50MBCached(b *testing.B) {
	log := bigLog()
	r := newRenderer(b, Options{})
	from := r.WindowBefore(int64(len(log)))
	data := log[from:]
	i := Align(data, from)
	start := from + int64(i)
	cached, err := r.Scan(Start, bytes.NewReader(log[:start-(1<<20)]))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		st, err := r.Scan(cached, bytes.NewReader(log[cached.Offset:start]))
		if err != nil {
			b.Fatal(err)
		}
		r.Render(st, data[i:], false)
	}
}

// BenchmarkScan50MB is the Scan of the first response alone.
func BenchmarkScan50MB(b *testing.B) {
	log := bigLog()
	r := newRenderer(b, Options{})
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Scan(Start, bytes.NewReader(log)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderWindow is the Render of the first response alone (256 KiB).
func BenchmarkRenderWindow(b *testing.B) {
	log := bigLog()
	log = log[len(log)-DefaultWindow:]
	r := newRenderer(b, Options{})
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for b.Loop() {
		r.Render(Start, log, false)
	}
}

// BenchmarkStream is a live stream's throughput, fed 4 KiB at a time as a runner's log
// uploads arrive.
func BenchmarkStream(b *testing.B) {
	log := bigLog()[:8<<20]
	r := newRenderer(b, Options{})
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for b.Loop() {
		s := r.Stream(Start)
		for p := log; len(p) > 0; p = p[min(len(p), 4096):] {
			s.Append(p[:min(len(p), 4096)])
		}
		s.End()
	}
}
