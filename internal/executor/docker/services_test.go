package docker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/testenv"
)

func TestAliases(t *testing.T) {
	tests := []struct {
		image, alias string
		want         []string
	}{
		{image: "postgres:16", want: []string{"postgres", "postgres-16"}},
		{image: "postgres", want: []string{"postgres"}},
		{image: "tutum/wordpress:latest", alias: "wp", want: []string{"tutum__wordpress", "tutum-wordpress", "tutum-wordpress-latest", "wp"}},
		{image: "registry.example.com:5000/group/app:1.2", want: []string{
			"registry.example.com__group__app", "registry.example.com-group-app", "registry.example.com-group-app-1.2"}},
		{image: "redis@sha256:0123456789abcdef", want: []string{"redis"}},
		{image: "slipway-test/httpd:1", alias: "web, www  api,web", want: []string{
			"slipway-test__httpd", "slipway-test-httpd", "slipway-test-httpd-1", "web", "www", "api"}},
		{image: "mysql", alias: "bad/alias", want: []string{"mysql"}},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			t.Parallel()
			if got := Aliases(tt.image, tt.alias); !slices.Equal(got, tt.want) {
				t.Errorf("Aliases(%q, %q) = %q, want %q", tt.image, tt.alias, got, tt.want)
			}
		})
	}
}

func TestServiceEnv(t *testing.T) {
	got := serviceEnv(
		[]string{"A=job-a", "B=job-b", "HOST=db"},
		[]pipeline.VarDef{{Key: "B", Value: "svc-b"}, {Key: "URL", Value: "postgres://$HOST/x"}, {Key: "RAW", Value: "$HOST", Raw: true}},
	)
	want := []string{"A=job-a", "HOST=db", "B=svc-b", "URL=postgres://db/x", "RAW=$HOST"}
	if !slices.Equal(got, want) {
		t.Errorf("serviceEnv = %q, want %q", got, want)
	}
}

func TestServiceByAlias(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	httpd := testenv.HTTPDImage(t, cli)
	x := newExecutor(t, cli, Options{})
	job := newJob(t, image)
	job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}, Alias: "web"}}
	e, log := prepare(t, cli, x, job)
	if strings.Contains(log, "WARNING") {
		t.Errorf("Prepare warned:\n%s", log)
	}
	var cmds []string
	for _, host := range []string{"web", "slipway-test__httpd", "slipway-test-httpd", "slipway-test-httpd-1"} {
		cmds = append(cmds, "wget -qO- http://"+host+"/")
	}
	out, err := run(t, e, cmds...)
	if err != nil {
		t.Fatalf("Run: %v\n%s\nPrepare's log:\n%s", err, out, log)
	}
	if n := strings.Count(out, testenv.HTTPDBody+"\n"); n != len(cmds) {
		t.Errorf("%d answers from the service, want %d:\n%s", n, len(cmds), out)
	}
}

func TestServiceReadiness(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	httpd := testenv.HTTPDImage(t, cli)
	x := newExecutor(t, cli, Options{ServiceTimeout: 20 * time.Second})

	t.Run("late port", func(t *testing.T) {
		t.Parallel()
		// The server listens only after 2 s; the job's first command must reach it.
		job := newJob(t, image)
		job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}, Alias: "late",
			Command: []string{"sh", "-c", "sleep 2; exec httpd -f -p 80 -h /www"}}}
		start := time.Now()
		e, log := prepare(t, cli, x, job)
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("Prepare returned after %v, before the service listened", d)
		}
		if strings.Contains(log, "WARNING") {
			t.Errorf("Prepare warned:\n%s", log)
		}
		if out, err := run(t, e, "wget -qO- http://late/"); err != nil || !strings.Contains(out, testenv.HTTPDBody) {
			t.Errorf("Run = %v\n%s", err, out)
		}
	})

	t.Run("HEALTHCHECK_TCP_PORT", func(t *testing.T) {
		t.Parallel()
		// The image exposes 80, which never opens; the variable names the port that does.
		job := newJob(t, image)
		job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}, Alias: "alt",
			Command:   []string{"sh", "-c", "sleep 1; exec httpd -f -p 8080 -h /www"},
			Variables: []pipeline.VarDef{{Key: "HEALTHCHECK_TCP_PORT", Value: "8080"}}}}
		e, log := prepare(t, cli, x, job)
		if strings.Contains(log, "WARNING") {
			t.Errorf("Prepare warned:\n%s", log)
		}
		if out, err := run(t, e, "wget -qO- http://alt:8080/"); err != nil || !strings.Contains(out, testenv.HTTPDBody) {
			t.Errorf("Run = %v\n%s", err, out)
		}
	})

	t.Run("never ready", func(t *testing.T) {
		t.Parallel()
		// A service whose port never opens gets a warning with its logs; the job goes on.
		x := newExecutor(t, cli, Options{ServiceTimeout: time.Second})
		job := newJob(t, image)
		job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}, Alias: "mute",
			Command: []string{"sh", "-c", "echo booting-but-never-listening; sleep 600"}}}
		start := time.Now()
		e, log := prepare(t, cli, x, job)
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Prepare took %v with ServiceTimeout 1s", d)
		}
		for _, want := range []string{"*** WARNING: Service", "probably didn't start properly", "port 80", "booting-but-never-listening"} {
			if !strings.Contains(log, want) {
				t.Errorf("Prepare's log lacks %q:\n%s", want, log)
			}
		}
		if out, err := run(t, e, "echo still-runs"); err != nil || !strings.Contains(out, "\nstill-runs\n") {
			t.Errorf("Run = %v\n%s", err, out)
		}
	})

	t.Run("exited", func(t *testing.T) {
		t.Parallel()
		// A service that exits is reported at once, not after the timeout.
		job := newJob(t, image)
		job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}, Command: []string{"sh", "-c", "echo dying; exit 7"}}}
		start := time.Now()
		_, log := prepare(t, cli, x, job)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Prepare took %v for a service that exits", d)
		}
		for _, want := range []string{"probably didn't start properly", "exit code 7", "dying"} {
			if !strings.Contains(log, want) {
				t.Errorf("Prepare's log lacks %q:\n%s", want, log)
			}
		}
	})
}

func TestServiceLogs(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	httpd := testenv.HTTPDImage(t, cli)
	x := newExecutor(t, cli, Options{})
	job := newJob(t, image)
	job.Env = []string{"GREETING=from-job"}
	job.Services = []pipeline.Service{{Image: pipeline.Image{Name: httpd}, Alias: "web",
		Command:   []string{"sh", "-c", `echo "svc-out $GREETING $OWN"; echo svc-err >&2; exec httpd -f -p 80 -h /www`},
		Variables: []pipeline.VarDef{{Key: "OWN", Value: "own-$GREETING"}}}}
	e, _ := prepare(t, cli, x, job)
	out, err := run(t, e, "wget -qO- http://web/ >/dev/null", "exit 2")
	if code, ok := executor.ExitCode(err); !ok || code != 2 {
		t.Fatalf("Run = %v, want exit code 2\n%s", err, out)
	}
	sl, ok := e.(ServiceLogger)
	if !ok {
		t.Fatal("Env is not a ServiceLogger")
	}
	var logs strings.Builder
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := sl.ServiceLogs(ctx, &logs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- service " + httpd + " (slipway-test__httpd, slipway-test-httpd, slipway-test-httpd-1, web) ---",
		"svc-out from-job own-from-job", "svc-err"} {
		if !strings.Contains(logs.String(), want+"\n") {
			t.Errorf("service logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestPullPolicy(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	// A name whose registry refuses connections: any pull of it fails at once.
	unreachable := "127.0.0.1:1/slipway-test/busybox:1"
	if _, err := cli.ImageTag(t.Context(), client.ImageTagOptions{Source: image, Target: unreachable}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), unreachable, client.ImageRemoveOptions{}) })
	missing := "127.0.0.1:1/slipway-test/missing:1"
	httpd := testenv.HTTPDImage(t, cli)

	tests := []struct {
		name     string
		image    string
		own      []string // the image's pull_policy
		job, opt string   // the job's and the executor's
		services []pipeline.Service
		wantErr  []string // in the error, which wraps ErrPull; nil: success
		wantLog  []string
		noLog    []string
	}{
		{name: "never missing", image: missing, own: []string{"never"},
			wantErr: []string{`"` + missing + `"`, "not present locally", "pull_policy never"}},
		{name: "job never missing", image: missing, job: "never", wantErr: []string{"pull_policy never"}},
		{name: "executor never missing", image: missing, opt: "never", wantErr: []string{"pull_policy never"}},
		{name: "image's policy wins", image: missing, own: []string{"never"}, job: "always", opt: "always", wantErr: []string{"pull_policy never"}},
		{name: "always fails", image: unreachable, own: []string{"always"},
			wantErr: []string{`"` + unreachable + `"`, "pull (pull_policy always) failed"}},
		{name: "if-not-present missing", image: missing, wantErr: []string{"pull (pull_policy if-not-present) failed"}},
		{name: "if-not-present present", image: unreachable, wantLog: []string{"Using docker image sha256:"}, noLog: []string{"Pulling"}},
		{name: "never present", image: unreachable, own: []string{"never"}, noLog: []string{"Pulling"}},
		{name: "always then if-not-present", image: unreachable, own: []string{"always", "if-not-present"},
			wantLog: []string{"Pulling docker image " + unreachable}},
		{name: "service missing", image: image, services: []pipeline.Service{
			{Image: pipeline.Image{Name: httpd}}, {Image: pipeline.Image{Name: missing, PullPolicy: []string{"never"}}}},
			wantErr: []string{`"` + missing + `"`, "pull_policy never"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := newExecutor(t, cli, Options{PullPolicy: tt.opt})
			job := newJob(t, tt.image)
			job.Image.PullPolicy = tt.own
			job.PullPolicy = tt.job
			job.Services = tt.services
			var log strings.Builder
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			e, err := x.Prepare(ctx, job, &log)
			if err == nil {
				cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
				defer ccancel()
				if err := e.Cleanup(cctx); err != nil {
					t.Errorf("Cleanup: %v", err)
				}
			}
			if tt.wantErr != nil {
				if !errors.Is(err, executor.ErrPull) {
					t.Fatalf("Prepare = %v, want an error wrapping ErrPull", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
			} else if err != nil {
				t.Fatalf("Prepare: %v\n%s", err, log.String())
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(log.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, log.String())
				}
			}
			for _, w := range tt.noLog {
				if strings.Contains(log.String(), w) {
					t.Errorf("log has %q:\n%s", w, log.String())
				}
			}
			// A failed Prepare removed what it made (the network, the first service).
			if left := leftovers(t, cli, job); len(left) > 0 {
				t.Errorf("left behind: %s", strings.Join(left, ", "))
			}
		})
	}
}
