package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/testenv"
)

// TestFaultServerKilledDuringDockerJob kills `slipway server` (SIGKILL to its process group)
// while its built-in runner runs a Docker job with a service: the job's containers, network
// and volume outlive the server. Restarted on the same data directory, the built-in runner
// removes them before it takes a job, and the lost job fails as a runner system failure.
func TestFaultServerKilledDuringDockerJob(t *testing.T) {
	cli := testenv.RequireDocker(t)
	// An image with a VOLUME, so the job has a volume too.
	image := testenv.BusyboxVariant(t, cli, "slipway-test/volume:1", "VOLUME /data\n", nil)
	httpd := testenv.HTTPDImage(t, cli)
	const heartbeat = 500 * time.Millisecond
	s := newServer(t, "", "--runners", "1", "--executor", "docker", "--heartbeat", heartbeat.String())
	project := fmt.Sprintf("acme/reap-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": fmt.Sprintf(`long:
  image: %s
  services:
    - name: %s
      alias: web
  script:
    - wget -qO- http://web/
    - sleep 300
`, image, httpd)})
	id := s.project(project, dir, "")
	var p pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, &p); code != 201 {
		t.Fatalf("trigger: %d", code)
	}
	running := s.wait(p.ID, time.Minute, func(p pipelineView) bool {
		return len(p.Jobs) == 1 && p.Jobs[0].Status == "running"
	})
	jobID := running.Jobs[0].ID
	t.Cleanup(func() { removeJobObjects(t, cli, jobID, project) }) // should the test fail
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitUp(t, ctx, "the job's step to reach its service", func() bool {
		return strings.Contains(string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", jobID))), testenv.HTTPDBody)
	})
	before := jobObjects(t, cli, jobID, project)
	for _, want := range []string{"container running", "network", "volume"} {
		if !strings.Contains(strings.Join(before, "\n"), want) {
			t.Fatalf("no %s labelled with job %d while it runs: %q", want, jobID, before)
		}
	}

	s.p.kill()
	if after := jobObjects(t, cli, jobID, project); len(after) != len(before) {
		t.Fatalf("the crash itself removed objects: before %q, after %q", before, after)
	}
	s.start()
	// The built-in runner reaps at start.
	deadline := time.Now().Add(time.Minute)
	for left := jobObjects(t, cli, jobID, project); len(left) > 0; left = jobObjects(t, cli, jobID, project) {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the restart, job %d still has %q", jobID, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// It says so once Reap returns.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logged string
	waitUp(t, ctx, "the restarted server to log the removal", func() bool {
		for l := range strings.Lines(s.p.out.String()) {
			if strings.Contains(l, "leftovers of earlier runs removed") {
				logged = l
			}
		}
		return logged != ""
	})
	if strings.Contains(logged, " objects=0") {
		t.Errorf("the restarted server removed nothing itself: %s", logged)
	}
	// The job lost its runner with the server: it fails as GitLab fails such a job.
	end := s.wait(p.ID, time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if j := end.Jobs[0]; end.Status != "failed" || j.ID != jobID || j.Status != "failed" || j.FailureReason != "runner_system_failure" {
		t.Errorf("after the restart the pipeline is %s with job %+v; want failed, runner_system_failure", end.Status, j)
	}
}

// removeJobObjects removes what jobObjects lists.
func removeJobObjects(t *testing.T, cli *client.Client, jobID int64, project string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := jobFilter(jobID, project)
	if cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
		for _, c := range cs.Items {
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	if ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
		for _, n := range ns.Items {
			_, _ = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	}
	if vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f}); err == nil {
		for _, v := range vs.Items {
			_, _ = cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
		}
	}
}

func jobFilter(jobID int64, project string) client.Filters {
	return client.Filters{}.Add("label", docker.LabelJobID+"="+strconv.FormatInt(jobID, 10), docker.LabelProject+"="+project)
}

// jobObjects lists the containers (with their state), networks and volumes labelled with a
// job's ID and project.
func jobObjects(t *testing.T, cli *client.Client, jobID int64, project string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := jobFilter(jobID, project)
	var objs []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range cs.Items {
		objs = append(objs, fmt.Sprintf("container %s %s", c.State, strings.Join(c.Names, ",")))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range ns.Items {
		objs = append(objs, "network "+n.Name)
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	for _, v := range vs.Items {
		objs = append(objs, "volume "+v.Name)
	}
	return objs
}
