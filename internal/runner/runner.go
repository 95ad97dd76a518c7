// Package runner is the agent of `slipway runner run`: it registers with a Slipway server,
// long-polls it for jobs, and runs each job against the protocol of package jobapi: a fresh
// checkout with git, the artifacts of the jobs it depends on, caches, the job itself (package
// run on a shell or Docker executor), the log streamed from a spool file, the lease kept by
// heartbeats, artifacts, dotenv and coverage sent back, and the final state reported once
// the server has every log byte. It does not schedule: which job runs where, retries and
// pipelines are the server's.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/run"
)

// Defaults.
const (
	// DefaultWait is the long-poll wait a runner asks for.
	DefaultWait = 30 * time.Second
	// DefaultRetryFor bounds how long a finished job's log, artifacts and final state are
	// retried while the server is unreachable.
	DefaultRetryFor = time.Hour
	// abortGrace bounds the report of jobs canceled by an aborted Run.
	abortGrace = 10 * time.Second
	// reapTimeout bounds the removal of an earlier process's leftovers when Run starts.
	reapTimeout = 2 * time.Minute
)

// Labels that name a runner on the objects its executor makes (see Config.OwnerLabels).
const (
	LabelRunnerID  = "slipway.runner.id"
	LabelRunnerURL = "slipway.runner.url"
)

// OwnerLabels are the labels an executor puts on what it makes for this runner's jobs
// (Docker containers, networks, volumes), so that Run, when it starts, can remove what an
// earlier process of the same runner left: the runner's ID and its server's URL (without
// credentials). Runners registered separately have different IDs, or different servers, so
// they never remove each other's objects on a shared engine. The same configuration run
// twice at once is one runner to the executor: the process that starts second removes the
// first one's running jobs' containers (their jobs fail); run a configuration once, or
// register a runner per process. A server reached at a new URL (the built-in runner's
// --url or --addr changed) no longer finds what the old URL's process left.
func (c *Config) OwnerLabels() map[string]string {
	u := strings.TrimRight(c.URL, "/")
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = nil
		u = p.String()
	}
	return map[string]string{LabelRunnerID: strconv.FormatInt(c.ID, 10), LabelRunnerURL: u}
}

// Options configure Run.
type Options struct {
	// Config is the registered runner.
	Config *Config
	// Executors returns the executor of a name (ExecutorShell, ExecutorDocker); Run asks for
	// the one Config.Executor picks for each job.
	Executors func(name string) (executor.Executor, error)
	// Logger receives the runner's own events (never job output or tokens); nil discards.
	Logger *slog.Logger
	// HTTPClient talks to the server; nil means a client with no overall timeout (each call
	// sets its own deadline; uploads may be long).
	HTTPClient *http.Client
	// Stop, when closed, stops Run gracefully: no new job is requested, and Run returns once
	// the running jobs have finished and been reported. Canceling Run's ctx instead aborts:
	// running jobs are canceled and reported as canceled, briefly (best effort).
	Stop <-chan struct{}
	// Wait is the long-poll wait asked of the server; zero means DefaultWait.
	Wait time.Duration
	// RetryFor bounds how long the log, artifacts and final state of a finished job are
	// retried while the server does not answer; zero means DefaultRetryFor.
	RetryFor time.Duration
	// Run tunes each job (timeouts, executor options).
	Run run.Options
}

// Run runs Concurrency workers that request and run jobs until Stop is closed (graceful) or
// ctx is canceled (abort). It returns after every worker has finished; the error is nil on a
// stop or abort, and reports a configuration that cannot run.
//
// Before it takes a job, Run removes what an earlier process of this runner left behind
// (killed, crashed): when the executor of Config.Executor is an executor.Reaper, which the
// caller labels with Config.OwnerLabels, everything it finds of this runner is a leftover,
// since no job runs yet. A failure to do so is logged, and the runner goes on.
func Run(ctx context.Context, o Options) error {
	c := o.Config
	if c == nil || c.URL == "" || c.Token == "" {
		return errors.New("run runner: config with url and token required")
	}
	if o.Executors == nil {
		return errors.New("run runner: Executors required")
	}
	switch c.Executor {
	case "", ExecutorShell, ExecutorDocker, ExecutorAuto:
	default:
		return fmt.Errorf("run runner: executor %q: want shell, docker or auto", c.Executor)
	}
	r := &agent{o: o, log: o.Logger, cacheLocks: map[string]chan struct{}{}}
	r.maxArtifacts, r.maxCache, r.dotenv = c.limits()
	r.junitSize = c.MaxJUnitSize // artifact.JUnit's default when zero
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.o.Wait == 0 {
		r.o.Wait = DefaultWait
	}
	if r.o.RetryFor == 0 {
		r.o.RetryFor = DefaultRetryFor
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	r.c = &client{base: strings.TrimRight(c.URL, "/"), hc: hc}
	var err error
	switch {
	case c.BuildsDir == "" && os.Geteuid() == 0:
		r.builds = rootBuildsDir
	default:
		if r.builds, err = dirOrDefault(c.BuildsDir, "builds"); err != nil {
			return err
		}
	}
	if r.cache, err = dirOrDefault(c.CacheDir, "cache"); err != nil {
		return err
	}
	n := max(c.Concurrency, 1)
	// stopCtx ends the long polls on a graceful stop; jobs run under ctx.
	stopCtx, stopCancel := context.WithCancel(ctx)
	defer stopCancel()
	if o.Stop != nil {
		go func() {
			select {
			case <-o.Stop:
				stopCancel()
			case <-stopCtx.Done():
			}
		}()
	}
	r.log.Info("runner started", "runner_id", c.ID, "name", c.Name, "concurrency", n, "executor", executorName(c))
	r.reap(ctx)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { r.worker(ctx, stopCtx, i) })
	}
	wg.Wait()
	r.log.Info("runner stopped", "runner_id", c.ID)
	return nil
}

func executorName(c *Config) string {
	if c.Executor == "" {
		return ExecutorShell
	}
	return c.Executor
}

// reap removes what the executor holds of an earlier process of this runner.
func (r *agent) reap(ctx context.Context) {
	name := executorName(r.o.Config)
	if name == ExecutorAuto {
		name = ExecutorDocker // the shell leaves nothing to reap
	}
	x, err := r.o.Executors(name)
	if err != nil {
		r.log.Warn("remove leftovers of earlier runs", "executor", name, "err", err)
		return
	}
	rp, ok := x.(executor.Reaper)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, reapTimeout)
	defer cancel()
	n, err := rp.Reap(ctx)
	if err != nil {
		r.log.Warn("remove leftovers of earlier runs", "executor", name, "objects", n, "err", err)
		return
	}
	r.log.Info("leftovers of earlier runs removed", "executor", name, "objects", n)
}

// rootBuildsDir is where a runner that runs as root keeps its checkouts unless configured:
// outside root's home, which its shell jobs (run as another user) cannot search.
const rootBuildsDir = "/var/lib/slipway/builds"

// dirOrDefault returns dir, or $HOME/.slipway/name when it is empty.
func dirOrDefault(dir, name string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("run runner: %s dir: %w", name, err)
	}
	return filepath.Join(home, ".slipway", name), nil
}

// agent is a running Run.
type agent struct {
	o             Options
	c             *client
	log           *slog.Logger
	builds, cache string
	// Limits, in bytes (Config.MaxArtifactsSize, MaxCacheSize, MaxJUnitSize) and of dotenv
	// reports.
	maxArtifacts, maxCache int64
	dotenv                 artifact.DotenvLimits
	junitSize              int64

	cacheMu sync.Mutex
	// cacheLocks lock the local caches, by "PROJECT_ID/KEY" (see task.lockKey).
	cacheLocks map[string]chan struct{}
}

// worker requests and runs jobs one at a time; slot names its build directories.
func (r *agent) worker(ctx, stopCtx context.Context, slot int) {
	bo := newBackoff()
	key := ""
	for stopCtx.Err() == nil {
		if key == "" {
			key = newKey()
		}
		c, err := r.request(stopCtx, key)
		switch {
		case stopCtx.Err() != nil:
			return
		case err != nil:
			// Keep the key after a network error or a 5xx: the server may have committed
			// the claim, and then answers the same request with the same job.
			if !retryable(stopCtx, err) {
				key = ""
			}
			r.log.Warn("request job", "err", err)
			if !bo.wait(stopCtx) {
				return
			}
			continue
		}
		key = ""
		bo.reset()
		if c == nil {
			continue
		}
		r.runJob(ctx, slot, c)
	}
}

// claim is a job the server gave this runner: its payload and the job it describes, and, when
// the runner cannot read them, why (the job is then failed, never run).
type claim struct {
	job       *jobapi.Job
	plan      *plan.Job
	heartbeat time.Duration
	bad       error
}

// request asks for a job; it returns nil, nil when none came within the wait. A job that
// cannot be read (a version above this runner's, a spec that does not decode) comes with an
// empty plan and bad saying why: it must be failed, never run. Fields the runner does not
// know are skipped.
func (r *agent) request(ctx context.Context, key string) (*claim, error) {
	body, err := json.Marshal(jobapi.JobRequest{Version: jobapi.Version, Key: key, WaitSeconds: jobapi.Seconds(r.o.Wait), RunnerVersion: jobapi.ProgramVersion()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Wait+15*time.Second)
	defer cancel()
	resp, err := r.c.do(ctx, http.MethodPost, jobapi.PathRequest, r.o.Config.Token, strings.NewReader(string(body)),
		http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return nil, fmt.Errorf("request job: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusCreated, http.StatusOK:
	default:
		return nil, fmt.Errorf("request job: %w", statusError(resp))
	}
	// The spec is decoded apart: a job the runner cannot read is still the runner's to fail.
	var raw struct {
		jobapi.Job
		Spec json.RawMessage `json:"spec"`
	}
	err = json.NewDecoder(resp.Body).Decode(&raw)
	if _, typeErr := errors.AsType[*json.UnmarshalTypeError](err); err != nil && !typeErr {
		// The answer was cut: the same key brings the job again.
		return nil, fmt.Errorf("request job: read answer: %w", err)
	}
	j := raw.Job
	if j.ID == 0 || j.Token == "" || len(raw.Spec) == 0 {
		return nil, &StatusError{Code: resp.StatusCode, Msg: "job without id, token or spec"}
	}
	c := &claim{job: &j, bad: err}
	if c.bad == nil && j.Version > jobapi.Version {
		c.bad = fmt.Errorf("%w: the server sent version %d and this runner reads up to %d: upgrade the runner",
			jobapi.ErrVersion, j.Version, jobapi.Version)
	}
	if c.bad == nil {
		if c.heartbeat, c.bad = jobapi.Duration(j.HeartbeatSeconds); c.bad != nil {
			c.bad = fmt.Errorf("heartbeat_seconds: %w", c.bad)
		}
	}
	if c.bad == nil {
		c.plan, c.bad = jobapi.DecodeSpec(raw.Spec)
	}
	if c.bad != nil {
		c.plan = &plan.Job{}
	}
	return c, nil
}

// newKey returns a random request key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
