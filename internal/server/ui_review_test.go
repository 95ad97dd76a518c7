package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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

// TestAttackPrivateArtifactsToReporter: a job's `artifacts: public: false` keeps its
// artifacts from reporters (and anonymous viewers of a public project), as on GitLab: the
// job page does not list them and their download links are not found; a developer has them.
func TestAttackPrivateArtifactsToReporter(t *testing.T) {
	e := newJobEnv(t, "build:\n  script: [make]\n  artifacts:\n    public: false\n    paths: [secret.txt]\n")
	e.uploadArchive(tarGz(t, tarEntry{name: "secret.txt", body: "the-secret"}))
	if r := e.get(e.page); r.status != http.StatusOK || strings.Contains(string(r.body), "secret.txt") ||
		strings.Contains(string(r.body), "/artifacts/download") {
		t.Errorf("the reporter's job page lists private artifacts: %s", r)
	}
	for _, p := range []string{"/artifacts/file/secret.txt", "/artifacts/download"} {
		if r := e.get(e.page + p); r.status != http.StatusNotFound || strings.Contains(string(r.body), "the-secret") {
			t.Errorf("reporter gets %s: %s, want 404", p, r)
		}
	}
	uid := e.user("dev", "password-dev", false)
	e.member(e.pid, uid, "developer")
	dev := e.login("dev", "password-dev")
	if r := e.getWithCookie(e.page+"/artifacts/file/secret.txt", dev); r.status != http.StatusOK || string(r.body) != "the-secret" {
		t.Errorf("developer gets the private artifact: %s", r)
	}
}

// TestAttackPrivateArtifactsThroughAPI: the API's download gave a reporter (session or
// personal token) the artifacts of a job with artifacts: public: false, which the job page
// hides; a developer and the job tokens of jobs that need them still get them.
func TestAttackPrivateArtifactsThroughAPI(t *testing.T) {
	e := newJobEnv(t, "build:\n  script: [make]\n  artifacts:\n    public: false\n    paths: [secret.txt]\n")
	e.uploadArchive(tarGz(t, tarEntry{name: "secret.txt", body: "the-secret"}))
	api := fmt.Sprintf("/api/v1/jobs/%d/artifacts", e.job.ID)
	if r := e.get(api); r.status != http.StatusNotFound {
		t.Errorf("a reporter's session: %s, want 404", r)
	}
	uid := e.user("dev", "password-dev", false)
	e.member(e.pid, uid, "developer")
	if r := e.getWithCookie(api, e.login("dev", "password-dev")); r.status != http.StatusOK {
		t.Errorf("a developer's session: %d, want 200", r.status)
	}
	if r := e.do("GET", api, adminToken, nil, nil); r.status != http.StatusOK {
		t.Errorf("the admin token: %d, want 200", r.status)
	}
}
