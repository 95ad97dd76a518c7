package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/status"
)

// TestAttackLogWithoutLimit: a job's log had no size cap. Now the server keeps it up to
// Limits.LogSize, ends it with a line saying it was cut, tells the runner (X-Log-Cut) at
// every chunk past the limit, drops those bytes (so a resent chunk changes nothing), and takes
// the final update of the cut log.
func TestAttackLogWithoutLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: ['yes']\n", func(o *Options) { o.Limits.LogSize = 100 })
	id := e.project("app", "")
	e.trigger(id, "main", nil)
	j := e.claim(e.mustRegister("r1"), "build")
	chunk := strings.Repeat("0123456789", 6) // 60 bytes

	if r := e.appendLog(j, 0, chunk); r.status != http.StatusAccepted || r.header.Get(jobapi.HeaderLogCut) != "" {
		t.Fatalf("first chunk: %s, cut %q", r, r.header.Get(jobapi.HeaderLogCut))
	}
	notice := string(logCutNotice(100))
	for _, at := range []int64{60, 60, 120, 120, 500} { // the cut, repeated, and chunks past it
		r := e.appendLog(j, at, chunk)
		if r.status != http.StatusAccepted || r.header.Get(jobapi.HeaderLogCut) != "100" || r.header.Get(jobapi.HeaderLogSize) != fmt.Sprint(at+60) {
			t.Fatalf("chunk at %d: %s, %s %q, %s %q; want 202, cut at 100, the runner's size after the chunk", at, r,
				jobapi.HeaderLogCut, r.header.Get(jobapi.HeaderLogCut), jobapi.HeaderLogSize, r.header.Get(jobapi.HeaderLogSize))
		}
	}
	want := chunk + chunk[:40] + notice
	r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/log", j.ID), adminToken, nil, nil)
	if string(r.body) != want || r.header.Get(jobapi.HeaderLogSize) != fmt.Sprint(len(want)) {
		t.Fatalf("stored log %q (size %s), want %q", r.body, r.header.Get(jobapi.HeaderLogSize), want)
	}
	// The runner produced 560 bytes; the server has all it will keep.
	if r := e.update(j, jobapi.Update{State: status.Success, LogSize: 560}); r.status != http.StatusOK {
		t.Fatalf("final update of a cut log: %s", r)
	}
	if got := e.pipeline(e.pipelines(id)[0].ID).job("build").Status; got != "success" {
		t.Errorf("job %s, want success", got)
	}
}

// TestAttackLogWithoutLimitRunner: the same with a real runner and a job that writes 12 MB
// past a 64 KiB limit: the runner stops sending at the cut (a few chunks, not 48), the job
// runs to its end, and its result is reported.
func TestAttackLogWithoutLimitRunner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script:\n    - seq 1 1500000\n    - echo the job went on > went-on.txt\n    - test -s went-on.txt\n",
		func(o *Options) { o.Limits.LogSize = 64 << 10 })
	id := e.project("app", "")
	p := e.trigger(id, "main", nil)

	var reg jobapi.RegisterResponse
	e.api("POST", "/api/v1/runners", jobapi.RegisterRequest{Version: jobapi.Version, Token: regToken, Name: "real"}, http.StatusCreated, &reg)
	var patches atomic.Int64
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPatch {
			patches.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	sh, err := shell.New(shell.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runner.Run(ctx, runner.Options{
			Config: &runner.Config{URL: e.url, ID: reg.ID, Token: reg.Token, RunUntagged: true,
				BuildsDir: t.TempDir(), CacheDir: t.TempDir()},
			Executors:  func(string) (executor.Executor, error) { return sh, nil },
			HTTPClient: hc, Stop: stop, Wait: time.Second,
		})
	}()
	eventually(t, 60*time.Second, func() (bool, string) {
		j := e.pipeline(p.ID).job("build")
		return j.Status == "success" || j.Status == "failed", "job " + string(j.Status)
	})
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	job := e.pipeline(p.ID).job("build")
	r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/log", job.ID), adminToken, nil, nil)
	if job.Status != "success" {
		t.Fatalf("job %s (%s), want success: the job goes on after the cut; log tail:\n%s", job.Status, job.FailureReason, r.body[max(0, len(r.body)-500):])
	}
	notice := logCutNotice(64 << 10)
	if len(r.body) != 64<<10+len(notice) || !bytes.HasSuffix(r.body, notice) {
		t.Errorf("stored %d bytes ending %q, want %d ending with the notice", len(r.body), r.body[max(0, len(r.body)-200):], 64<<10+len(notice))
	}
	if n := patches.Load(); n > 6 {
		t.Errorf("the runner sent %d log chunks, want it to stop at the cut", n)
	}
}

// roundTripper is a func as an http.RoundTripper.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLogRange: GET /log serves Range and HEAD, from ?offset= when given.
func TestLogRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: ['true']\n")
	id := e.project("app", "")
	e.trigger(id, "main", nil)
	j := e.claim(e.mustRegister("r1"), "build")
	e.appendLog(j, 0, "0123456789")
	path := fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)
	for _, c := range []struct {
		name, query, rng string
		status           int
		body             string
	}{
		{name: "all", status: 200, body: "0123456789"},
		{name: "offset", query: "?offset=4", status: 200, body: "456789"},
		{name: "offset past the end", query: "?offset=40", status: 200, body: ""},
		{name: "range", rng: "bytes=2-4", status: 206, body: "234"},
		{name: "suffix range", rng: "bytes=-3", status: 206, body: "789"},
		{name: "range after offset", query: "?offset=4", rng: "bytes=1-", status: 206, body: "56789"},
		{name: "range past the end", rng: "bytes=20-", status: 416},
	} {
		h := http.Header{}
		if c.rng != "" {
			h.Set("Range", c.rng)
		}
		r := e.do("GET", path+c.query, adminToken, nil, h)
		if r.status != c.status || (c.status < 300 && string(r.body) != c.body) || r.header.Get(jobapi.HeaderLogSize) != "10" {
			t.Errorf("%s: %s (%s %s), want %d %q", c.name, r, jobapi.HeaderLogSize, r.header.Get(jobapi.HeaderLogSize), c.status, c.body)
		}
	}
	r := e.do("HEAD", path, adminToken, nil, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "10" || r.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("HEAD: %s, headers %v", r, r.header)
	}
}

// TestAttackLogReaders: 8 clients read a 1,000,000-line log at once, whole, and 8 more as a
// stream from 0 (from its last MiB under the race detector): each gets every byte, and the
// heap grows by far less than a copy of the log per reader (each read held the whole log: 8 readers of a 75 MB log took 850 MB; see
// bench/README.md for the server's RSS). Not parallel: it measures the process's heap.
func TestAttackLogReaders(t *testing.T) {
	e := newEnv(t, "build:\n  script: ['true']\n")
	id := e.project("app", "")
	e.trigger(id, "main", nil)
	j := e.claim(e.mustRegister("r1"), "build")
	var log bytes.Buffer
	for i := range 1000000 {
		fmt.Fprintf(&log, "line %07d\n", i)
	}
	want := log.Bytes()
	for off := 0; off < len(want); off += 1 << 20 {
		if r := e.appendLog(j, int64(off), string(want[off:min(off+1<<20, len(want))])); r.status != http.StatusAccepted {
			t.Fatalf("append at %d: %s", off, r)
		}
	}
	e.finish(j, status.Success)

	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	from := 0
	if raceEnabled {
		from = len(want) - 1<<20 // the race detector makes the JSON of 12 MiB take seconds a stream
	}
	for range 8 {
		wg.Go(func() { errs <- readLog(e, j.ID, want) })
		wg.Go(func() { errs <- readStream(e, j.ID, want, from) })
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The heap holds the clients' buffers too, and what the package's other tests left for
	// the collector: 3 MiB for each reader and its client is ample, where one copy of the log
	// per reader is 192 MiB (alone, this test measures 18-28 MiB).
	grew := int64(peak.Load()) - int64(base)
	t.Logf("the live heap grew by %d KiB at most while 16 clients read a %d MiB log", grew>>10, len(want)>>20)
	if grew > 16*3<<20 {
		t.Errorf("the live heap grew by %d MiB while 16 clients read a %d MiB log, want under 48 MiB", grew>>20, len(want)>>20)
	}
}

// heapBytes is the live heap as the last garbage collection found it.
func heapBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// matcher checks, as bytes arrive, that they are want.
type matcher struct {
	want []byte
	n    int
}

func (m *matcher) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(m.want[m.n:], p) {
		return 0, fmt.Errorf("bytes at %d differ from the log", m.n)
	}
	m.n += len(p)
	return len(p), nil
}

func (m *matcher) done() error {
	if m.n != len(m.want) {
		return fmt.Errorf("%d bytes, want %d", m.n, len(m.want))
	}
	return nil
}

// readLog reads GET /log of a job and checks it is want, without keeping it.
func readLog(e *env, jobID int64, want []byte) error {
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/log", e.url, jobID), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET log: %s", resp.Status)
	}
	m := &matcher{want: want}
	if _, err := io.Copy(m, resp.Body); err != nil {
		return fmt.Errorf("GET log: %w", err)
	}
	return m.done()
}

// readStream reads the SSE log stream of a finished job from byte from and checks it is
// want[from:].
func readStream(e *env, jobID int64, want []byte, from int) error {
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/log/stream?offset=%d", e.url, jobID, from), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	s := &sseStream{t: e.t, body: resp.Body, br: bufio.NewReader(resp.Body), cancel: func() {}}
	m := &matcher{want: want, n: from}
	for {
		ev, err := s.next()
		if err != nil {
			return fmt.Errorf("stream: %w after %d bytes", err, m.n)
		}
		switch ev.event {
		case "log":
			var d logData
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				return err
			}
			if d.Offset != int64(m.n) {
				return fmt.Errorf("stream: event at %d after %d bytes", d.Offset, m.n)
			}
			if _, err := m.Write([]byte(d.Text)); err != nil {
				return fmt.Errorf("stream: %w", err)
			}
		case "end":
			return m.done()
		}
	}
}
