package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
)

const stagesCI = `
stages: [build, test, deploy]
build:
  stage: build
  script: echo build
unit:
  stage: test
  script: echo unit
lint:
  stage: test
  script: echo lint
deploy:
  stage: deploy
  script: echo deploy
  when: manual
`

// wantStatuses checks the statuses of a pipeline's current jobs.
func wantStatuses(t *testing.T, p pipelineJSON, want map[string]status.Status) {
	t.Helper()
	got := p.statuses()
	for name, st := range want {
		if got[name] != st {
			t.Errorf("pipeline %d: job %s is %q, want %q (all: %v)", p.ID, name, got[name], st, got)
		}
	}
}

// TestPipelineLifecycle drives a pipeline through the runner protocol by hand: stage by
// stage, logs with a resent chunk and a gap, job tokens that die with their job, a manual
// job played, and a running job canceled.
func TestPipelineLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stagesCI)
	pid := e.project("demo", "")
	created := e.trigger(pid, "main", map[string]string{"GREETING": "hello"})
	if created.ID == 0 || created.Ref != "main" || created.SHA != e.head() || created.Source != "api" {
		t.Fatalf("created pipeline %+v", created)
	}
	p := e.pipeline(created.ID)
	var names []string
	for _, j := range p.Jobs {
		names = append(names, j.Name+"@"+j.Stage)
		if j.ID == 0 {
			t.Errorf("job %s has no id", j.Name)
		}
	}
	if got := strings.Join(names, " "); got != "build@build unit@test lint@test deploy@deploy" {
		t.Errorf("jobs %s", got)
	}
	wantStatuses(t, p, map[string]status.Status{"build": "pending", "unit": "created", "lint": "created", "deploy": "created"})
	if p.Status != "pending" {
		t.Errorf("new pipeline is %s, want pending", p.Status)
	}

	runner := e.mustRegister("r1")
	build := e.claim(runner, "build")
	if build.ID != p.job("build").ID || !strings.HasPrefix(build.Token, "slj_") {
		t.Fatalf("claimed %d with token %q, want job %d", build.ID, build.Token, p.job("build").ID)
	}
	vars := map[string]string{}
	for _, v := range build.Spec.Variables {
		vars[v.Key] = v.Value
	}
	if vars["GREETING"] != "hello" || vars["CI_JOB_TOKEN"] != build.Token || vars["CI_COMMIT_SHA"] != e.head() {
		t.Errorf("job variables GREETING=%q CI_JOB_TOKEN=%q CI_COMMIT_SHA=%q", vars["GREETING"], vars["CI_JOB_TOKEN"], vars["CI_COMMIT_SHA"])
	}
	if build.Git.SHA != e.head() || build.Git.URL != fmt.Sprintf("%s/api/v1/git/%d.git", e.url, pid) {
		t.Errorf("job git %+v", build.Git)
	}
	wantStatuses(t, e.pipeline(p.ID), map[string]status.Status{"build": "running", "unit": "created"})
	e.waitPipeline(p.ID, "running") // a claim starts its pipeline

	// The job token fetches the project's git while the job runs.
	gitRefs := func() int {
		r := e.do("GET", fmt.Sprintf("/api/v1/git/%d.git/info/refs?service=git-upload-pack", pid), "", nil,
			http.Header{"Authorization": {basicAuth(jobapi.GitUser, build.Token)}})
		return r.status
	}
	if st := gitRefs(); st != http.StatusOK {
		t.Errorf("git info/refs with the running job's token: %d, want 200", st)
	}

	logSteps := []struct {
		name   string
		offset int64
		data   string
		status int
		size   string
	}{
		{"first chunk", 0, "hello ", http.StatusAccepted, "6"},
		{"resent overlapping chunk", 3, "lo world\n", http.StatusAccepted, "12"},
		{"same chunk again", 3, "lo world\n", http.StatusAccepted, "12"},
		{"gap", 20, "lost", http.StatusRequestedRangeNotSatisfiable, "12"},
		{"empty chunk at the end", 12, "", http.StatusAccepted, "12"},
	}
	for _, s := range logSteps {
		r := e.appendLog(build, s.offset, s.data)
		if r.status != s.status || r.header.Get(jobapi.HeaderLogSize) != s.size {
			t.Errorf("%s: got %s with X-Log-Size %q, want %d with %s", s.name, r, r.header.Get(jobapi.HeaderLogSize), s.status, s.size)
		}
	}
	if r := e.do("PATCH", jobapi.PathLog(build.ID), build.Token, "x", http.Header{"Content-Range": {"bytes=0-0"}}); r.status != http.StatusBadRequest {
		t.Errorf("bad Content-Range: %s, want 400", r)
	}
	if r := e.update(build, jobapi.Update{State: status.Running}); r.status != http.StatusOK || !strings.Contains(string(r.body), `"cancel":false`) {
		t.Errorf("heartbeat: %s", r)
	}
	r := e.update(build, jobapi.Update{State: status.Success, LogSize: 20})
	if r.status != http.StatusConflict || r.header.Get(jobapi.HeaderLogSize) != "12" {
		t.Errorf("final update before the whole log: %s, X-Log-Size %q; want 409 with 12", r, r.header.Get(jobapi.HeaderLogSize))
	}
	if got := e.pipeline(p.ID).job("build").Status; got != "running" {
		t.Errorf("after a refused final update the job is %s, want running", got)
	}
	if r := e.update(build, jobapi.Update{State: status.Success, LogSize: 12}); r.status != http.StatusOK {
		t.Fatalf("final update: %s", r)
	}

	log := e.api("GET", fmt.Sprintf("/api/v1/jobs/%d/log", build.ID), nil, http.StatusOK, nil)
	if string(log.body) != "hello world\n" || log.header.Get("X-Job-Status") != "success" || log.header.Get(jobapi.HeaderLogSize) != "12" {
		t.Errorf("log %q, status %q, size %q", log.body, log.header.Get("X-Job-Status"), log.header.Get(jobapi.HeaderLogSize))
	}
	if log := e.api("GET", fmt.Sprintf("/api/v1/jobs/%d/log?offset=6", build.ID), nil, http.StatusOK, nil); string(log.body) != "world\n" {
		t.Errorf("log from offset 6: %q", log.body)
	}

	// The token died with the job: the runner is told its lease is lost (403).
	for _, tc := range []struct {
		name string
		r    *reply
	}{
		{"log chunk", e.appendLog(build, 12, "late")},
		{"heartbeat", e.update(build, jobapi.Update{State: status.Running})},
		{"final update again", e.update(build, jobapi.Update{State: status.Success, LogSize: 12})},
	} {
		if tc.r.status != http.StatusForbidden {
			t.Errorf("%s with a finished job's token: %s, want 403", tc.name, tc.r)
		}
	}
	if st := gitRefs(); st != http.StatusUnauthorized {
		t.Errorf("git info/refs with a finished job's token: %d, want 401", st)
	}

	// The next stage.
	p = e.pipeline(p.ID)
	wantStatuses(t, p, map[string]status.Status{"build": "success", "unit": "pending", "lint": "pending", "deploy": "created"})
	unit := e.claim(runner, "unit")
	lint := e.claim(runner, "lint")
	if r := e.do("PUT", jobapi.PathJob(unit.ID), lint.Token, jobapi.Update{State: status.Running}, nil); r.status != http.StatusForbidden {
		t.Errorf("heartbeat of job %d with job %d's token: %s, want 403", unit.ID, lint.ID, r)
	}
	e.finish(unit, status.Success)
	wantStatuses(t, e.pipeline(p.ID), map[string]status.Status{"unit": "success", "lint": "running", "deploy": "created"})
	e.finish(lint, status.Success)

	// A manual job waits until played.
	p = e.pipeline(p.ID)
	wantStatuses(t, p, map[string]status.Status{"lint": "success", "deploy": "manual"})
	if j, err := e.request(runner); err != nil || j != nil {
		t.Fatalf("a manual job was handed out: %+v, %v", j, err)
	}
	deployID := p.job("deploy").ID
	var played jobJSON
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/play", deployID), nil, http.StatusOK, &played)
	if played.Status != "pending" {
		t.Errorf("played job is %s, want pending", played.Status)
	}
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/play", deployID), nil, http.StatusConflict, nil)

	// Canceling a running job is seen on its next heartbeat.
	deploy := e.claim(runner, "deploy")
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", deploy.ID), nil, http.StatusOK, nil)
	r = e.update(deploy, jobapi.Update{State: status.Running})
	var hb jobapi.UpdateResponse
	if r.status != http.StatusOK || json.Unmarshal(r.body, &hb) != nil || !hb.Cancel {
		t.Fatalf("heartbeat after cancel: %s, want cancel:true", r)
	}
	e.finish(deploy, status.Canceled)
	p = e.pipeline(p.ID)
	wantStatuses(t, p, map[string]status.Status{"build": "success", "unit": "success", "lint": "success", "deploy": "canceled"})
	if p.Status != "success" && p.Status != "canceled" {
		t.Errorf("pipeline is %s, want final", p.Status)
	}
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", deploy.ID), nil, http.StatusConflict, nil)

	// The project's pipelines, newest first.
	e.trigger(pid, "main", nil)
	ps := e.pipelines(pid)
	if len(ps) != 2 || ps[0].ID <= ps[1].ID || ps[1].ID != p.ID {
		t.Errorf("pipelines %+v: want 2, newest first", ps)
	}
}

func basicAuth(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestRetryFailedJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
stages: [test, deploy]
flaky:
  stage: test
  script: exit 1
after:
  stage: deploy
  script: echo after
`)
	pid := e.project("demo", "")
	p := e.trigger(pid, "main", nil)
	runner := e.mustRegister("r1")
	first := e.claim(runner, "flaky")
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/retry", first.ID), nil, http.StatusConflict, nil) // still running
	e.finish(first, status.Failed)
	got := e.pipeline(p.ID)
	if got.Status != "failed" || got.job("flaky").FailureReason != status.ScriptFailure {
		t.Fatalf("after the failure: pipeline %s, job %+v", got.Status, got.job("flaky"))
	}
	wantStatuses(t, got, map[string]status.Status{"flaky": "failed", "after": "skipped"})

	var retry jobJSON
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/retry", first.ID), nil, http.StatusCreated, &retry)
	if retry.ID == first.ID || retry.Name != "flaky" || retry.Status != "pending" || retry.Attempt != 2 {
		t.Errorf("retry %+v: want a new pending attempt 2", retry)
	}
	e.api("POST", fmt.Sprintf("/api/v1/jobs/%d/retry", first.ID), nil, http.StatusConflict, nil) // retried already

	got = e.pipeline(p.ID)
	if j := got.job("flaky"); j.ID != retry.ID || j.Status != "pending" {
		t.Errorf("current flaky job %+v, want %d pending", j, retry.ID)
	}
	if len(got.Retried) != 1 || got.Retried[0].ID != first.ID || got.Retried[0].Status != "failed" || !got.Retried[0].Retried {
		t.Errorf("retried jobs %+v, want job %d, failed", got.Retried, first.ID)
	}
	if store := got.Status; store == "failed" {
		t.Errorf("pipeline still failed with a retry pending")
	}
	second := e.claim(runner, "flaky")
	if second.ID != retry.ID {
		t.Fatalf("claimed %d, want the retry %d", second.ID, retry.ID)
	}
	e.finish(second, status.Success)
}

func TestTriggerPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
workflow:
  rules:
    - if: $NOPE == "1"
      when: never
    - when: always
build:
  script: echo build
`)
	pid := e.project("demo", "")
	tests := []struct {
		name   string
		body   any
		status int
		errHas string
	}{
		{"runs", map[string]any{"ref": "main", "variables": map[string]any{"NOPE": "0", "N": 3, "B": true}}, http.StatusCreated, ""},
		{"default branch", map[string]any{}, http.StatusCreated, ""},
		{"workflow rules exclude it", map[string]any{"ref": "main", "variables": map[string]string{"NOPE": "1"}}, http.StatusBadRequest, "no pipeline"},
		{"unknown ref", map[string]any{"ref": "nope"}, http.StatusBadRequest, "nope"},
		{"bad variable key", map[string]any{"variables": map[string]string{"A-B": "x"}}, http.StatusBadRequest, "A-B"},
		{"variable not a string", map[string]any{"variables": map[string]any{"A": []int{1}}}, http.StatusBadRequest, "want a string"},
		{"unknown field", map[string]any{"refs": "main"}, http.StatusBadRequest, "bad JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", pid), adminToken, tc.body, nil)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.errHas) {
				t.Errorf("got %s, want %d with %q", r, tc.status, tc.errHas)
			}
		})
	}
	e.api("POST", "/api/v1/projects", map[string]string{"name": "demo", "clone_url": e.repo}, http.StatusConflict, nil)
	e.api("POST", "/api/v1/projects", map[string]string{"name": "bad path/x/y", "clone_url": e.repo}, http.StatusBadRequest, nil)
	e.api("POST", "/api/v1/projects", map[string]string{"name": "noclone"}, http.StatusBadRequest, nil)
}

// TestMissedHeartbeats claims a job and never sends a heartbeat: it fails as a runner
// system failure within a few heartbeats, and is retried when retry: says so.
func TestMissedHeartbeats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ci    string
		retry bool
	}{
		{"no retry", "lost:\n  script: echo\n", false},
		{"retry on runner_system_failure", "lost:\n  script: echo\n  retry:\n    max: 1\n    when: [runner_system_failure]\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.ci, func(o *Options) { o.Heartbeat = 100 * time.Millisecond })
			pid := e.project("demo", "")
			p := e.trigger(pid, "main", nil)
			j := e.claim(e.mustRegister("r1"), "lost")
			start := time.Now()
			var got pipelineJSON
			eventually(t, 5*time.Second, func() (bool, string) {
				got = e.pipeline(p.ID)
				lost := got.job("lost")
				if tc.retry && len(got.Retried) > 0 {
					lost = got.Retried[0]
				}
				// The pipeline and its jobs are read apart: wait for both.
				settled := tc.retry || got.Status == "failed"
				return lost.ID == j.ID && lost.Status == "failed" && settled,
					fmt.Sprintf("pipeline %s, job %d: %+v, retried %+v", got.Status, j.ID, got.Jobs, got.Retried)
			})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the lost job failed after %v; its lease is 300ms", d)
			}
			failed := got.job("lost")
			if tc.retry {
				failed = got.Retried[0]
				if n := got.job("lost"); n.ID == j.ID || n.Status != "pending" || n.Attempt != 2 {
					t.Errorf("next attempt %+v, want pending attempt 2", n)
				}
			} else if got.Status != "failed" {
				t.Errorf("pipeline is %s, want failed: %+v", got.Status, got)
			}
			if failed.FailureReason != status.RunnerSystemFailure {
				t.Errorf("failure reason %q, want %q", failed.FailureReason, status.RunnerSystemFailure)
			}
			if r := e.update(j, jobapi.Update{State: status.Running}); r.status != http.StatusForbidden {
				t.Errorf("heartbeat of the lost job: %s, want 403 (lease lost)", r)
			}
		})
	}
}

// TestRepeatedClaim repeats a job request with the same key, as a runner does when the
// answer was lost: it gets the same job, with a token that works.
func TestRepeatedClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	pid := e.project("demo", "")
	e.trigger(pid, "main", nil)
	runner := e.mustRegister("r1")
	req := jobapi.JobRequest{Version: jobapi.Version, Key: "same", WaitSeconds: 0.2}
	var jobs []jobapi.Job
	for range 2 {
		var j jobapi.Job
		r := e.do("POST", jobapi.PathRequest, runner, req, nil)
		if r.status != http.StatusCreated || json.Unmarshal(r.body, &j) != nil {
			t.Fatalf("request: %s", r)
		}
		jobs = append(jobs, j)
	}
	if jobs[0].ID != jobs[1].ID {
		t.Fatalf("the repeated request got job %d, the first %d", jobs[1].ID, jobs[0].ID)
	}
	if r := e.update(&jobs[1], jobapi.Update{State: status.Running}); r.status != http.StatusOK {
		t.Errorf("heartbeat with the repeated claim's token: %s, want 200", r)
	}
}

// TestConcurrentClaims has 8 runners take the 50 jobs of parallel: 50 at once: each job is
// claimed exactly once.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "many:\n  parallel: 50\n  script: echo\n")
	pid := e.project("demo", "")
	p := e.trigger(pid, "main", nil)
	if n := len(e.pipeline(p.ID).Jobs); n != 50 {
		t.Fatalf("%d jobs, want 50", n)
	}
	var (
		mu     sync.Mutex
		claims = map[int64][]string{}
		wg     sync.WaitGroup
	)
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("runner-%d", i)
			tok, err := e.register(name)
			if err != nil {
				t.Error(err)
				return
			}
			for {
				j, err := e.request(tok)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				if j == nil {
					return
				}
				mu.Lock()
				claims[j.ID] = append(claims[j.ID], name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := e.pipeline(p.ID)
	for _, j := range got.Jobs {
		if c := claims[j.ID]; len(c) != 1 {
			t.Errorf("job %d (%s) claimed by %v, want exactly one runner", j.ID, j.Name, c)
		}
		if j.Status != "running" {
			t.Errorf("job %s is %s, want running", j.Name, j.Status)
		}
	}
	if len(claims) != 50 {
		ids := make([]int64, 0, len(claims))
		for id := range claims {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		t.Errorf("claimed %d jobs, want 50: %v", len(claims), ids)
	}
}
