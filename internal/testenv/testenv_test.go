package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	skipped, failed, errored string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}
func (r *recorder) Errorf(format string, args ...any) {
	r.errored = fmt.Sprintf(format, args...)
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name, ci, require string
		wantFail          bool
	}{
		{name: "neither", wantFail: false},
		{name: "CI", ci: "true", wantFail: true},
		{name: "require", require: "1", wantFail: true},
		{name: "CI false", ci: "false", require: "0", wantFail: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv("SLIPWAY_TEST_REQUIRE", tt.require)
			r := &recorder{TB: t}
			unavailable(r, "no %s", "engine")
			if tt.wantFail && (r.failed == "" || r.skipped != "") {
				t.Errorf("want a failure, got skipped=%q failed=%q", r.skipped, r.failed)
			}
			if !tt.wantFail && (r.skipped == "" || r.failed != "") {
				t.Errorf("want a skip, got skipped=%q failed=%q", r.skipped, r.failed)
			}
		})
	}
}

func TestPostgresAddr(t *testing.T) {
	tests := []struct {
		name, dsn, network, addr string
	}{
		{name: "url", dsn: "postgres://u:p@127.0.0.1:5433/db?sslmode=disable", network: "tcp", addr: "127.0.0.1:5433"},
		{name: "url default port", dsn: "postgresql://u@db.example/x", network: "tcp", addr: "db.example:5432"},
		{name: "url socket", dsn: "postgres:///db?host=/run/postgresql", network: "unix", addr: "/run/postgresql/.s.PGSQL.5432"},
		{name: "keyword", dsn: "host=10.0.0.1 port=6000 user=x", network: "tcp", addr: "10.0.0.1:6000"},
		{name: "keyword socket", dsn: "host=/tmp dbname=x", network: "unix", addr: "/tmp/.s.PGSQL.5432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, a := postgresAddr(tt.dsn)
			if n != tt.network || a != tt.addr {
				t.Errorf("postgresAddr(%q) = %s %s, want %s %s", tt.dsn, n, a, tt.network, tt.addr)
			}
		})
	}
}

func TestImages(t *testing.T) {
	cli := RequireDocker(t)
	ctx := context.Background()
	for _, tag := range []string{BusyboxImage(t, cli), HTTPDImage(t, cli)} {
		img, err := cli.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatalf("inspect %s: %v", tag, err)
		}
		if img.Config.Labels[hashLabel] == "" {
			t.Errorf("%s: no %s label", tag, hashLabel)
		}
	}
	img, err := cli.ImageInspect(ctx, HTTPDTag)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("%s exposes %v, want 80/tcp", HTTPDTag, img.Config.ExposedPorts)
	}
	// A second call in the same binary is served by the sync.Once.
	if got := BusyboxImage(t, cli); got != BusyboxTag {
		t.Errorf("BusyboxImage = %q", got)
	}
	// The image runs: busybox's applets are installed.
	out := runBusybox(t, cli, "sh", "-c", "echo $((6*7)); cat /dev/null")
	if out != "42\n" {
		t.Errorf("output %q, want 42", out)
	}
}

// runBusybox runs cmd in BusyboxTag and returns its stdout via the logs.
func runBusybox(t *testing.T, cli *client.Client, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Image: BusyboxTag, Config: &container.Config{Cmd: cmd}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}) })
	w := cli.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: "next-exit"})
	if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-w.Result:
		if r.StatusCode != 0 {
			t.Fatalf("exit %d", r.StatusCode)
		}
	case err := <-w.Error:
		t.Fatal(err)
	}
	logs, err := cli.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var stdout, stderr strings.Builder
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		t.Fatal(err)
	}
	return stdout.String()
}

func TestStartPostgres(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	ping := func() error {
		db, err := sql.Open("pgx", pg.DSN())
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return db.PingContext(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("ping a started server: %v", err)
	}
	pg.Stop()
	if err := ping(); err == nil {
		t.Fatal("ping a stopped server: no error")
	}
	pg.Start()
	if err := ping(); err != nil {
		t.Fatalf("ping a restarted server: %v", err)
	}
}
