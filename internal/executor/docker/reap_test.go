package docker

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/testenv"
)

// TestReapLeftoversOfKilledProcess leaves a running job (step, service, network, volumes) of
// an owner as a killed process leaves it, beside a running job of another owner, a container
// without labels and one with only some of the owner's labels; a new executor of the same
// owner reaps exactly the first job's objects, once.
func TestReapLeftoversOfKilledProcess(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxVariant(t, cli, "slipway-test/volume:1", "VOLUME /data\n", nil)
	httpd := testenv.HTTPDImage(t, cli)
	owner := "reap-test-" + randomID(4)
	mine := map[string]string{"slipway.test.owner": owner, "slipway.test.url": "http://server.test"}
	other := map[string]string{"slipway.test.owner": owner + "-other", "slipway.test.url": "http://server.test"}

	// running starts a job of x whose step runs until its container goes, and returns the job
	// and a channel closed when the step returns.
	running := func(x *Executor) (*executor.Job, <-chan struct{}) {
		job := newJob(t, image)
		job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}}}
		e, _ := prepare(t, cli, x, job)
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{"echo ready", "sleep 300"}}, &out)
			t.Logf("job %d: Run = %v", job.ID, err)
		}()
		t.Cleanup(func() { cancel(); <-done }) // before prepare's Cleanup
		if !poll(30*time.Second, func() bool { return strings.Contains(out.String(), "\nready\n") }) {
			t.Fatalf("the step did not start:\n%s", out.String())
		}
		return job, done
	}
	deadJob, deadStep := running(newExecutor(t, cli, Options{Labels: mine}))
	liveJob, _ := running(newExecutor(t, cli, Options{Labels: other}))

	// A volume of the owner left alone (its container's removal failed).
	vol, err := cli.VolumeCreate(t.Context(), client.VolumeCreateOptions{Labels: merge(mine, map[string]string{
		LabelEnv: "leftover", LabelJobID: "1", LabelProject: testProject})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.VolumeRemove(context.Background(), vol.Volume.Name, client.VolumeRemoveOptions{Force: true})
	})
	// Containers Reap must not touch: no labels, and only one of the owner's two labels.
	strangers := []string{
		stranger(t, cli, image, nil),
		stranger(t, cli, image, map[string]string{LabelEnv: "partial", "slipway.test.owner": owner}),
	}

	for _, kind := range []string{"container", "network", "volume"} {
		for _, job := range []*executor.Job{deadJob, liveJob} {
			if left := leftovers(t, cli, job); !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, kind+" ") }) {
				t.Fatalf("job %d has no %s labelled while it runs: %q", job.ID, kind, left)
			}
		}
	}

	// The owner's process is restarted: a new executor with the same labels reaps.
	reaper := newExecutor(t, cli, Options{Labels: mine})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	removed, err := reaper.Reap(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Reap: %v", err)
	}
	t.Logf("Reap removed %d objects in %v", removed, took.Round(time.Millisecond))
	// The service container, the network, the lone volume, and the step's container unless
	// its Run (alive here, unlike in a killed process) removed it first once it stopped; its
	// anonymous volume goes with it.
	if removed != 3 && removed != 4 {
		t.Errorf("Reap removed %d objects, want 3 or 4", removed)
	}
	if took > 15*time.Second {
		t.Errorf("Reap took %v", took)
	}
	if left := leftovers(t, cli, deadJob); len(left) > 0 {
		t.Errorf("left after Reap: %s", strings.Join(left, ", "))
	}
	if _, err := cli.VolumeInspect(ctx, vol.Volume.Name, client.VolumeInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("the owner's lone volume is still there (%v)", err)
	}
	select {
	case <-deadStep:
	case <-time.After(30 * time.Second):
		t.Error("the reaped job's step still runs")
	}

	// Another owner's job and the strangers are untouched, still running.
	left := leftovers(t, cli, liveJob)
	for _, kind := range []string{"container", "network", "volume"} {
		if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, kind+" ") }) {
			t.Errorf("Reap removed another owner's %s: %q remain", kind, left)
		}
	}
	if n := strings.Count(strings.Join(left, "\n"), "(running)"); n != 2 {
		t.Errorf("another owner's containers: %q, want the step and the service running", left)
	}
	for _, id := range strangers {
		c, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil || c.Container.State == nil || !c.Container.State.Running {
			t.Errorf("Reap touched container %.12s without the owner's labels (%v)", id, err)
		}
	}

	// Idempotent.
	if removed, err := reaper.Reap(ctx); removed != 0 || err != nil {
		t.Errorf("second Reap = %d, %v; want 0, nil", removed, err)
	}
	// Without owner labels it would match everyone's jobs: refused.
	if _, err := newExecutor(t, cli, Options{}).Reap(ctx); err == nil {
		t.Error("Reap without owner labels succeeded")
	}
}

// stranger starts a container of image running sleep with labels, removed when t ends, and
// returns its ID.
func stranger(t *testing.T, cli *client.Client, image string, labels map[string]string) string {
	t.Helper()
	c, err := cli.ContainerCreate(t.Context(), client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"sleep", "300"}, Labels: labels},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	})
	if _, err := cli.ContainerStart(t.Context(), c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func merge(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

func TestLabelsRefused(t *testing.T) {
	for _, labels := range []map[string]string{
		{LabelJobID: "1"},
		{LabelEnv: "x"},
		{"": "x"},
		{"slipway.runner.id": ""},
	} {
		if _, err := New(Options{Client: &client.Client{}, Labels: labels}); err == nil {
			t.Errorf("New accepted labels %q", labels)
		}
	}
}
