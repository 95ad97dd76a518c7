package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashPipeline has 4 stages of 2 jobs; each job prints numbered lines slowly and records
// each time it runs in the directory marks (outside the build dir, so that a second run
// would show).
func crashPipeline(marks string, lines int, pause string) string {
	var b strings.Builder
	b.WriteString("stages: [one, two, three, four]\n")
	for i, st := range []string{"one", "two", "three", "four"} {
		for _, n := range []string{"a", "b"} {
			fmt.Fprintf(&b, `%s%d:
  stage: %s
  script:
    - echo run >> "%s/$CI_JOB_NAME"
    - for i in $(seq 1 %d); do echo "$CI_JOB_NAME line $i"; sleep %s; done
`, n, i, st, marks, lines, pause)
		}
	}
	return b.String()
}

// TestServerCrash kills the server with SIGKILL ten times while a pipeline runs on a
// separate runner, restarting it each time: the pipeline still succeeds, every job ran once,
// and every job's log holds every line once, in order.
func TestServerCrash(t *testing.T) {
	marks := writableTempDir(t) // the jobs may run as uids of their own
	s := newServer(t, "", "--heartbeat", "500ms")
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": crashPipeline(marks, 40, "0.05")})
	id := s.project("acme/crash", dir, "")
	s.runner(t)()

	var p pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, &p); code != 201 {
		t.Fatalf("trigger: %d", code)
	}
	cycles := 0
	for ; cycles < 10; cycles++ {
		time.Sleep(time.Duration(200+rand.IntN(500)) * time.Millisecond)
		s.p.kill()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		s.start()
	}
	p = s.wait(p.ID, 3*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if p.Status != "success" {
		t.Fatalf("after %d crashes the pipeline ended %s: %+v", cycles, p.Status, p.Jobs)
	}
	if len(p.Retried) > 0 {
		t.Errorf("jobs were retried: %+v", p.Retried)
	}
	for _, j := range p.Jobs {
		runs, _ := os.ReadFile(filepath.Join(marks, j.Name))
		if got := strings.Count(string(runs), "run\n"); got != 1 {
			t.Errorf("job %s ran %d times", j.Name, got)
		}
		log := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)))
		var want strings.Builder
		for i := 1; i <= 40; i++ {
			fmt.Fprintf(&want, "%s line %d\n", j.Name, i)
		}
		var got strings.Builder
		for _, l := range strings.SplitAfter(log, "\n") {
			if strings.HasPrefix(l, j.Name+" line ") {
				got.WriteString(l)
			}
		}
		if got.String() != want.String() {
			t.Errorf("job %s: log lines lost, repeated or out of order:\n%s", j.Name, log)
		}
	}
	t.Logf("%d server crashes; pipeline %s", cycles, p.Status)
}

// TestRunnerCrash kills the runner with SIGKILL in the middle of a job, ten times: each time
// the job is failed as a runner system failure within three heartbeats (plus the scheduler's
// half-heartbeat tick) and retried, as retry: says, on the restarted runner.
func TestRunnerCrash(t *testing.T) {
	const heartbeat = 500 * time.Millisecond
	s := newServer(t, "", "--heartbeat", heartbeat.String())
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": `slow:
  script:
    - echo started
    - sleep 30
  retry:
    max: 2
    when: [runner_system_failure]
`})
	id := s.project("acme/runner-crash", dir, "")
	startRunner := s.runner(t)
	r := startRunner()
	for cycle := range 10 {
		var p pipelineView
		if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, &p); code != 201 {
			t.Fatalf("trigger: %d", code)
		}
		running := s.wait(p.ID, time.Minute, func(p pipelineView) bool {
			return len(p.Jobs) == 1 && p.Jobs[0].Status == "running"
		})
		first := running.Jobs[0]
		// Let the job print, then crash the runner (the job's own processes die with it).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		waitUp(t, ctx, "job log", func() bool {
			return strings.Contains(string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", first.ID))), "started")
		})
		cancel()
		killed := time.Now()
		r.kill()
		after := s.wait(p.ID, time.Minute, func(p pipelineView) bool { return len(p.Retried) == 1 })
		lost := time.Since(killed)
		if f := after.Retried[0]; f.ID != first.ID || f.Status != "failed" || f.FailureReason != "runner_system_failure" {
			t.Fatalf("cycle %d: the lost job is %+v", cycle, f)
		}
		if limit := 3*heartbeat + heartbeat/2 + 600*time.Millisecond; lost > limit {
			t.Errorf("cycle %d: the job was failed %s after the runner died (three heartbeats: %s)", cycle, lost.Round(time.Millisecond), 3*heartbeat)
		}
		if next := after.Jobs[0]; next.Attempt != 2 || (next.Status != "pending" && next.Status != "running") {
			t.Fatalf("cycle %d: the retry is %+v", cycle, next)
		}
		r = startRunner()
		// The retry runs on the new runner; cancel it to end this cycle's pipeline.
		s.wait(p.ID, time.Minute, func(p pipelineView) bool { return p.Jobs[0].Status == "running" })
		if code := s.api("POST", fmt.Sprintf("/api/v1/pipelines/%d/cancel", p.ID), nil, nil); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
		s.wait(p.ID, time.Minute, func(p pipelineView) bool { return p.Status == "canceled" })
	}
}
