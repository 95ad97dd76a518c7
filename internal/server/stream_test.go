package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event, data string
}

// sseStream is an open log stream.
type sseStream struct {
	t      *testing.T
	body   io.ReadCloser
	br     *bufio.Reader
	cancel context.CancelFunc
}

// openStream opens GET /api/v1/jobs/{id}/log/stream, with Last-Event-ID when lastID is set.
func (e *env) openStream(jobID int64, query, lastID string) *sseStream {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/log/stream%s", e.url, jobID, query), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		cancel()
		e.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{t: e.t, body: resp.Body, br: bufio.NewReader(resp.Body), cancel: cancel}
	e.t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	_ = s.body.Close()
}

// next reads the next event that has a type (skipping the retry: preamble and comments);
// io.EOF when the stream ended.
func (s *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.event != "" {
				return ev, nil
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				if ev.data != "" {
					ev.data += "\n"
				}
				ev.data += value
			}
		}
	}
}

// want reads the next event and checks it.
func (s *sseStream) want(event, id string, data any) {
	s.t.Helper()
	ev, err := s.next()
	if err != nil {
		s.t.Fatalf("read event: %v", err)
	}
	b, _ := json.Marshal(data)
	var got, want any
	_ = json.Unmarshal(b, &want)
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil || ev.event != event || ev.id != id || !reflect.DeepEqual(got, want) {
		s.t.Fatalf("event %+v, want event %s id %s data %s", ev, event, id, b)
	}
}

type logData struct {
	Offset int64  `json:"offset"`
	Text   string `json:"text"`
}

type endData struct {
	Status string `json:"status"`
	Size   int64  `json:"size"`
}

func TestLogStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	pid := e.project("demo", "")
	e.trigger(pid, "main", nil)
	j := e.claim(e.mustRegister("r1"), "build")

	if r := e.appendLog(j, 0, "line one\n"); r.status != http.StatusAccepted {
		t.Fatal(r)
	}
	s := e.openStream(j.ID, "", "")
	s.want("log", "9", logData{0, "line one\n"})
	if r := e.appendLog(j, 9, "line two\n"); r.status != http.StatusAccepted {
		t.Fatal(r)
	}
	s.want("log", "18", logData{9, "line two\n"})
	s.close()

	// A reconnect replays from the last event id, exactly.
	s = e.openStream(j.ID, "", "4")
	s.want("log", "18", logData{4, " one\nline two\n"})
	// ?offset= does the same for clients that cannot set the header.
	q := e.openStream(j.ID, "?offset=13", "")
	q.want("log", "18", logData{13, " two\n"})
	q.close()

	if r := e.update(j, jobapi.Update{State: status.Success, LogSize: 18}); r.status != http.StatusOK {
		t.Fatal(r)
	}
	s.want("end", "18", endData{"success", 18})
	if ev, err := s.next(); err != io.EOF {
		t.Errorf("after the end event: %+v, %v; want EOF", ev, err)
	}

	// A finished job's stream sends the rest and ends.
	s = e.openStream(j.ID, "", "9")
	s.want("log", "18", logData{9, "line two\n"})
	s.want("end", "18", endData{"success", 18})
}

func TestBadgesAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: echo\n  coverage: '/(\\d+)%/'\n")
	pid := e.project("demo", "")
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"visibility": "public"}, http.StatusOK, nil)

	badge := func(path, want string) {
		t.Helper()
		r := e.do("GET", path, "", nil, nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("GET %s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
		if !strings.Contains(string(r.body), ">"+want+"</text>") || !strings.HasPrefix(string(r.body), "<svg") {
			t.Errorf("GET %s: want %q in\n%s", path, want, r.body)
		}
	}
	metrics := func(want ...string) {
		t.Helper()
		r := e.do("GET", "/metrics", "", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("metrics: %s", r)
		}
		for _, w := range want {
			if !strings.Contains(string(r.body), "\n"+w+"\n") {
				t.Errorf("metrics lack %q", w)
			}
		}
	}

	badge("/slipway/demo/badge.svg", "unknown")
	badge("/slipway/nope/badge.svg", "unknown")
	badge("/slipway/demo/coverage.svg", "unknown")

	e.trigger(pid, "main", nil)
	runner := e.mustRegister("r1")
	metrics(`slipway_jobs{status="pending"} 1`, `slipway_jobs{status="running"} 0`, `slipway_runners{online="false"} 1`,
		`slipway_pipelines_created_total 1`)
	badge("/slipway/demo/badge.svg", "pending")

	j := e.claim(runner, "build")
	metrics(`slipway_jobs{status="pending"} 0`, `slipway_jobs{status="running"} 1`, `slipway_runners{online="true"} 1`)
	cov := 87.5
	if r := e.update(j, jobapi.Update{State: status.Success, Coverage: &cov}); r.status != http.StatusOK {
		t.Fatal(r)
	}
	metrics(`slipway_jobs{status="success"} 1`, `slipway_job_duration_seconds_count{status="success"} 1`)
	badge("/slipway/demo/badge.svg", "passed")
	badge("/slipway/demo/badge.svg?ref=main", "passed")
	badge("/slipway/demo/badge.svg?ref=other", "unknown")
	badge("/slipway/demo/coverage.svg", "87.50%")
}

// TestAttackPrivateBadge: the badge of a private project told anyone its status (and that it
// exists); now it reads as one that does not exist, but to a member signed in.
func TestAttackPrivateBadge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: echo\n")
	pid := e.project("demo", "")
	e.trigger(pid, "main", nil)
	unknown := e.do("GET", "/slipway/nope/badge.svg", "", nil, nil)
	dev := e.user("dev", "password one", false)
	e.user("other", "password two", false)
	e.member(pid, dev, "reporter")
	for _, tc := range []struct {
		name, cookie, want string
	}{
		{"anonymous", "", "unknown"},
		{"another user signed in", e.login("other", "password two"), "unknown"},
		{"a member signed in", e.login("dev", "password one"), "pending"},
	} {
		r := e.getWithCookie("/slipway/demo/badge.svg", tc.cookie)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), ">"+tc.want+"</text>") {
			t.Errorf("%s: %d %s, want %q", tc.name, r.status, r.body, tc.want)
		}
		if tc.want == "unknown" && string(r.body) != string(unknown.body) {
			t.Errorf("%s: the private project's badge differs from a missing project's", tc.name)
		}
	}
}
