package local

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/gitrepo"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

// repo makes a committed git repository with files.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.email=a@b", "-c", "user.name=A", "commit", "-q", "-m", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// runPipeline plans the repository's pipeline for a push of main and runs it with the shell
// executor.
func runPipeline(t *testing.T, dir string, mod func(*Options)) (*Summary, string) {
	t.Helper()
	return runPipelineCtx(t, context.Background(), dir, mod)
}

func runPipelineCtx(t *testing.T, ctx context.Context, dir string, mod func(*Options)) (*Summary, string) {
	t.Helper()
	cfg, err := pipeline.Load(ctx, pipeline.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Compile(cfg, plan.Context{Ref: "main", DefaultBranch: "main", Project: plan.Project{Path: "group/app", Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	files, tracked, err := gitrepo.WorkTree(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := shell.New(shell.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := Options{Root: dir, Files: files, Tracked: tracked, Plan: p, Out: &out,
		Executor: func(*plan.Job) executor.Executor { return sh }, Concurrency: 2, Project: "group/app"}
	if mod != nil {
		mod(&o)
	}
	sum, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return sum, out.String()
}

func statuses(s *Summary) map[string]status.Status {
	m := map[string]status.Status{}
	for _, j := range s.Jobs {
		m[j.Name] = j.Status
	}
	return m
}

func TestArtifactsAndDotenvAcrossStages(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": `stages: [build, test, deploy]
build:
  stage: build
  script:
    - mkdir -p dist && echo binary > dist/app && echo junk > dist/app.tmp
    - echo "VERSION=1.2.3" > build.env
  artifacts:
    paths: [dist/]
    exclude: ["dist/*.tmp"]
    reports:
      dotenv: build.env
test:
  stage: test
  script:
    - test -f dist/app
    - test ! -f dist/app.tmp
    - test "$VERSION" = 1.2.3
    - echo ok > test-report.txt
  artifacts:
    paths: [test-report.txt]
deploy:
  stage: deploy
  script:
    - cat dist/app test-report.txt
    - echo "deploying $VERSION"
`})
	sum, out := runPipeline(t, dir, nil)
	if sum.Status != status.Success {
		t.Fatalf("pipeline %s\n%s", sum.Status, out)
	}
	if !strings.Contains(out, "deploying 1.2.3") {
		t.Errorf("deploy did not see the dotenv variable:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist")); err == nil {
		t.Error("a job wrote into the work tree")
	}
}

func TestWhenAllowFailureAndRetry(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": `stages: [test, after]
flaky:
  stage: test
  script: ["exit 3"]
  allow_failure:
    exit_codes: [3]
broken:
  stage: test
  script: ["exit 1"]
  retry: 1
cleanup:
  stage: after
  when: on_failure
  script: ["echo cleaning"]
report:
  stage: after
  when: always
  script: ["echo report"]
next:
  stage: after
  script: ["echo never"]
`})
	sum, out := runPipeline(t, dir, nil)
	want := map[string]status.Status{"flaky": status.Warning, "broken": status.Failed, "cleanup": status.Success, "report": status.Success, "next": status.Skipped}
	got := statuses(sum)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s\n%s", k, got[k], v, out)
		}
	}
	if sum.Status != status.Failed {
		t.Errorf("pipeline %s, want failed", sum.Status)
	}
	for _, j := range sum.Jobs {
		if j.Name == "broken" && j.Attempts != 2 {
			t.Errorf("broken ran %d times, want 2 (retry: 1)", j.Attempts)
		}
	}
}

func TestNeedsStartWithoutStageBarrier(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": `stages: [build, test]
slow:
  stage: build
  script: ["sleep 1", "echo slow-done"]
fast:
  stage: build
  script: ["echo fast-done"]
after-fast:
  stage: test
  needs: [fast]
  script: ["echo after-fast-ran"]
`})
	sum, out := runPipeline(t, dir, nil)
	if sum.Status != status.Success {
		t.Fatalf("%s\n%s", sum.Status, out)
	}
	if strings.Index(out, "after-fast-ran") > strings.Index(out, "slow-done") {
		t.Errorf("after-fast waited for the build stage:\n%s", out)
	}
}

func TestManualJobsAndSelection(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": `build:
  stage: build
  script: ["echo build"]
deploy:
  stage: deploy
  when: manual
  script: ["echo deploy"]
lint:
  stage: test
  script: ["echo lint"]
test:
  stage: test
  needs: [build]
  script: ["echo test"]
`})
	sum, _ := runPipeline(t, dir, nil)
	if got := statuses(sum)["deploy"]; got != status.Manual {
		t.Errorf("deploy is %s, want manual", got)
	}
	sum, _ = runPipeline(t, dir, func(o *Options) { o.Manual = true })
	if got := statuses(sum)["deploy"]; got != status.Success {
		t.Errorf("with --manual deploy is %s, want success", got)
	}
	sum, _ = runPipeline(t, dir, func(o *Options) { o.Jobs = []string{"test"} })
	if got := statuses(sum); len(got) != 2 || got["build"] != status.Success || got["test"] != status.Success {
		t.Errorf("run test: %v, want build and test", got)
	}
	sum, _ = runPipeline(t, dir, func(o *Options) { o.Jobs = []string{"test"}; o.NoDeps = true })
	if got := statuses(sum); len(got) != 1 {
		t.Errorf("run test --no-deps: %v, want only test", got)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": `slow:
  timeout: 1s
  script: ["sleep 30"]
  after_script: ["echo after-ran"]
`})
	start := time.Now()
	sum, out := runPipeline(t, dir, nil)
	if s := statuses(sum)["slow"]; s != status.Failed || sum.Jobs[0].Reason != status.JobExecutionTimeout {
		t.Errorf("slow: %s (%s), want failed by timeout\n%s", s, sum.Jobs[0].Reason, out)
	}
	if !strings.Contains(out, "after-ran") {
		t.Errorf("after_script did not run after the timeout:\n%s", out)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("the timeout did not stop the job")
	}

	ctx, cancel := context.WithCancel(context.Background())
	dir2 := repo(t, map[string]string{".gitlab-ci.yml": "a:\n  script: [\"sleep 30\"]\nb:\n  stage: deploy\n  script: [\"echo b\"]\n"})
	cfg, _ := pipeline.Load(ctx, pipeline.Options{Dir: dir2})
	p, _ := plan.Compile(cfg, plan.Context{Ref: "main"})
	files, tracked, _ := gitrepo.WorkTree(ctx, dir2)
	sh, _ := shell.New(shell.Options{})
	var buf bytes.Buffer
	time.AfterFunc(500*time.Millisecond, cancel)
	sum, err := Run(ctx, Options{Root: dir2, Files: files, Tracked: tracked, Plan: p, Out: &buf,
		Executor: func(*plan.Job) executor.Executor { return sh }})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(sum); sum.Status != status.Canceled || got["a"] != status.Canceled || got["b"] != status.Canceled {
		t.Errorf("after cancel: %s %v\n%s", sum.Status, got, buf.String())
	}
}

func TestMaskedAndFileVariables(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": `job:
  script:
    - echo "token is $TOKEN"
    - cat "$CONFIG"
`})
	sum, out := runPipeline(t, dir, func(o *Options) {
		o.Plan.Jobs[0].Variables = append(o.Plan.Jobs[0].Variables,
			plan.Var{Key: "TOKEN", Value: "s3cr3t-value", Masked: true},
			plan.Var{Key: "CONFIG", Value: "from-a-file", File: true})
	})
	if sum.Status != status.Success {
		t.Fatalf("%s\n%s", sum.Status, out)
	}
	if strings.Contains(out, "s3cr3t-value") || !strings.Contains(out, "token is [MASKED]") {
		t.Errorf("masked value shown:\n%s", out)
	}
	if !strings.Contains(out, "from-a-file") {
		t.Errorf("file variable not a file:\n%s", out)
	}
}

func TestJSONEvents(t *testing.T) {
	dir := repo(t, map[string]string{".gitlab-ci.yml": "a:\n  script: [\"echo hi\"]\n"})
	_, out := runPipeline(t, dir, func(o *Options) { o.Events = true })
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, `{"jobs":[{"duration_s":`) || !strings.Contains(last, `"type":"pipeline"`) || !strings.Contains(last, `"status":"success"`) {
		t.Errorf("last event %s", last)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.Contains(l, `"type":`) {
			t.Errorf("not an event: %s", l)
		}
	}
}
