// Package local runs a planned pipeline on this machine, as `slipway run` does: it chooses the
// jobs, orders them as GitLab does (stages, needs, when, allow_failure, retry, resource_group),
// prepares each job's build directory from one snapshot of the work tree, passes artifacts,
// dotenv variables and caches between jobs, and prints what happens. Running one job is
// package run's work; where it runs is the executor's.
package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/flow"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/run"
	"github.com/slipway/slipway/internal/status"
)

// Options describe a local run.
type Options struct {
	// Root is the repository root; Files lists what to snapshot (slash paths relative to Root)
	// and Tracked what git tracks (the rest is "untracked" for artifacts and caches).
	Root           string
	Files, Tracked []string
	// Plan is the decided pipeline.
	Plan *plan.Plan
	// Jobs, when set, runs only these jobs (names or parallel base names) and what they need,
	// unless NoDeps.
	Jobs   []string
	NoDeps bool
	// Manual also runs manual jobs.
	Manual bool
	// Executor picks the executor of a job.
	Executor func(*plan.Job) executor.Executor
	// ProjectDir returns CI_PROJECT_DIR for a job on the executor it runs on; nil means the
	// job's build directory (shell).
	ProjectDir func(j *plan.Job, buildDir string) string
	// Concurrency bounds jobs running at once; zero means 4.
	Concurrency int
	// Out receives the human output (or JSON events).
	Out        io.Writer
	Color, TTY bool
	Timestamps bool
	Events     bool
	// State is where runs keep build dirs, artifacts and caches; empty means Root/.slipway.
	State string
	// Run tunes each job.
	Run run.Options
	// Project is the project path, for labels.
	Project string
}

// JobResult is how one job ended.
type JobResult struct {
	Name     string        `json:"name"`
	Stage    string        `json:"stage"`
	Status   status.Status `json:"status"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_s"`
	Reason   status.Reason `json:"failure_reason,omitempty"`
	ExitCode int           `json:"exit_code,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
}

// Summary is how the pipeline ended: success (warnings allowed), failed or canceled.
type Summary struct {
	Status status.Status `json:"status"`
	Jobs   []JobResult   `json:"jobs"`
}

// node is one job of the run.
type node struct {
	job     *plan.Job
	prereqs []*node
	status  status.Status
	result  run.Result
	tries   int
	dotenv  []plan.Var
	index   int
}

// Run runs the pipeline and returns how it ended. It returns an error only when the run
// could not start (no job selected, the snapshot failed); job failures are in the Summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.State == "" {
		o.State = filepath.Join(o.Root, ".slipway")
	}
	nodes, err := selectJobs(o)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, nodes: nodes, groups: map[string]*sync.Mutex{}}
	if err := r.prepareState(); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.runDir)
	out := o.Out
	if !o.TTY {
		// Off a terminal nobody watches line by line: batch writes (a 100 MB log is
		// otherwise two million write calls). Job ends and the summary flush it.
		bw := bufio.NewWriterSize(o.Out, 64<<10)
		defer bw.Flush()
		out = bw
	}
	r.out = &printer{w: out, color: o.Color, tty: o.TTY, timestamps: o.Timestamps, events: o.Events, now: time.Now}
	for _, n := range nodes {
		r.out.width = max(r.out.width, len(n.job.Name))
	}
	r.loop(ctx)
	return r.summary(ctx), nil
}

// selectJobs picks the jobs to run and links each to the jobs it waits for.
func selectJobs(o Options) ([]*node, error) {
	byName := map[string]*node{}
	var all []*node
	for i, j := range o.Plan.Jobs {
		n := &node{job: j, status: status.Created, index: i}
		byName[j.Name] = n
		all = append(all, n)
	}
	chosen := all
	if len(o.Jobs) > 0 {
		want := map[*node]bool{}
		var add func(n *node)
		add = func(n *node) {
			if want[n] {
				return
			}
			want[n] = true
			if o.NoDeps {
				return
			}
			for _, need := range n.job.Needs {
				if t := byName[need.Job]; t != nil {
					add(t)
				}
			}
		}
		for _, name := range o.Jobs {
			found := false
			for _, n := range all {
				if n.job.Name == name || n.job.Base == name {
					add(n)
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("no job %q in this pipeline (see `slipway jobs` and `slipway explain %s`)", name, name)
			}
		}
		chosen = nil
		for _, n := range all {
			if want[n] {
				chosen = append(chosen, n)
			}
		}
	}
	if len(chosen) == 0 {
		return nil, errors.New("no jobs to run")
	}
	jobs := make([]*plan.Job, len(chosen))
	for i, n := range chosen {
		jobs[i] = n.job
	}
	for i, pre := range flow.Prereqs(jobs) {
		for _, k := range pre {
			chosen[i].prereqs = append(chosen[i].prereqs, chosen[k])
		}
	}
	return chosen, nil
}

type runner struct {
	o      Options
	nodes  []*node
	out    *printer
	runDir string
	src    string

	mu     sync.Mutex // guards groups
	groups map[string]*sync.Mutex
}

func (r *runner) prepareState() error {
	if err := os.MkdirAll(r.o.State, 0o755); err != nil {
		return fmt.Errorf("make state dir: %w", err)
	}
	// Git ignores the state directory without the user touching .gitignore.
	_ = os.WriteFile(filepath.Join(r.o.State, ".gitignore"), []byte("*\n"), 0o644)
	dir, err := os.MkdirTemp(r.o.State, "run-")
	if err != nil {
		return fmt.Errorf("make run dir: %w", err)
	}
	r.runDir, r.src = dir, filepath.Join(dir, "src")
	// One snapshot per run: every job starts from the work tree as it was when the run
	// began, uncommitted changes included, and no job touches the user's tree.
	if err := artifact.CopyFiles(r.o.Root, r.src, r.o.Files); err != nil {
		return fmt.Errorf("snapshot the work tree: %w", err)
	}
	return nil
}

// done reports whether a job in status s is done with in a local run: final, or manual
// (nobody plays it here).
func done(s status.Status) bool { return s != status.Created && s != status.Running }

// loop starts jobs as their prerequisites finish until every job is final. Only the loop's
// goroutine reads or writes node statuses.
func (r *runner) loop(ctx context.Context) {
	finished := make(chan *node)
	running := 0
	for {
		for _, n := range r.nodes {
			if n.status != status.Created {
				continue
			}
			decision, ok := r.decide(ctx, n)
			if !ok {
				continue
			}
			if decision == status.Pending {
				if running >= r.o.Concurrency {
					continue
				}
				running++
				n.status = status.Running
				r.event(n)
				go func(n *node) { r.runJob(ctx, n); finished <- n }(n)
				continue
			}
			n.status = decision
			r.event(n)
		}
		r.progress()
		if running == 0 {
			// Every job is final, or nothing can start (a needs cycle, which the plan refuses).
			r.out.setStatus("")
			return
		}
		n := <-finished
		running--
		n.status = n.result.Status
		if n.status == status.Failed {
			n.status = flow.FailedStatus(n.job, n.result.ExitCode)
		}
		r.event(n)
	}
}

// decide says what becomes of a job whose prerequisites are final (ok false: not yet):
// status.Pending to start it, or the status to give it.
func (r *runner) decide(ctx context.Context, n *node) (status.Status, bool) {
	prereqs := make([]flow.Prereq, len(n.prereqs))
	for i, p := range n.prereqs {
		prereqs[i] = flow.Prereq{Job: p.job, Status: p.status}
	}
	return flow.Decide(n.job, prereqs, flow.Options{Play: r.o.Manual, Canceled: ctx.Err() != nil})
}

func (r *runner) progress() {
	if !r.o.TTY {
		return
	}
	var runningNames []string
	doneCount := 0
	for _, n := range r.nodes {
		switch {
		case n.status == status.Running:
			runningNames = append(runningNames, n.job.Name)
		case done(n.status):
			doneCount++
		}
	}
	r.out.setStatus(fmt.Sprintf("▶ %d/%d done · running: %s", doneCount, len(r.nodes), strings.Join(runningNames, ", ")))
}
