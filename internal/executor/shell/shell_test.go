package shell

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/executortest"
)

func TestSuite(t *testing.T) {
	for _, shell := range []string{"bash", "sh"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("no %s: %v", shell, err)
			}
			x, err := New(Options{Shell: shell})
			if err != nil {
				t.Fatal(err)
			}
			executortest.Run(t, executortest.Suite{
				New: func(*testing.T) executor.Executor { return x },
				Job: func(_ *testing.T, dir string) *executor.Job {
					return &executor.Job{BuildDir: dir, ProjectDir: dir}
				},
				Leftovers: executortest.HostProcesses,
			})
		})
	}
}

// prepare prepares a job in a new build dir on a new executor with o, and cleans it up after.
func prepare(t *testing.T, o Options, vars ...string) (*env, *executor.Job) {
	t.Helper()
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	job := &executor.Job{Name: "test: [a, b/c]", ID: 7, BuildDir: dir, ProjectDir: dir, Env: vars}
	e, err := x.Prepare(t.Context(), job, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Cleanup(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e.(*env), job
}

func runScript(t *testing.T, e *env, cmds ...string) (string, error) {
	t.Helper()
	var out executortest.Buffer
	err := e.Run(t.Context(), executor.Script{Name: "step_script", Commands: cmds}, &out)
	return out.String(), err
}

func TestJobEnvOverridesInherited(t *testing.T) {
	t.Setenv("SLIPWAY_T_INHERITED", "from-slipway")
	t.Setenv("SLIPWAY_T_KEPT", "kept")
	e, _ := prepare(t, Options{InheritAll: true}, "SLIPWAY_T_INHERITED=from-job")
	out, err := runScript(t, e, `echo "<$SLIPWAY_T_INHERITED> <$SLIPWAY_T_KEPT>"`, "env")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "\n<from-job> <kept>\n") {
		t.Errorf("output:\n%s", out)
	}
	if n := strings.Count(out, "SLIPWAY_T_INHERITED="); n != 1 {
		t.Errorf("env lists SLIPWAY_T_INHERITED %d times:\n%s", n, out)
	}
}

// A job gets an allowlist of this process's environment, the names Inherit adds, and never
// a SLIPWAY_ variable; InheritAll (slipway run) gives it everything.
func TestHostEnv(t *testing.T) {
	host := map[string]string{
		"SLIPWAY_ADMIN_TOKEN":   "admin-secret",
		"SLIPWAY_T_PREFIXED":    "slipway-prefixed",
		"DATABASE_URL":          "postgres://u:db-secret@h/d",
		"SMTP_PASSWORD":         "smtp-secret",
		"AWS_SECRET_ACCESS_KEY": "aws-secret",
		"LC_ALL":                "C.UTF-8",
		"TZ":                    "Europe/Paris",
		"HTTP_PROXY":            "http://proxy:3128",
		"MY_TOOL_HOME":          "/opt/tool",
		"MY_TOOL_CACHE":         "/var/cache/tool",
	}
	for k, v := range host {
		t.Setenv(k, v)
	}
	always := []string{"PATH", "LC_ALL", "TZ"}
	tests := []struct {
		name      string
		o         Options
		get, lack []string
	}{
		{name: "allowlist", o: Options{},
			get:  always,
			lack: []string{"SLIPWAY_ADMIN_TOKEN", "SLIPWAY_T_PREFIXED", "DATABASE_URL", "SMTP_PASSWORD", "AWS_SECRET_ACCESS_KEY", "HTTP_PROXY", "MY_TOOL_HOME"}},
		{name: "inherit names and prefixes", o: Options{Inherit: []string{"HTTP_PROXY", "MY_TOOL_*", "SLIP*"}},
			get:  append([]string{"HTTP_PROXY", "MY_TOOL_HOME", "MY_TOOL_CACHE"}, always...),
			lack: []string{"SLIPWAY_ADMIN_TOKEN", "SLIPWAY_T_PREFIXED", "DATABASE_URL", "SMTP_PASSWORD"}},
		{name: "inherit all", o: Options{InheritAll: true},
			get: append([]string{"SLIPWAY_ADMIN_TOKEN", "DATABASE_URL", "HTTP_PROXY"}, always...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := prepare(t, tc.o, "JOB_VAR=job")
			out, err := runScript(t, e, "env")
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out)
			}
			lines := strings.Split(out, "\n")
			for _, k := range append(tc.get, "JOB_VAR") {
				want := k + "=" + os.Getenv(k)
				if k == "JOB_VAR" {
					want = "JOB_VAR=job"
				}
				if !slices.Contains(lines, want) {
					t.Errorf("the job lacks %s:\n%s", want, out)
				}
			}
			for _, k := range tc.lack {
				if strings.Contains(out, k+"=") || strings.Contains(out, host[k]) {
					t.Errorf("the job got %s:\n%s", k, out)
				}
			}
		})
	}
}

func TestCheckInherit(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"HTTP_PROXY": true, "http_proxy": true, "MY_*": true, "_X1": true,
		"": false, "*": false, "1X": false, "A-B": false, "A*B": false, "A=B": false,
		"SLIPWAY_ADMIN_TOKEN": false, "SLIPWAY_*": false,
	} {
		if err := CheckInherit(name); (err == nil) != ok {
			t.Errorf("CheckInherit(%q) = %v, want ok %v", name, err, ok)
		}
	}
	if _, err := New(Options{Inherit: []string{"OK", "SLIPWAY_DB"}}); err == nil || !strings.Contains(err.Error(), "SLIPWAY_DB") {
		t.Errorf("New with SLIPWAY_DB to inherit: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([]string{"A=1", "B=2", "C=3"}, []string{"B=x", "D=4", "A=y=z", "B="})
	want := []string{"A=y=z", "B=", "C=3", "D=4"}
	if !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestTimeoutMessage(t *testing.T) {
	t.Parallel()
	e, _ := prepare(t, Options{})
	var out executortest.Buffer
	err := e.Run(t.Context(), executor.Script{Name: "step_script", Timeout: 200 * time.Millisecond, Commands: []string{"sleep 30"}}, &out)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Errorf("Run = %v, want step_script timed out after 200ms", err)
	}
}

// A process left holding the output pipe must not hang Run, and is killed when Run returns.
func TestBackgroundProcessHoldingOutput(t *testing.T) {
	t.Parallel()
	e, job := prepare(t, Options{KillGrace: 200 * time.Millisecond})
	start := time.Now()
	out, err := runScript(t, e, "sleep 30 & echo $! > bg.pid", "echo done")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v", d)
	}
	b, err := os.ReadFile(filepath.Join(job.BuildDir, "bg.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	if !waitGone(pid, 5*time.Second) {
		t.Errorf("background process %s still runs after Run", pid)
	}
}

// A script that ignores SIGTERM is killed after the grace.
func TestKillAfterGrace(t *testing.T) {
	t.Parallel()
	e, _ := prepare(t, Options{KillGrace: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	var out executortest.Buffer
	errc := make(chan error, 1)
	go func() {
		errc <- e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{
			"trap '' TERM", "echo ready", "while :; do sleep 0.05; done",
		}}, &out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "\nready\n") {
		if time.Now().After(deadline) {
			t.Fatalf("script did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	start := time.Now()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("Run returned %v after cancel, want after the 300ms grace", d)
	}
}

func TestSignalExitCode(t *testing.T) {
	t.Parallel()
	e, _ := prepare(t, Options{})
	_, err := runScript(t, e, "kill -KILL $$")
	if code, ok := executor.ExitCode(err); !ok || code != 137 {
		t.Errorf("Run = %v, want exit code 137", err)
	}
}

func TestPrepareBadBuildDir(t *testing.T) {
	t.Parallel()
	x, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), file} {
		if _, err := x.Prepare(t.Context(), &executor.Job{BuildDir: dir}, io.Discard); err == nil {
			t.Errorf("Prepare(%s) succeeded", dir)
		}
	}
}

func TestScriptFilesAndCleanup(t *testing.T) {
	t.Parallel()
	e, _ := prepare(t, Options{})
	out, err := runScript(t, e, `ls -l "$0"`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "-rwx------") || !strings.Contains(out, e.tmp) {
		t.Errorf("script file is not 0700 in %s:\n%s", e.tmp, out)
	}
	tmp := e.tmp
	for range 2 {
		if err := e.Cleanup(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("script dir after Cleanup: %v", err)
	}
	if _, err := runScript(t, e, "true"); err == nil {
		t.Error("Run after Cleanup succeeded")
	}
}

func TestDefaultShell(t *testing.T) {
	t.Parallel()
	x, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := exec.LookPath("bash")
	if err != nil {
		want, _ = exec.LookPath("sh")
	}
	if x.Shell() != want {
		t.Errorf("Shell = %q, want %q", x.Shell(), want)
	}
	if _, err := New(Options{Shell: "no-such-shell-slipway"}); err == nil {
		t.Error("New with a missing shell succeeded")
	}
}

func TestInteractiveShell(t *testing.T) {
	for _, shell := range []string{"bash", "sh"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("no %s", shell)
			}
			// HOME keeps the shell's history and rc files out of the user's.
			e, job := prepare(t, Options{Shell: shell}, "HOME="+t.TempDir(), "SLIPWAY_T_VAR=a b")
			var out executortest.Buffer
			in := strings.NewReader("echo \"<$SLIPWAY_T_VAR>\"\npwd\nexit 4\n")
			err := e.Shell(t.Context(), in, &out)
			if code, ok := executor.ExitCode(err); !ok || code != 4 {
				t.Errorf("Shell = %v, want exit code 4\n%s", err, out.String())
			}
			if got := out.String(); !strings.Contains(got, "<a b>\n") || !strings.Contains(got, job.BuildDir+"\n") {
				t.Errorf("output:\n%s", got)
			}
		})
	}
}

func TestInteractiveShellCancel(t *testing.T) {
	t.Parallel()
	e, _ := prepare(t, Options{KillGrace: 200 * time.Millisecond})
	pr, pw, err := os.Pipe() // never written: the shell waits for input
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var out executortest.Buffer
	if err := e.Shell(ctx, pr, &out); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shell = %v, want ctx's error", err)
	}
}

// waitGone polls until process pid is gone or a zombie, up to d.
func waitGone(pid string, d time.Duration) bool {
	if _, err := strconv.Atoi(pid); err != nil {
		return false
	}
	deadline := time.Now().Add(d)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
