package local

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// dockerRun runs the repository's pipeline with jobs that have an image in Docker.
func dockerRun(t *testing.T, ctx context.Context, dir string, mod func(*Options)) (*Summary, string) {
	t.Helper()
	dk, err := docker.New(docker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dk.Close() })
	return runPipelineCtx(t, ctx, dir, func(o *Options) {
		shell := o.Executor(nil)
		o.Executor = func(j *plan.Job) executor.Executor {
			if j.Image != nil {
				return dk
			}
			return shell
		}
		o.ProjectDir = func(j *plan.Job, buildDir string) string {
			if j.Image != nil {
				return "/builds/group/app"
			}
			return buildDir
		}
		if mod != nil {
			mod(o)
		}
	})
}

// TestDockerPipeline runs a three-stage pipeline in containers: a service reached by its
// alias, artifacts and a dotenv report passed along, and a failure allowed by its exit code.
func TestDockerPipeline(t *testing.T) {
	cli := testenv.RequireDocker(t)
	busybox, httpd := testenv.BusyboxImage(t, cli), testenv.HTTPDImage(t, cli)
	dir := repo(t, map[string]string{".gitlab-ci.yml": `stages: [build, test, deploy]
default:
  image: ` + busybox + `
build:
  stage: build
  services:
    - name: ` + httpd + `
      alias: web
  script:
    - wget -qO- http://web/ > page.txt
    - cat page.txt
    - echo "PAGE_WORDS=$(wc -w < page.txt)" > build.env
  artifacts:
    paths: [page.txt]
    reports:
      dotenv: build.env
test:
  stage: test
  script:
    - grep -q "hello from service" page.txt
    - test "$PAGE_WORDS" -gt 0
    - exit 3
  allow_failure:
    exit_codes: [3]
deploy:
  stage: deploy
  script:
    - echo "deploying a page of $PAGE_WORDS words"
`})
	sum, out := dockerRun(t, context.Background(), dir, nil)
	got := statuses(sum)
	if sum.Status != status.Success || got["build"] != status.Success || got["test"] != status.Warning || got["deploy"] != status.Success {
		t.Fatalf("pipeline %s %v\n%s", sum.Status, got, out)
	}
	if !strings.Contains(out, "hello from service") || !strings.Contains(out, "deploying a page of 3 words") {
		t.Errorf("output:\n%s", out)
	}
	assertNoLeftovers(t, cli)
}

// TestDockerCancelLeavesNothing cancels a run while a job with a service runs: nothing the
// job made may stay behind.
func TestDockerCancelLeavesNothing(t *testing.T) {
	cli := testenv.RequireDocker(t)
	busybox, httpd := testenv.BusyboxImage(t, cli), testenv.HTTPDImage(t, cli)
	dir := repo(t, map[string]string{".gitlab-ci.yml": `slow:
  image: ` + busybox + `
  services: [` + httpd + `]
  script: ["echo started", "sleep 60"]
`})
	ctx, cancel := context.WithCancel(context.Background())
	var sum *Summary
	var out string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sum, out = dockerRun(t, ctx, dir, nil)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && !runningJob(t, cli) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	if sum.Status != status.Canceled {
		t.Errorf("status %s, want canceled\n%s", sum.Status, out)
	}
	assertNoLeftovers(t, cli)
}

// runningJob reports whether a job's build container runs.
func runningJob(t *testing.T, cli *client.Client) bool {
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{Filters: make(client.Filters).Add("label", docker.LabelRole+"=build").Add("label", docker.LabelProject+"=group/app")})
	return err == nil && len(res.Items) > 0
}

// assertNoLeftovers checks through the Engine API that no container, network or volume of a
// job remains.
func assertNoLeftovers(t *testing.T, cli *client.Client) {
	t.Helper()
	ctx := context.Background()
	f := make(client.Filters).Add("label", docker.LabelProject+"=group/app")
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs, err1 := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		ns, err2 := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		vs, err3 := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("list: %v %v %v", err1, err2, err3)
		}
		if len(cs.Items)+len(ns.Items)+len(vs.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %d containers, %d networks, %d volumes", len(cs.Items), len(ns.Items), len(vs.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
