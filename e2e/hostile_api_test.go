package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The attacks of issue 9 on the API of `slipway server`, each once (hostile_test.go runs the
// job-level ones on every kind of runner).

// TestAttackProtectedVariablesThroughTriggerAPI: a job of a feature branch calls the pipeline
// API with its own CI_JOB_TOKEN, naming main with its commit's SHA, a tag that does not exist
// (with and without the SHA) and its SHA as a ref, to run its commit with the protected
// variables. Every call is refused, and no pipeline of the feature commit gets them; what the
// token may do, run main as it is, still works, but without main's protected variables: a job
// token of an unprotected pipeline makes only unprotected pipelines (else a feature branch
// could run main with pipeline variables of its choosing, such as BASH_ENV, beside main's
// secrets).
func TestAttackProtectedVariablesThroughTriggerAPI(t *testing.T) {
	s, _ := newShellServer(t, nil)
	const ci = `show:
  script:
    - echo "DEPLOY_KEY=[${DEPLOY_KEY:-none}] ref=$CI_COMMIT_REF_NAME protected=$CI_COMMIT_REF_PROTECTED"
steal:
  rules:
    - if: $CI_COMMIT_REF_NAME == "feature"
  script:
    - |
      try() {
        if busybox wget -q -O /dev/null --header "Authorization: Bearer $CI_JOB_TOKEN" --header "Content-Type: application/json" --post-data "$2" "$CI_API_V4_URL/projects/$CI_PROJECT_ID/pipelines" 2> err.txt; then
          echo "TRIED $1: created"
        else
          echo "TRIED $1: $(cat err.txt)"
        fi
      }
      try main-with-sha "{\"ref\":\"main\",\"sha\":\"$CI_COMMIT_SHA\"}"
      try tag-with-sha "{\"ref\":\"v9.9.9\",\"tag\":true,\"sha\":\"$CI_COMMIT_SHA\"}"
      try made-up-tag "{\"ref\":\"v9.9.9\",\"tag\":true}"
      try made-up-ref "{\"ref\":\"v9.9.9\"}"
      try sha-as-ref "{\"ref\":\"$CI_COMMIT_SHA\"}"
      try revision "{\"ref\":\"feature~0\"}"
      try main "{\"ref\":\"main\"}"
`
	dir, mainSHA := repo(t, map[string]string{".gitlab-ci.yml": ci})
	gitIn(t, dir, "checkout", "-q", "-b", "feature")
	writeFiles(t, dir, map[string]string{"evil.sh": "env\n"})
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-qm", "feature")
	featureSHA := gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "checkout", "-q", "main")
	id := s.project("acme/app", dir, "")
	secret := "main-only-" + rand.Text()
	if code := s.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/DEPLOY_KEY", id), map[string]any{"value": secret, "protected": true}, nil); code != http.StatusNoContent {
		t.Fatalf("set the protected variable: %d", code)
	}

	var feature pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "feature"}, &feature); code != http.StatusCreated {
		t.Fatalf("trigger feature: %d", code)
	}
	feature = s.wait(feature.ID, 2*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	steal := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", jobID(t, feature, "steal"))))
	for _, try := range []string{"main-with-sha", "tag-with-sha", "made-up-tag", "made-up-ref", "sha-as-ref", "revision"} {
		if !strings.Contains(steal, "\nTRIED "+try+": wget: server returned error: HTTP/1.1 400 Bad Request\n") {
			t.Errorf("the job's call %s was not refused with 400:\n%s", try, steal)
		}
	}
	if !strings.Contains(steal, "\nTRIED main: created\n") {
		t.Errorf("the job token may no longer trigger main:\n%s", steal)
	}

	// Every pipeline the project has ends; only those of main's commit have the variable.
	var list []pipelineView
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), nil, &list)
		done := 0
		for _, p := range list {
			if final(p.Status) {
				done++
			}
		}
		if done == len(list) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipelines still running after 2 minutes: %+v", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list) != 2 {
		t.Errorf("%d pipelines, want the feature's and main's the job triggered: %+v", len(list), list)
	}
	for _, p := range list {
		p = s.wait(p.ID, time.Minute, func(p pipelineView) bool { return final(p.Status) })
		show := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", jobID(t, p, "show"))))
		switch p.SHA {
		case featureSHA:
			if p.Ref != "feature" || strings.Contains(show, secret) || !strings.Contains(show, "\nDEPLOY_KEY=[none] ref=feature protected=false\n") {
				t.Errorf("pipeline %d of the feature commit (ref %s):\n%s", p.ID, p.Ref, show)
			}
		case mainSHA:
			if p.Ref != "main" || p.Source != "pipeline" || strings.Contains(show, secret) || !strings.Contains(show, "\nDEPLOY_KEY=[none] ref=main protected=false\n") {
				t.Errorf("main's pipeline %d (ref %s, source %s), triggered by the feature's job token, is not unprotected:\n%s", p.ID, p.Ref, p.Source, show)
			}
		default:
			t.Errorf("pipeline %d of an unknown commit %s", p.ID, p.SHA)
		}
	}
}

// TestAttackIncludeProjectAcrossNamespaces: a project includes files of a project of another
// namespace that does not allow it, by webhook and through the API. Both refuse with a
// configuration error that is the same as for a project that does not exist, and holds none
// of the other project's content; an include of a project of its own namespace still works.
func TestAttackIncludeProjectAcrossNamespaces(t *testing.T) {
	s, _ := newShellServer(t, nil)
	otherDir, _ := repo(t, map[string]string{
		".gitlab-ci.yml": "x:\n  script: ['true']\n",
		"ci/jobs.yml":    "leaked:\n  script: [echo TOPSECRET-JOB]\n",
		"ci/broken.yml":  "key: [TOPSECRET-BROKEN\n",
	})
	s.project("other/secret", otherDir, "")
	libDir, _ := repo(t, map[string]string{
		".gitlab-ci.yml": "x:\n  script: ['true']\n",
		"ci/lib.yml":     "from-lib:\n  script: [echo FROM-LIB]\n",
	})
	s.project("acme/lib", libDir, "")
	appDir, _ := repo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: ['true']\n"})
	const hookSecret = "include-hook-secret"
	app := s.project("acme/app", appDir, hookSecret)

	// include commits a configuration including file of project, and returns the answers
	// of a webhook of that commit (which must have status hookCode) and of a trigger
	// through the API.
	n := 0
	include := func(project, file string, hookCode int) (hook, api string, apiCode int) {
		t.Helper()
		n++
		writeFiles(t, appDir, map[string]string{".gitlab-ci.yml": fmt.Sprintf("include:\n  - project: %s\n    file: %s\nbuild:\n  script: ['true']\n", project, file)})
		gitIn(t, appDir, "commit", "-qam", "include "+project)
		code, body := s.githubPush(app, hookSecret, fmt.Sprintf("include-%d", n), gitIn(t, appDir, "rev-parse", "HEAD"))
		if code != hookCode {
			t.Errorf("webhook including %s %s: %d %s", project, file, code, body)
		}
		apiCode, answer := s.call("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", app), map[string]any{"ref": "main"})
		return body, string(answer), apiCode
	}
	absentHook, absentAPI, _ := include("other/nothing", "ci/jobs.yml", http.StatusOK)
	if !strings.Contains(absentAPI, `include:project \"other/nothing\"`) {
		t.Errorf("the error does not name the include: %s", absentAPI)
	}
	for _, file := range []string{"ci/jobs.yml", "ci/broken.yml", "ci/missing.yml"} {
		hook, api, code := include("other/secret", file, http.StatusOK)
		if code != http.StatusBadRequest {
			t.Errorf("trigger with an include of %s of other/secret: %d %s", file, code, api)
		}
		like := strings.NewReplacer("other/nothing", "other/secret", "ci/jobs.yml", file)
		for _, c := range []struct{ how, got, absent string }{{"webhook", hook, absentHook}, {"API", api, absentAPI}} {
			if strings.Contains(c.got, "TOPSECRET") {
				t.Errorf("%s: the error shows the other project's content: %s", c.how, c.got)
			}
			if want := like.Replace(c.absent); c.got != want {
				t.Errorf("%s: an include of %s of a project that does not allow it says\n%s\nwhere one that does not exist says\n%s", c.how, file, c.got, want)
			}
		}
	}
	var list []pipelineView
	s.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", app), nil, &list)
	if len(list) != 0 {
		t.Errorf("the refused includes made pipelines: %+v", list)
	}

	// What worked before: a project of its own namespace.
	if _, api, code := include("acme/lib", "ci/lib.yml", http.StatusCreated); code != http.StatusCreated {
		t.Fatalf("include of a project of the same namespace: %d %s", code, api)
	}
	s.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", app), nil, &list)
	if len(list) != 2 {
		t.Fatalf("pipelines %+v, want the webhook's and the API's", list)
	}
	p := s.wait(list[0].ID, 2*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if log := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", jobID(t, p, "from-lib")))); p.Status != "success" || !strings.Contains(log, "\nFROM-LIB\n") {
		t.Errorf("the included job: pipeline %s\n%s", p.Status, log)
	}
}

// hugeConfig is a configuration of 58,000 jobs, some 10 MB.
func hugeConfig() string {
	var b strings.Builder
	pad := strings.Repeat("x", 136)
	for i := range 58000 {
		fmt.Fprintf(&b, "job_%05d:\n  script:\n    - echo %s\n  tags: [linux]\n", i, pad)
	}
	return b.String()
}

// TestAttackHugeConfigWebhook: a 10 MB configuration of 58,000 jobs, pushed by webhook
// (several deliveries at once), took 43 s and 2.4 GB while other projects' running jobs lost
// their leases. It is refused for its size with a configuration error, and a job of another
// project that runs meanwhile keeps its lease and succeeds.
func TestAttackHugeConfigWebhook(t *testing.T) {
	marks := writableTempDir(t)
	s, _ := newShellServer(t, nil)
	huge := hugeConfig()
	if len(huge) < 10<<20 {
		t.Fatalf("the configuration has %d bytes, want 10 MB", len(huge))
	}
	heavyDir, sha := repo(t, map[string]string{".gitlab-ci.yml": huge})
	const hookSecret = "huge-hook-secret"
	heavy := s.project("heavy/app", heavyDir, hookSecret)
	otherDir, _ := repo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`wait:
  script:
    - touch %[1]s/started
    - i=0; while [ ! -e %[1]s/go ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.1; done
    - test -e %[1]s/go
`, marks)})
	other := s.project("other/app", otherDir, "")

	var p pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", other), map[string]any{"ref": "main"}, &p); code != http.StatusCreated {
		t.Fatalf("trigger: %d", code)
	}
	waitFile(t, filepath.Join(marks, "started"), time.Minute)

	start := time.Now()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			code, body := s.githubPush(heavy, hookSecret, fmt.Sprintf("huge-%d", i), sha)
			if code != http.StatusOK || !strings.Contains(body, ".gitlab-ci.yml") || !strings.Contains(body, "more than the limit of 2097152") {
				t.Errorf("webhook of the 10 MB configuration: %d %s; want a configuration error for its size", code, body)
			}
		})
	}
	wg.Wait()
	t.Logf("3 deliveries of the 10 MB configuration answered in %v", time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(marks, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p = s.wait(p.ID, 2*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if p.Status != "success" || len(p.Retried) > 0 {
		t.Errorf("the other project's job: pipeline %s, jobs %+v, retried %+v", p.Status, p.Jobs, p.Retried)
	}
	var list []pipelineView
	s.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", heavy), nil, &list)
	if len(list) != 0 {
		t.Errorf("the 10 MB configuration made pipelines: %+v", list)
	}
}

// waitFile polls until path exists.
func waitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear in %v", path, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAttackUnsignedWebhooks: 1,000 unsigned webhook posts to a project with a secret, and
// 1,000 to one without (which takes unsigned deliveries), grew the deliveries table for ever.
// The first are refused (401) and not stored, only counted; the second project keeps only its
// newest --webhook-deliveries; and the server answers normally afterwards.
func TestAttackUnsignedWebhooks(t *testing.T) {
	const kept = 20
	s := newServer(t, "", "--webhook-deliveries", strconv.Itoa(kept))
	dir, sha := repo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: ['true']\n"})
	const hookSecret = "unsigned-hook-secret"
	signed := s.project("acme/signed", dir, hookSecret)
	open := s.project("acme/open", dir, "")

	push, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha})
	statuses := make(chan int, 2000)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 1000; i += 8 {
				for _, c := range []struct {
					project int64
					event   string
					body    []byte
				}{{signed, "push", push}, {open, "ping", []byte(`{"zen":"hostile","hook_id":1}`)}} {
					req, _ := http.NewRequest("POST", fmt.Sprintf("%s/hooks/github/%d", s.url(), c.project), bytes.NewReader(c.body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-GitHub-Event", c.event)
					req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("unsigned-%d", i))
					resp, err := attackClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses <- resp.StatusCode
				}
			}
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusUnauthorized] != 1000 || count[http.StatusAccepted] != 1000 {
		t.Errorf("answers %v, want 1000 × 401 (signed project) and 1000 × 202 (ping, open project)", count)
	}
	deliveries := func(id int64) int {
		var ds []json.RawMessage
		if code := s.api("GET", fmt.Sprintf("/api/v1/projects/%d/hooks", id), nil, &ds); code != http.StatusOK {
			t.Fatalf("deliveries: %d", code)
		}
		return len(ds)
	}
	if n := deliveries(signed); n != 0 {
		t.Errorf("the project with a secret lists %d unsigned deliveries, want none", n)
	}
	if n := deliveries(open); n != kept {
		t.Errorf("the project without a secret lists %d deliveries, want its newest %d", n, kept)
	}
	metrics := string(s.raw("/metrics"))
	if want := fmt.Sprintf(`slipway_webhook_rejected_total{project_id="%d",reason="signature"} 1000`, signed); !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}

	// The server answers normally: a signed delivery makes a pipeline.
	if code, body := s.githubPush(signed, hookSecret, "signed-1", sha); code != http.StatusCreated {
		t.Errorf("a signed delivery after the flood: %d %s", code, body)
	}
	if n := deliveries(signed); n != 1 {
		t.Errorf("the project with a secret lists %d deliveries, want the signed one", n)
	}
}

// TestAttackSlowloris: 200 connections that stay idle, send their headers a byte at a time,
// or a webhook's body a byte at a time, do not keep a normal request from being answered, and
// each is closed once its timeout passed.
func TestAttackSlowloris(t *testing.T) {
	s := newServer(t, "", "--read-header-timeout", "1s", "--read-timeout", "2s", "--write-timeout", "2s", "--idle-timeout", "1s")
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: ['true']\n"})
	id := s.project("acme/app", dir, "hook-secret")

	stop := make(chan struct{})
	var drips sync.WaitGroup
	var conns []net.Conn
	defer func() {
		close(stop)
		drips.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	drip := func(c net.Conn, text string) {
		drips.Go(func() {
			for i := range len(text) {
				if _, err := c.Write([]byte{text[i]}); err != nil {
					return // closed by the server
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	kinds := map[net.Conn]string{}
	for i := range 200 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		switch i % 3 {
		case 0:
			kinds[c] = "idle"
		case 1:
			kinds[c] = "headers a byte at a time"
			drip(c, "GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+"\r\nX-Slow: "+strings.Repeat("z", 400)+"\r\n\r\n")
		case 2:
			kinds[c] = "a body a byte at a time"
			body := strings.Repeat("x", 10000)
			if _, err := fmt.Fprintf(c, "POST /hooks/github/%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", id, len(body)); err != nil {
				t.Fatal(err)
			}
			drip(c, body)
		}
	}

	// A normal request among them is answered.
	req, _ := http.NewRequest("GET", s.url()+"/api/v1/projects", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := attackClient.Do(req)
	if err != nil {
		t.Fatalf("a normal request among 200 slow connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a normal request among 200 slow connections: %s", resp.Status)
	}

	// Each slow connection is closed by the server once its timeout passed (2 s at most),
	// with room for a loaded machine.
	deadline := time.Now().Add(20 * time.Second)
	var mu sync.Mutex
	open := map[string]int{}
	var check sync.WaitGroup
	for _, c := range conns {
		check.Go(func() {
			_ = c.SetReadDeadline(deadline)
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				open[kinds[c]]++
				mu.Unlock()
			}
		})
	}
	check.Wait()
	if len(open) > 0 {
		t.Errorf("connections the server still held open 20 s after their timeouts: %v", open)
	}
}

// TestAttackImpossibleCron: a schedule that never fires (30 February) fired every 15 s. It is
// refused, as are descriptors and other forms that are no 5-field cron; a real one is taken.
func TestAttackImpossibleCron(t *testing.T) {
	s := newServer(t, "")
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": "build:\n  script: ['true']\n"})
	id := s.project("acme/app", dir, "")
	path := fmt.Sprintf("/api/v1/projects/%d/schedules", id)
	for _, cron := range []string{"0 0 30 2 *", "0 0 31 4 *", "@every 15s", "@daily", "* * * *", "61 * * * *"} {
		if code := s.api("POST", path, map[string]any{"description": "hostile", "cron": cron}, nil); code != http.StatusBadRequest {
			t.Errorf("schedule %q: %d, want 400", cron, code)
		}
	}
	var list []json.RawMessage
	if s.api("GET", path, nil, &list); len(list) != 0 {
		t.Errorf("refused schedules were stored: %s", list)
	}
	var sched struct {
		NextRunAt time.Time `json:"next_run_at"`
	}
	if code := s.api("POST", path, map[string]any{"description": "nightly", "cron": "0 3 * * *"}, &sched); code != http.StatusCreated || sched.NextRunAt.IsZero() {
		t.Errorf("a real schedule: %d, next run %v", code, sched.NextRunAt)
	}
}
