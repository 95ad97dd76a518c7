package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The attacks of the web UI's review (issue 11) that the other page tests do not cover.

// TestAttackPipelineStreamsLimited: the live streams of the pipeline page and the pipelines
// list take the slots of Limits.LogStreams as the job page's do, so that a viewer of a
// public project cannot open streams without bound (each polls the store every second).
func TestAttackPipelineStreamsLimited(t *testing.T) {
	e := newJobEnv(t, buildJob, func(o *Options) { o.Limits.LogStreams = 1 })
	j, err := e.srv.store.Job(context.Background(), e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	pipeline := fmt.Sprintf("/slipway/app/-/pipelines/%d/events", j.PipelineID)
	list := fmt.Sprintf("/slipway/app/-/pipelines/events?id=%d", j.PipelineID)
	ev := e.openEvents(pipeline, "")
	for _, path := range []string{pipeline, list, e.page + "/log/events"} {
		if code, retry := e.streamStatus(path); code != http.StatusTooManyRequests || retry == "" {
			t.Errorf("%s while a pipeline stream is open: %d (Retry-After %q), want 429 with Retry-After", path, code, retry)
		}
	}
	ev.close()
	// The slot is given back when the stream's viewer leaves.
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := e.streamStatus(list); code != http.StatusOK; code, _ = e.streamStatus(list) {
		if time.Now().After(deadline) {
			t.Fatal("the pipeline stream's slot was not given back after its viewer left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamStatus is the status and Retry-After of a GET of the stream at path by the
// reporter; the stream is left at once.
func (e *jobEnv) streamStatus(path string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.cookie})
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}
