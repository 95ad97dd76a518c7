package executortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/slipway/slipway/internal/executor"
)

// suiteResults makes a Fake behave as a shell would for the suite's commands.
var suiteResults = map[string]FakeResult{
	cmdOne:     {Output: "one\n"},
	cmdTwoErr:  {Output: "two\n"},
	cmdThree:   {Output: "three\n"},
	cmdBefore:  {Output: "before\n"},
	cmdExit3:   {ExitCode: 3},
	cmdAfter:   {Output: "after\n"},
	cmdReady:   {Output: "ready\n"},
	cmdSleep:   {Block: true},
	cmdMulti:   {Output: "multi-ok\n"},
	cmdMulti2:  {Output: "line-1\nline-2\n"},
	cmdBig:     {Output: strings.Repeat("y", bigSize)},
	cmdBigDone: {Output: "big-done\n"},
}

func TestFakeSuite(t *testing.T) {
	f := &Fake{Results: suiteResults}
	Run(t, Suite{
		New:    func(*testing.T) executor.Executor { return f },
		Job:    func(_ *testing.T, dir string) *executor.Job { return &executor.Job{BuildDir: dir} },
		NoHost: true,
		Leftovers: func(_ *testing.T, job *executor.Job) []string {
			name := fmt.Sprintf("%s#%d", job.Name, job.ID)
			return slices.DeleteFunc(f.Open(), func(s string) bool { return s != name })
		},
	})
}

func TestFakeRecords(t *testing.T) {
	t.Parallel()
	f := &Fake{
		Results: map[string]FakeResult{"make": {Output: "built\n"}, "make test": {ExitCode: 2}},
		Result: func(job *executor.Job, _ executor.Script, cmd string) (FakeResult, bool) {
			if job.Name == "lint" && cmd == "make test" {
				return FakeResult{Output: "lint ok\n"}, true
			}
			return FakeResult{}, false
		},
		PrepareErrors: map[string]error{"broken": executor.ErrPull},
	}
	ctx := t.Context()
	if _, err := f.Prepare(ctx, &executor.Job{Name: "broken", ID: 9}, nil); !errors.Is(err, executor.ErrPull) {
		t.Errorf("Prepare(broken) = %v, want ErrPull", err)
	}
	e, err := f.Prepare(ctx, &executor.Job{Name: "build", ID: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{"make", "make test", "never"}}, &out)
	if code, ok := executor.ExitCode(err); !ok || code != 2 {
		t.Errorf("Run = %v, want exit code 2", err)
	}
	if want := "\x1b[32;1m$ make\x1b[0;m\nbuilt\n\x1b[32;1m$ make test\x1b[0;m\n"; out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
	lint, err := f.Prepare(ctx, &executor.Job{Name: "lint", ID: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := lint.Run(ctx, executor.Script{Name: "step_script", Commands: []string{"make test"}}, &out); err != nil || !strings.Contains(out.String(), "lint ok") {
		t.Errorf("Run(lint) = %v, output %q", err, out.String())
	}
	if got := f.Open(); len(got) != 2 {
		t.Errorf("Open = %q, want build#1 and lint#2", got)
	}
	for _, env := range []executor.Env{e, e, lint} {
		if err := env.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	}
	if err := e.Run(ctx, executor.Script{Name: "after_script"}, &out); err == nil {
		t.Error("Run after Cleanup succeeded")
	}
	if got := f.Open(); len(got) != 0 {
		t.Errorf("Open after Cleanup = %q", got)
	}
	var got []string
	for _, c := range f.Calls() {
		got = append(got, c.String())
	}
	want := []string{
		"prepare broken#9",
		"prepare build#1",
		`run build#1 step_script ["make" "make test" "never"]`,
		"prepare lint#2",
		`run lint#2 step_script ["make test"]`,
		"cleanup build#1",
		"cleanup build#1",
		"cleanup lint#2",
		`run build#1 after_script []`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Calls:\n got %q\nwant %q", got, want)
	}
}

func TestFakeDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &Fake{Results: map[string]FakeResult{"slow": {Delay: time.Minute}, "hang": {Block: true}}}
		e, err := f.Prepare(t.Context(), &executor.Job{Name: "j"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		start := time.Now()
		if err := e.Run(t.Context(), executor.Script{Name: "step_script", Commands: []string{"slow"}}, &out); err != nil {
			t.Errorf("Run(slow) = %v", err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Run(slow) took %v, want 1m", d)
		}
		err = e.Run(t.Context(), executor.Script{Name: "step_script", Commands: []string{"slow"}, Timeout: time.Second}, &out)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 1s") {
			t.Errorf("Run(slow) with Timeout 1s = %v, want a timeout", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() { errc <- e.Run(ctx, executor.Script{Name: "step_script", Commands: []string{"hang"}}, &out) }()
		synctest.Wait()
		if err := e.Run(t.Context(), executor.Script{Name: "after_script"}, &out); err == nil {
			t.Error("a second Run while one runs succeeded")
		}
		cancel()
		if err := <-errc; err != context.Canceled {
			t.Errorf("Run(hang) after cancel = %v, want context.Canceled", err)
		}
	})
}
