package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLines is how many lines the job of TestAttackLogReadBy8Clients prints.
const logLines = 1000000

// TestAttackLogReadBy8Clients: a job prints 1,000,000 lines (23 MiB); 8 clients read its log
// at once, 4 whole and 4 as a stream (SSE), from a `slipway server` whose jobs run on a
// separate runner. Each gets every byte (the whole log as one read it first, checked line by
// line; the stream as one decoded it first, checked against the log), and the server's peak
// RSS stays far below a copy of the log per reader (each read held the whole log: 8 readers
// of a 75 MB log took 850 MB; the build before the fix peaks at some 290 MiB here, the fixed
// one at some 60 MiB).
func TestAttackLogReadBy8Clients(t *testing.T) {
	s := newServer(t, "")
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`flood:
  script:
    - awk 'BEGIN { for (i = 0; i < %d; i++) printf "hostile log line %%07d\n", i }'
`, logLines)})
	id := s.project("acme/flood", dir, "")
	s.runner(t)()
	var p pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, &p); code != http.StatusCreated {
		t.Fatalf("trigger: %d", code)
	}
	p = s.wait(p.ID, 3*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if p.Status != "success" {
		t.Fatalf("the job ended %s", p.Status)
	}
	jobID := p.Jobs[0].ID
	stored := vmHWM(t, s)

	// The log as stored: every line once, in order.
	log := s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", jobID))
	output := make([]byte, 0, 24*logLines)
	for i := range logLines {
		output = fmt.Appendf(output, "hostile log line %07d\n", i)
	}
	if !bytes.Contains(log, output) || bytes.Count(log, []byte("\nhostile log line ")) != logLines {
		t.Fatalf("the log (%d bytes) does not hold the job's %d lines once, in order", len(log), logLines)
	}
	// The stream as one client reads it: its text is the log; the others must read the same.
	stream, err := readStream(s, jobID, log)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() { errs <- readWhole(s, jobID, log) })
		wg.Go(func() {
			got, err := hashStream(s, jobID)
			if err == nil && !bytes.Equal(got, stream) {
				err = errors.New("stream: not the bytes of the first stream")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	read := vmHWM(t, s)
	t.Logf("the server's peak RSS: %d MiB once the %d MiB log was stored, %d MiB after 2 clients, then 8 at once, read it", stored>>20, len(log)>>20, read>>20)
	// A copy of the log per reader would be 8 × 23 MiB; reads in blocks cost some MiB each.
	const limit = 150 << 20
	if read > limit {
		t.Errorf("the server's peak RSS reached %d MiB while 8 clients read a %d MiB log, want under %d MiB", read>>20, len(log)>>20, limit>>20)
	}
}

// vmHWM is the server process's peak resident set size, in bytes.
func vmHWM(t *testing.T, s *server) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM: %q", line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/PID/status")
	return 0
}

// logRequest is a GET of path with the admin token.
func logRequest(s *server, path string) (*http.Response, error) {
	req, err := http.NewRequest("GET", s.url()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := attackClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, nil
}

// sameBytes checks, as bytes arrive, that they are want's.
type sameBytes struct {
	want []byte
	n    int
}

func (m *sameBytes) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(m.want[m.n:], p) {
		return 0, fmt.Errorf("the bytes at %d differ from the log", m.n)
	}
	m.n += len(p)
	return len(p), nil
}

func (m *sameBytes) done() error {
	if m.n != len(m.want) {
		return fmt.Errorf("%d bytes, want %d", m.n, len(m.want))
	}
	return nil
}

// readWhole GETs the job's log and checks it is want, without keeping it.
func readWhole(s *server, jobID int64, want []byte) error {
	resp, err := logRequest(s, fmt.Sprintf("/api/v1/jobs/%d/log", jobID))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	m := &sameBytes{want: want}
	if _, err := io.Copy(m, resp.Body); err != nil {
		return fmt.Errorf("GET log: %w", err)
	}
	return m.done()
}

// readStream reads the job's log stream (Server-Sent Events) to its end event, checks that
// its text is want, without keeping it, and returns the digest of the stream as hashStream
// takes it.
func readStream(s *server, jobID int64, want []byte) ([]byte, error) {
	resp, err := logRequest(s, fmt.Sprintf("/api/v1/jobs/%d/log/stream", jobID))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := &sameBytes{want: want}
	h := sha256.New()
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	var event string
	ended := false
	for {
		line, err := streamLine(br, h)
		if errors.Is(err, io.EOF) && ended { // the server closes the stream after its end
			return h.Sum(nil), m.done()
		}
		if err != nil {
			return nil, fmt.Errorf("stream: %w after %d bytes", err, m.n)
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			event = string(bytes.TrimPrefix(line, []byte("event: ")))
		case bytes.HasPrefix(line, []byte("data: ")) && event == "log":
			var d struct {
				Offset int    `json:"offset"`
				Text   string `json:"text"`
			}
			if err := json.Unmarshal(bytes.TrimPrefix(line, []byte("data: ")), &d); err != nil {
				return nil, fmt.Errorf("stream: %w", err)
			}
			if d.Offset != m.n {
				return nil, fmt.Errorf("stream: an event at offset %d after %d bytes", d.Offset, m.n)
			}
			if _, err := m.Write([]byte(d.Text)); err != nil {
				return nil, fmt.Errorf("stream: %w", err)
			}
		case bytes.HasPrefix(line, []byte("data: ")) && event == "end":
			ended = true
		}
	}
}

// hashStream reads the job's log stream to its end and returns its digest: that of its lines
// but comments (keep-alives), cheaper than decoding it (JSON of megabytes under the race
// detector takes seconds).
func hashStream(s *server, jobID int64) ([]byte, error) {
	resp, err := logRequest(s, fmt.Sprintf("/api/v1/jobs/%d/log/stream", jobID))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	for {
		if _, err := streamLine(br, h); errors.Is(err, io.EOF) {
			return h.Sum(nil), nil
		} else if err != nil {
			return nil, fmt.Errorf("stream: %w", err)
		}
	}
}

// streamLine reads a line of an event stream (without its newline) and adds it to h unless
// it is a comment.
func streamLine(br *bufio.Reader, h hash.Hash) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(line, []byte(":")) {
		h.Write(line)
	}
	return bytes.TrimSuffix(line, []byte("\n")), nil
}
