package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testenv"
)

// TestFaultPostgresStopped10s stops the server's Postgres (a server of the test's own) for
// 10 s while a job's script runs on a separate runner; the script ends during the outage.
// Meanwhile the API answers 503 with Retry-After, never 401, and the scheduler logs the
// outage instead of four errors a second. Once Postgres is back, the job ends with its real
// status, nothing lost: every log line once, in order, and its artifacts, which the next job
// gets.
func TestFaultPostgresStopped10s(t *testing.T) {
	const outage = 10 * time.Second
	pg := testenv.StartPostgres(t)
	marks := writableTempDir(t) // the job may run as a uid of its own
	s := newServer(t, pg.DSN(), "--heartbeat", "500ms")
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`stages: [build, test]
outage:
  stage: build
  script:
    - echo "before the outage"
    - touch %[1]s/started
    - i=0; while [ ! -e %[1]s/stopped ]; do i=$((i+1)); echo "waiting $i"; sleep 0.1; done
    - for i in $(seq 1 30); do echo "outage line $i"; sleep 0.02; done
    - mkdir -p out && echo "made during the outage" > out/result.txt
    - touch %[1]s/done
  artifacts:
    paths: [out/]
after:
  stage: test
  script:
    - cat out/result.txt
`, marks)})
	id := s.project("acme/outage", dir, "")
	s.runner(t)()
	var p pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, &p); code != http.StatusCreated {
		t.Fatalf("trigger: %d", code)
	}
	exists := func(name string) func() bool {
		return func() bool { _, err := os.Stat(filepath.Join(marks, name)); return err == nil }
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitUp(t, ctx, "the job's script starts", exists("started"))
	logBefore := len(s.p.out.String())
	pg.Stop()
	stopped := time.Now()
	if err := os.WriteFile(filepath.Join(marks, "stopped"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// While Postgres is down: 503 with Retry-After, and "unavailable" on /healthz.
	req, _ := http.NewRequest("GET", s.url()+"/api/v1/projects", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for _, r := range []*http.Request{req, mustRequest(t, "GET", s.url()+"/healthz")} {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s while Postgres is down: %d, Retry-After %q; want 503 with Retry-After", r.URL.Path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	octx, ocancel := context.WithDeadline(context.Background(), stopped.Add(outage))
	waitUp(t, octx, "the job's script ends during the outage", exists("done"))
	ocancel()
	time.Sleep(time.Until(stopped.Add(outage))) // the outage lasts its 10 s
	pg.Start()
	t.Logf("Postgres was down for %s", time.Since(stopped).Round(100*time.Millisecond))
	duringOutage := s.p.out.String()[logBefore:]

	p = s.wait(p.ID, 2*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if p.Status != "success" || len(p.Retried) > 0 {
		t.Fatalf("after the outage the pipeline is %s: jobs %+v, retried %+v", p.Status, p.Jobs, p.Retried)
	}
	log := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", p.Jobs[0].ID)))
	var got, want strings.Builder
	waiting := 0
	for _, l := range strings.SplitAfter(log, "\n") {
		if strings.HasPrefix(l, "waiting ") {
			waiting++
		}
		if strings.HasPrefix(l, "waiting ") || strings.HasPrefix(l, "before the outage") || strings.HasPrefix(l, "outage line ") {
			got.WriteString(l)
		}
	}
	want.WriteString("before the outage\n")
	for i := 1; i <= waiting; i++ {
		fmt.Fprintf(&want, "waiting %d\n", i)
	}
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&want, "outage line %d\n", i)
	}
	if got.String() != want.String() {
		t.Errorf("the job's log lost, repeated or reordered lines:\n%s", log)
	}
	if after := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", p.Jobs[1].ID))); !strings.Contains(after, "made during the outage") {
		t.Errorf("the next job did not get the artifacts:\n%s", after)
	}
	if n := strings.Count(duringOutage, "level=ERROR"); n > 4 {
		t.Errorf("the server logged %d errors in a %s outage:\n%s", n, outage, duringOutage)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
