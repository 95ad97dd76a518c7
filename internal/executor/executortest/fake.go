package executortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/executor"
)

// Fake is an executor.Executor that runs nothing: each command is echoed as GitLab Runner
// echoes it and then does what Results says. It records every call, in order, and is safe for
// concurrent use. Set its exported fields before the first Prepare and leave them alone after.
//
// Fake checks the Env contract: Run after Cleanup and concurrent Runs in one Env fail.
type Fake struct {
	// Results says what a command does, keyed by its text as in Script.Commands. A command
	// not in it succeeds and prints nothing but its echo.
	Results map[string]FakeResult
	// Result, when set, is asked before Results, for behaviour that depends on the job or
	// step; ok false falls back to Results.
	Result func(job *executor.Job, script executor.Script, cmd string) (r FakeResult, ok bool)
	// PrepareErrors makes Prepare fail, after recording the call, for the jobs named.
	PrepareErrors map[string]error

	mu    sync.Mutex
	calls []Call
	open  map[*fakeEnv]bool // prepared, not cleaned up
}

// FakeResult is what one command does in a Fake: print Output, wait Delay, block if Block,
// then exit with ExitCode. Waiting ends early, with the step's error, when the step's context
// is done or Script.Timeout passes.
type FakeResult struct {
	Output   string
	ExitCode int
	Delay    time.Duration
	Block    bool
}

// Call is one call of Prepare, Run, Cleanup or Shell on a Fake.
type Call struct {
	// Op is "prepare", "run", "cleanup" or "shell".
	Op    string
	Job   string
	JobID int64
	// Script and Commands are the Run's script.
	Script   string
	Commands []string
}

// String is the call in a form for test failure messages: "run build#1 step_script [make]".
func (c Call) String() string {
	s := fmt.Sprintf("%s %s#%d", c.Op, c.Job, c.JobID)
	if c.Op == "run" {
		s += fmt.Sprintf(" %s %q", c.Script, c.Commands)
	}
	return s
}

var (
	_ executor.Executor    = (*Fake)(nil)
	_ executor.Interactive = (*fakeEnv)(nil)
)

// Name is "fake".
func (f *Fake) Name() string { return "fake" }

// Calls returns the calls so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := make([]Call, len(f.calls))
	copy(calls, f.calls)
	return calls
}

// Open lists the jobs, as "name#id", whose Env was prepared and not yet cleaned up.
func (f *Fake) Open() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var open []string
	for e := range f.open {
		open = append(open, fmt.Sprintf("%s#%d", e.job.Name, e.job.ID))
	}
	return open
}

func (f *Fake) record(c Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

// Prepare records the call and returns an Env, or PrepareErrors[job.Name].
func (f *Fake) Prepare(ctx context.Context, job *executor.Job, log io.Writer) (executor.Env, error) {
	f.record(Call{Op: "prepare", Job: job.Name, JobID: job.ID})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.PrepareErrors[job.Name]; err != nil {
		return nil, err
	}
	e := &fakeEnv{f: f, job: job}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		f.open = make(map[*fakeEnv]bool)
	}
	f.open[e] = true
	return e, nil
}

type fakeEnv struct {
	f   *Fake
	job *executor.Job

	mu      sync.Mutex
	running bool
	cleaned bool
}

func (e *fakeEnv) Run(ctx context.Context, script executor.Script, out io.Writer) error {
	e.f.record(Call{Op: "run", Job: e.job.Name, JobID: e.job.ID, Script: script.Name,
		Commands: append([]string(nil), script.Commands...)})
	e.mu.Lock()
	switch {
	case e.cleaned:
		e.mu.Unlock()
		return errors.New("fake: Run after Cleanup")
	case e.running:
		e.mu.Unlock()
		return errors.New("fake: concurrent Runs in one Env")
	}
	e.running = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running = false
		e.mu.Unlock()
	}()

	if err := ctx.Err(); err != nil {
		return err
	}
	step := ctx
	if script.Timeout > 0 {
		var cancel context.CancelFunc
		step, cancel = context.WithTimeout(ctx, script.Timeout)
		defer cancel()
	}
	stopped := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%s timed out after %v: %w", script.Name, script.Timeout, context.DeadlineExceeded)
	}
	for _, cmd := range script.Commands {
		if strings.TrimSpace(cmd) == "" {
			continue
		}
		if step.Err() != nil {
			return stopped()
		}
		r := e.result(script, cmd)
		if _, err := io.WriteString(out, "\x1b[32;1m$ "+echoLine(cmd)+"\x1b[0;m\n"+r.Output); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if r.Delay > 0 {
			timer := time.NewTimer(r.Delay)
			select {
			case <-timer.C:
			case <-step.Done():
				timer.Stop()
				return stopped()
			}
		}
		if r.Block {
			<-step.Done()
			return stopped()
		}
		if r.ExitCode != 0 {
			return &executor.ExitError{Code: r.ExitCode}
		}
	}
	return nil
}

func (e *fakeEnv) result(script executor.Script, cmd string) FakeResult {
	if e.f.Result != nil {
		if r, ok := e.f.Result(e.job, script, cmd); ok {
			return r
		}
	}
	return e.f.Results[cmd]
}

// echoLine is how GitLab Runner shows cmd: its first line, marked when there are more.
func echoLine(cmd string) string {
	cmd = strings.TrimRight(cmd, "\n")
	if first, _, ok := strings.Cut(cmd, "\n"); ok {
		return first + " # collapsed multi-line command"
	}
	return cmd
}

func (e *fakeEnv) Cleanup(ctx context.Context) error {
	e.f.record(Call{Op: "cleanup", Job: e.job.Name, JobID: e.job.ID})
	e.mu.Lock()
	e.cleaned = true
	e.mu.Unlock()
	e.f.mu.Lock()
	delete(e.f.open, e)
	e.f.mu.Unlock()
	return nil
}

// Shell records the call and returns at once.
func (e *fakeEnv) Shell(ctx context.Context, in io.Reader, out io.Writer) error {
	e.f.record(Call{Op: "shell", Job: e.job.Name, JobID: e.job.ID})
	return ctx.Err()
}
