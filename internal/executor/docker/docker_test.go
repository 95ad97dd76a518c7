package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/executortest"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/testenv"
)

// testProject labels this binary's jobs, so that tests of other packages running jobs on the
// same engine at the same time are not taken for leftovers.
var testProject = "slipway-test-docker-" + strconv.Itoa(os.Getpid())

// projectDir is CI_PROJECT_DIR in the test jobs.
const projectDir = "/builds/slipway/test"

var testJobIDs atomic.Int64

func init() { testJobIDs.Store(1 << 20) } // the suite numbers its jobs from 1

// newExecutor returns an executor on cli with opts, closed when t ends.
func newExecutor(t testing.TB, cli *client.Client, opts Options) *Executor {
	t.Helper()
	opts.Client = cli
	x, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// newJob returns a job of image with a fresh build directory.
func newJob(t testing.TB, image string) *executor.Job {
	t.Helper()
	return &executor.Job{
		Name:       "test-" + strings.ToLower(nonName.ReplaceAllString(t.Name(), "-")),
		ID:         testJobIDs.Add(1),
		Project:    testProject,
		Image:      &pipeline.Image{Name: image},
		BuildDir:   t.TempDir(),
		ProjectDir: projectDir,
	}
}

// prepare prepares job on x, registers its Cleanup and the check that it left nothing, and
// returns the Env and Prepare's log.
func prepare(t *testing.T, cli *client.Client, x *Executor, job *executor.Job) (executor.Env, string) {
	t.Helper()
	var log strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e, err := x.Prepare(ctx, job, &log)
	if err != nil {
		t.Fatalf("Prepare: %v\nlog:\n%s", err, log.String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		if left := leftovers(t, cli, job); len(left) > 0 {
			t.Errorf("left after Cleanup: %s", strings.Join(left, ", "))
		}
	})
	return e, log.String()
}

// run runs cmds as a step in e and returns the output.
func run(t *testing.T, e executor.Env, cmds ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out syncBuffer
	err := e.Run(ctx, executor.Script{Name: "step_script", Commands: cmds}, &out)
	return out.String(), err
}

// leftovers lists the containers, networks and volumes labelled with job's ID and project.
func leftovers(t testing.TB, cli *client.Client, job *executor.Job) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := client.Filters{}.Add("label", LabelJobID+"="+strconv.FormatInt(job.ID, 10), LabelProject+"="+job.Project)
	var left []string
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("list containers: %v", err)
	}
	for _, c := range cs.Items {
		left = append(left, fmt.Sprintf("container %s (%s)", strings.Join(c.Names, ","), c.State))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Errorf("list networks: %v", err)
	}
	for _, n := range ns.Items {
		left = append(left, "network "+n.Name)
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		t.Errorf("list volumes: %v", err)
	}
	for _, v := range vs.Items {
		left = append(left, "volume "+v.Name)
	}
	return left
}

// syncBuffer is an output writer the test may read while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// poll calls cond until it holds or d has passed, and reports whether it held.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func TestSuite(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	x := newExecutor(t, cli, Options{})
	executortest.Run(t, executortest.Suite{
		New: func(*testing.T) executor.Executor { return x },
		Job: func(_ *testing.T, dir string) *executor.Job {
			return &executor.Job{
				Project:    testProject,
				Image:      &pipeline.Image{Name: image},
				BuildDir:   dir,
				ProjectDir: projectDir,
			}
		},
		Leftovers: func(t *testing.T, job *executor.Job) []string { return leftovers(t, cli, job) },
	})
}

func TestEntrypoint(t *testing.T) {
	cli := testenv.RequireDocker(t)
	// An image whose entrypoint would fail every script.
	image := testenv.BusyboxVariant(t, cli, "slipway-test/entrypoint:1", "ENTRYPOINT [\"/bin/false\"]\n", nil)
	x := newExecutor(t, cli, Options{})
	tests := []struct {
		name       string
		entrypoint []string
		want       []string
		fail       bool
	}{
		{name: "image's", entrypoint: nil, fail: true},
		{name: "cleared", entrypoint: []string{""}, want: []string{"script-ran"}},
		{name: "wrapper", entrypoint: []string{"/bin/sh", "-c", `echo "entrypoint-ran $#"; exec "$@"`, "ep"}, want: []string{"entrypoint-ran 4", "script-ran"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := newJob(t, image)
			job.Image.Entrypoint = tt.entrypoint
			e, _ := prepare(t, cli, x, job)
			out, err := run(t, e, "echo script-ran")
			if tt.fail {
				if code, ok := executor.ExitCode(err); !ok || code != 1 {
					t.Errorf("Run with the image's entrypoint /bin/false = %v, want exit code 1\n%s", err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestUser(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	x := newExecutor(t, cli, Options{})
	tests := []struct {
		name, jobUser, imageUser, want string
	}{
		{name: "default root", want: "0:0"},
		{name: "docker.user", jobUser: "1234:5678", want: "1234:5678"},
		{name: "image user", imageUser: "2345", want: "2345:0"},
		{name: "job user wins", jobUser: "3456:3456", imageUser: "2345", want: "3456:3456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := newJob(t, image)
			job.User, job.Image.User = tt.jobUser, tt.imageUser
			e, _ := prepare(t, cli, x, job)
			out, err := run(t, e, `echo "id=$(id -u):$(id -g)"`)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out)
			}
			if !strings.Contains(out, "id="+tt.want+"\n") {
				t.Errorf("output %q, want id=%s", out, tt.want)
			}
		})
	}
}

func TestMountsAndSocket(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "from-host"), []byte("host-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := newExecutor(t, cli, Options{
		DockerSocket: true,
		Volumes:      []executor.Mount{{Source: shared, Target: "/shared", ReadOnly: true}},
	})
	job := newJob(t, image)
	job.Env = []string{"SLIPWAY_T=value with spaces"}
	e, _ := prepare(t, cli, x, job)
	out, err := run(t, e,
		"test -S /var/run/docker.sock && echo socket-ok",
		"cat /shared/from-host",
		"touch /shared/x 2>/dev/null && echo writable || echo read-only",
		`echo "var=$SLIPWAY_T"`,
		"pwd")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	for _, want := range []string{"socket-ok", "host-file", "read-only", "var=value with spaces", projectDir} {
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Without DockerSocket there is no socket; Privileged is off by default.
	x2 := newExecutor(t, cli, Options{})
	e2, _ := prepare(t, cli, x2, newJob(t, image))
	out, err = run(t, e2, "test -e /var/run/docker.sock && echo socket-present || echo no-socket",
		"grep CapEff /proc/self/status")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "no-socket") || strings.Contains(out, "000001ffffffffff") || strings.Contains(out, "0000003fffffffff") {
		t.Errorf("default container has the socket or full capabilities:\n%s", out)
	}
}

func TestShell(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	x := newExecutor(t, cli, Options{})
	job := newJob(t, image)
	job.Env = []string{"SLIPWAY_T=shell-var"}
	e, _ := prepare(t, cli, x, job)
	sh, ok := e.(executor.Interactive)
	if !ok {
		t.Fatal("Env is not executor.Interactive")
	}
	var out syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := sh.Shell(ctx, strings.NewReader("echo \"got $SLIPWAY_T in $(pwd)\"\nexit 4\n"), &out)
	if code, ok := executor.ExitCode(err); !ok || code != 4 {
		t.Errorf("Shell = %v, want exit code 4", err)
	}
	if want := "got shell-var in " + projectDir + "\n"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}

func TestCancelWithServiceAndVolume(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxVariant(t, cli, "slipway-test/volume:1", "VOLUME /data\n", nil)
	httpd := testenv.HTTPDImage(t, cli)
	x := newExecutor(t, cli, Options{})
	for _, timeout := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprintf("timeout=%v", timeout), func(t *testing.T) {
			t.Parallel()
			job := newJob(t, image)
			job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}}}
			var log strings.Builder
			e, err := x.Prepare(t.Context(), job, &log)
			if err != nil {
				t.Fatalf("Prepare: %v\n%s", err, log.String())
			}
			t.Cleanup(func() { _ = e.Cleanup(context.Background()) }) // if the test stops early
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var out syncBuffer
			errc := make(chan error, 1)
			go func() {
				errc <- e.Run(ctx, executor.Script{Name: "step_script", Timeout: timeout,
					Commands: []string{"echo ready > /data/f", "cat /data/f", "sleep 30"}}, &out)
			}()
			if !poll(30*time.Second, func() bool { return strings.Contains(out.String(), "\nready\n") }) {
				t.Fatalf("step did not start:\n%s", out.String())
			}
			// The step's container, the service, the network and the volumes are labelled.
			left := leftovers(t, cli, job)
			for _, kind := range []string{"container", "network", "volume"} {
				if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, kind+" ") }) {
					t.Errorf("no %s labelled while the job runs: %q", kind, left)
				}
			}
			if timeout == 0 {
				cancel()
			}
			start := time.Now()
			err = <-errc
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run returned %v after the cancel or timeout", d)
			}
			if timeout == 0 && !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
			if timeout > 0 && (!errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 1s")) {
				t.Errorf("Run = %v, want a timeout after 1s", err)
			}
			cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
			defer ccancel()
			for range 2 {
				if err := e.Cleanup(cctx); err != nil {
					t.Errorf("Cleanup: %v", err)
				}
			}
			if left := leftovers(t, cli, job); len(left) > 0 {
				t.Errorf("left after Cleanup: %s", strings.Join(left, ", "))
			}
		})
	}
}

func TestPrepareNoImage(t *testing.T) {
	x, err := New(Options{Client: &client.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Prepare(t.Context(), &executor.Job{Name: "j"}, nil); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Errorf("Prepare without an image = %v", err)
	}
	if _, err := New(Options{PullPolicy: "sometimes"}); err == nil {
		t.Error("New accepted pull policy sometimes")
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"build", "build"},
		{"test: unit [1/2]", "test-unit-1-2"},
		{"", "x"},
		{"ümlaut", "mlaut"},
		{strings.Repeat("a", 50), strings.Repeat("a", 40)},
	}
	for _, tt := range tests {
		if got := slug(tt.in, 40); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsRoot(t *testing.T) {
	for user, want := range map[string]bool{"": true, "root": true, "0": true, "0:0": true, "root:staff": true,
		"1000": false, "postgres": false, "1000:0": false} {
		if got := isRoot(user); got != want {
			t.Errorf("isRoot(%q) = %v", user, got)
		}
	}
}
