package docker

import (
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/testenv"
)

// A job's containers, its service's included, get the job's variables and nothing of the
// environment of the process that runs them (a server's or runner's secrets).
func TestAttackDockerJobReadsHostEnv(t *testing.T) {
	const secret = "host-secret-5c2d"
	t.Setenv("SLIPWAY_ADMIN_TOKEN", secret)
	t.Setenv("HOST_ONLY_VAR", secret)
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	x := newExecutor(t, cli, Options{})
	job := newJob(t, image)
	job.Env = []string{"JOB_VAR=from-the-job"}
	job.Services = []pipeline.Service{{Image: pipeline.Image{Name: image}, Command: []string{"sleep", "300"}, Alias: "svc"}}
	e, _ := prepare(t, cli, x, job)
	out, err := run(t, e, "env")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "JOB_VAR=from-the-job\n") {
		t.Errorf("the job lacks its variable:\n%s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "HOST_ONLY_VAR") {
		t.Errorf("the job got the host's environment:\n%s", out)
	}
	f := client.Filters{}.Add("label", LabelJobID+"="+strconv.FormatInt(job.ID, 10), LabelProject+"="+job.Project)
	cs, err := cli.ContainerList(t.Context(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items) == 0 {
		t.Fatal("no service container")
	}
	for _, c := range cs.Items {
		in, err := cli.ContainerInspect(t.Context(), c.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Join(in.Container.Config.Env, "\n")
		if strings.Contains(env, secret) || strings.Contains(env, "HOST_ONLY_VAR") {
			t.Errorf("container %s got the host's environment:\n%s", c.Names, env)
		}
	}
}
