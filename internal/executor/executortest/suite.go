// Package executortest owns the conformance suite every executor.Executor passes (Run) and Fake,
// a scripted executor for scheduler and scenario tests. It does not start Docker or decide
// whether a test may use it (package testenv does).
package executortest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
)

// Suite describes the executor under test.
type Suite struct {
	// New returns the executor under test. It is called once per subtest, possibly in
	// parallel, and may return the same executor each time.
	New func(t *testing.T) executor.Executor
	// Job returns a job whose build directory is dir, with whatever image the executor needs.
	// The suite then sets Name and ID (unique within the test binary) and appends to Env.
	Job func(t *testing.T, dir string) *executor.Job
	// NoHost skips the subtests that need a real shell, the job's variables or the build
	// directory on the host: set it for fakes.
	NoHost bool
	// Leftovers, when set, lists what job left behind (processes, containers, networks,
	// volumes) once its Env was cleaned up; nil or empty means nothing. The suite polls it
	// to a deadline after every subtest's Cleanup. HostProcesses serves the shell executor.
	Leftovers func(t *testing.T, job *executor.Job) []string
}

// Timing bounds. Cancel is GitLab's promise to a user who presses cancel; the others only
// keep a broken executor from hanging the test binary.
const (
	// cancelWithin bounds how long a cancel or timeout may take to stop a script that would
	// otherwise sleep 30 s. It is generous: it tells "stopped" from "ran to the end" on a
	// loaded machine (where starting a container alone can take seconds), not speed.
	cancelWithin = 15 * time.Second
	waitLong     = 20 * time.Second
	stepTimeout  = 500 * time.Millisecond
)

// Commands the subtests run. Fake's own test maps them to results.
const (
	cmdOne       = "echo one"
	cmdTwoErr    = "echo two >&2"
	cmdThree     = "printf 'three\\n'"
	cmdBefore    = "echo before"
	cmdExit3     = "exit 3"
	cmdAfter     = "echo after"
	cmdShellName = "echo ${BASH_VERSION:-none}"
	cmdPipe      = "false | true"
	cmdReady     = "echo ready"
	cmdPIDSelf   = "echo $$ > " + PIDFile
	cmdPIDBg     = "sleep 30 & echo $! >> " + PIDFile
	cmdSleep     = "sleep 30"
	cmdMulti     = "if true; then\n  echo multi-ok\nfi\n"
	cmdMulti2    = "echo line-1\necho line-2"
	cmdBig       = "head -c 10485760 /dev/zero | tr '\\0' y"
	cmdBigDone   = "echo big-done"
	bigSize      = 10 << 20
)

// Run runs the conformance suite against s. Subtests are independent and parallel.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if s.New == nil || s.Job == nil {
		t.Fatal("executortest.Suite needs New and Job")
	}
	tests := []struct {
		name string
		host bool // needs a real shell and the build directory on the host
		test func(t *testing.T, s Suite)
	}{
		{name: "Output", test: testOutput},
		{name: "ExitCode", test: testExitCode},
		{name: "Pipefail", host: true, test: testPipefail},
		{name: "Variables", host: true, test: testVariables},
		{name: "WorkDir", host: true, test: testWorkDir},
		{name: "MultiLine", test: testMultiLine},
		{name: "AfterScript", test: testAfterScript},
		{name: "Cancel", test: testCancel},
		{name: "Timeout", test: testTimeout},
		{name: "LargeOutput", test: testLargeOutput},
		{name: "Cleanup", test: testCleanup},
		{name: "Concurrent", test: testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.host && s.NoHost {
				t.Skip("needs a shell on the host (Suite.NoHost)")
			}
			tt.test(t, s)
		})
	}
}

var jobIDs atomic.Int64

// prepare makes a build dir and a job for it with env added, prepares it, and registers its
// Cleanup and the leftovers check.
func (s Suite) prepare(t *testing.T, env ...string) (*executor.Job, executor.Env) {
	t.Helper()
	job := s.newJob(t, env...)
	e, err := s.prepareJob(t, s.New(t), job)
	if err != nil {
		t.Fatal(err)
	}
	return job, e
}

// newJob makes a build dir and a job for it with env added. Suite.Job may skip the test, so
// newJob runs on the test's goroutine.
func (s Suite) newJob(t *testing.T, env ...string) *executor.Job {
	t.Helper()
	job := s.Job(t, t.TempDir())
	job.Name = "suite-" + strings.ToLower(nonAlnum.ReplaceAllString(t.Name(), "-"))
	job.ID = jobIDs.Add(1)
	job.Env = append(job.Env, env...)
	return job
}

var nonAlnum = regexp.MustCompile(`[^A-Za-z0-9]+`)

// prepareJob prepares job on x and registers its Cleanup and the leftovers check. It may run
// on any goroutine.
func (s Suite) prepareJob(t *testing.T, x executor.Executor, job *executor.Job) (executor.Env, error) {
	var log Buffer
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	e, err := x.Prepare(ctx, job, &log)
	if err != nil {
		return nil, fmt.Errorf("Prepare: %w\nlog:\n%s", err, log.String())
	}
	t.Cleanup(func() {
		// t.Context is canceled by now; Cleanup must not depend on it.
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := e.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		s.checkLeftovers(t, job)
	})
	return e, nil
}

func (s Suite) checkLeftovers(t *testing.T, job *executor.Job) {
	t.Helper()
	if s.Leftovers == nil {
		return
	}
	var left []string
	if !poll(waitLong, func() bool { left = s.Leftovers(t, job); return len(left) == 0 }) {
		t.Errorf("left behind after Cleanup: %s", strings.Join(left, ", "))
	}
}

// run runs commands as script name in e with a timeout of waitLong, and returns its output.
func run(t *testing.T, e executor.Env, name string, cmds ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	var out Buffer
	err := e.Run(ctx, executor.Script{Name: name, Commands: cmds}, &out)
	return out.String(), err
}

func testOutput(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	out, err := run(t, e, "step_script", cmdOne, cmdTwoErr, cmdThree)
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out)
	}
	want := []string{"$ " + cmdOne, "one", "$ " + cmdTwoErr, "two", "$ " + cmdThree, "three"}
	if got := lines(out); !equal(got, want) {
		t.Errorf("output lines (colours stripped):\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(out, "\x1b[32;1m$ "+cmdOne+"\x1b[0;m\n") {
		t.Errorf("command not echoed in green as GitLab Runner does:\n%q", out)
	}
}

func testExitCode(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	out, err := run(t, e, "step_script", cmdBefore, cmdExit3, cmdAfter)
	if code, ok := executor.ExitCode(err); !ok || code != 3 {
		t.Fatalf("Run = %v (%T), want *ExitError with Code 3\noutput:\n%s", err, err, out)
	}
	got := lines(out)
	if !contains(got, "before") {
		t.Errorf("command before the failure did not run:\n%q", got)
	}
	if contains(got, "after") || contains(got, "$ "+cmdAfter) {
		t.Errorf("command after the failure ran or was echoed:\n%q", got)
	}
}

func testPipefail(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	out, err := run(t, e, "step_script", cmdShellName, cmdPipe, cmdAfter)
	got := lines(out)
	shell := after(got, "$ "+cmdShellName)
	if shell == "none" {
		if err != nil {
			t.Fatalf("Run under sh = %v, want success (sh has no pipefail)\noutput:\n%s", err, out)
		}
		t.Skip("the shell is sh: no pipefail")
	}
	if code, ok := executor.ExitCode(err); !ok || code != 1 {
		t.Fatalf("Run under bash %s = %v, want *ExitError with Code 1 (pipefail)\noutput:\n%s", shell, err, out)
	}
	if contains(got, "after") {
		t.Errorf("command after the failing pipeline ran:\n%q", got)
	}
}

func testVariables(t *testing.T, s Suite) {
	vars := map[string]string{
		"SLIPWAY_T_SPACES":  "a b  c ",
		"SLIPWAY_T_QUOTES":  `it's "quoted" \ and ` + "`x`",
		"SLIPWAY_T_NEWLINE": "line1\nline2",
		"SLIPWAY_T_DOLLAR":  "$HOME and ${PATH}",
		"SLIPWAY_T_EMPTY":   "",
	}
	var env, cmds []string
	for k, v := range vars {
		env = append(env, k+"="+v)
		cmds = append(cmds, fmt.Sprintf(`printf '%s=<%%s>\n' "${%s-unset}"`, k, k))
	}
	_, e := s.prepare(t, env...)
	out, err := run(t, e, "step_script", cmds...)
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out)
	}
	for k, v := range vars {
		if want := k + "=<" + v + ">\n"; !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func testWorkDir(t *testing.T, s Suite) {
	job, e := s.prepare(t)
	out, err := run(t, e, "step_script", "pwd", "echo written > written.txt")
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out)
	}
	want := job.ProjectDir
	if want == "" {
		want = job.BuildDir
	}
	if got := after(lines(out), "$ pwd"); !samePath(got, want) {
		t.Errorf("pwd = %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(job.BuildDir, "written.txt")); got != "written\n" {
		t.Errorf("written.txt in BuildDir on the host = %q, want %q", got, "written\n")
	}
}

func testMultiLine(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	out, err := run(t, e, "step_script", cmdMulti, cmdMulti2)
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out)
	}
	want := []string{
		"$ if true; then # collapsed multi-line command", "multi-ok",
		"$ echo line-1 # collapsed multi-line command", "line-1", "line-2",
	}
	if got := lines(out); !equal(got, want) {
		t.Errorf("output lines:\n got %q\nwant %q", got, want)
	}
}

func testAfterScript(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	step, after := []string{cmdOne}, []string{cmdThree}
	if !s.NoHost {
		step = append(step, "echo shared > shared.txt")
		after = append(after, "cat shared.txt")
	}
	step = append(step, cmdExit3)
	out, err := run(t, e, "step_script", step...)
	if code, ok := executor.ExitCode(err); !ok || code != 3 {
		t.Fatalf("step_script = %v, want exit code 3\noutput:\n%s", err, out)
	}
	out, err = run(t, e, "after_script", after...)
	if err != nil {
		t.Fatalf("after_script after a failed step_script: %v\noutput:\n%s", err, out)
	}
	if got := lines(out); !contains(got, "three") || (!s.NoHost && !contains(got, "shared")) {
		t.Errorf("after_script output:\n%q", got)
	}
}

func testCancel(t *testing.T, s Suite) {
	job, e := s.prepare(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out Buffer
	errc := make(chan error, 1)
	go func() {
		errc <- e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{
			cmdPIDSelf, cmdPIDBg, cmdReady, cmdSleep,
		}}, &out)
	}()
	if !poll(waitLong, func() bool { return contains(lines(out.String()), "ready") }) {
		cancel()
		t.Fatalf("script did not start within %v; output:\n%s", waitLong, out.String())
	}
	if !s.NoHost && !poll(waitLong, func() bool { return len(pids(t, job)) >= 2 }) {
		t.Errorf("%s does not hold 2 PIDs", PIDFile)
	}
	cancel()
	start := time.Now()
	select {
	case err := <-errc:
		if d := time.Since(start); d > cancelWithin {
			t.Errorf("Run returned %v after cancel, want within %v", d, cancelWithin)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v (%T), want ctx.Err() = context.Canceled", err, err)
		}
	case <-time.After(waitLong):
		t.Fatalf("Run still running %v after cancel; output:\n%s", waitLong, out.String())
	}
	// GitLab runs after_script after a canceled step: the Env stays usable.
	if o, err := run(t, e, "after_script", cmdThree); err != nil || !contains(lines(o), "three") {
		t.Errorf("Run after a canceled Run = %v, output:\n%s", err, o)
	}
}

func testTimeout(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	var out Buffer
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	start := time.Now()
	err := e.Run(ctx, executor.Script{Name: "step_script", Timeout: stepTimeout, Commands: []string{
		cmdReady, cmdSleep, cmdAfter,
	}}, &out)
	if d := time.Since(start); d > stepTimeout+cancelWithin {
		t.Errorf("Run with Timeout %v returned after %v", stepTimeout, d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v (%T), want an error wrapping context.DeadlineExceeded", err, err)
	}
	if _, ok := executor.ExitCode(err); ok {
		t.Errorf("Run = %v: a timeout is not an *ExitError", err)
	}
	if got := lines(out.String()); !contains(got, "ready") || contains(got, "after") {
		t.Errorf("output:\n%q", got)
	}
	// GitLab runs after_script after a timed-out step: the Env stays usable.
	if o, err := run(t, e, "after_script", cmdThree); err != nil || !contains(lines(o), "three") {
		t.Errorf("Run after a timed-out Run = %v, output:\n%s", err, o)
	}
}

func testLargeOutput(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	var out countWriter
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	err := e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{cmdBig, cmdBigDone}}, &out)
	if err != nil {
		t.Fatalf("Run: %v\noutput (y's removed):\n%s", err, out.rest.String())
	}
	if want := int64(bigSize + strings.Count(cmdBig, "y")); out.ys != want {
		t.Errorf("got %d bytes 'y', want %d", out.ys, want)
	}
	if got := lines(out.rest.String()); !contains(got, "big-done") {
		t.Errorf("output after the large one is missing:\n%q", got)
	}
}

func testCleanup(t *testing.T, s Suite) {
	_, e := s.prepare(t)
	// A Run canceled before it starts returns ctx's error.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out Buffer
	if err := e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{cmdOne}}, &out); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a canceled ctx = %v, want context.Canceled", err)
	}
	// A Run canceled mid-way, then Cleanup twice.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{cmdReady, cmdSleep}}, &out)
	}()
	if !poll(waitLong, func() bool { return contains(lines(out.String()), "ready") }) {
		t.Errorf("script did not start; output:\n%s", out.String())
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Run = %v, want context.Canceled", err)
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(t.Context()), waitLong)
	defer ccancel()
	for i := range 2 {
		if err := e.Cleanup(cctx); err != nil {
			t.Errorf("Cleanup #%d after a canceled Run: %v", i+1, err)
		}
	}
}

func testConcurrent(t *testing.T, s Suite) {
	const n = 2
	x := s.New(t)
	var jobs [n]*executor.Job
	for i := range n {
		jobs[i] = s.newJob(t, fmt.Sprintf("SLIPWAY_T_WHO=job-%d", i))
	}
	var prepared, wg sync.WaitGroup
	prepared.Add(n)
	for i, job := range jobs {
		wg.Go(func() {
			who := fmt.Sprintf("job-%d", i)
			e, err := s.prepareJob(t, x, job)
			prepared.Done()
			if err != nil {
				t.Errorf("%s: %v", who, err)
				return
			}
			prepared.Wait() // both Envs exist before either runs
			cmds := []string{"echo " + who}
			if !s.NoHost {
				cmds = append(cmds, `echo "$SLIPWAY_T_WHO" > who.txt`, "cat who.txt")
			}
			out, err := run(t, e, "step_script", cmds...)
			if err != nil {
				t.Errorf("%s: Run: %v\noutput:\n%s", who, err, out)
				return
			}
			got := lines(out)
			if !contains(got, "$ echo "+who) || (!s.NoHost && !contains(got, who)) {
				t.Errorf("%s: output:\n%q", who, got)
			}
			for j := range n {
				if other := fmt.Sprintf("job-%d", j); j != i && strings.Contains(out, other) {
					t.Errorf("%s: output shows %s:\n%q", who, other, got)
				}
			}
			if !s.NoHost {
				if got, err := os.ReadFile(filepath.Join(job.BuildDir, "who.txt")); string(got) != who+"\n" {
					t.Errorf("%s: who.txt = %q, %v", who, got, err)
				}
			}
		})
	}
	wg.Wait()
}
