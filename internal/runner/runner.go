// Package runner is the agent of `slipway runner run`: it registers with a Slipway server,
// long-polls it for jobs, and runs each job against the protocol of package jobapi: the
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/jobapi"
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
)

// Options configure Run.
type Options struct {
	// Config is the registered runner.
	Config *Config
	// Executors returns the executor of a name ("shell", "docker"); Run asks for
	// Config.Executor (empty: "shell") once per job.
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
func Run(ctx context.Context, o Options) error {
	c := o.Config
	if c == nil || c.URL == "" || c.Token == "" {
		return errors.New("run runner: config with url and token required")
	}
	if o.Executors == nil {
		return errors.New("run runner: Executors required")
	}
	r := &agent{o: o, log: o.Logger}
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
		return "shell"
	}
	return c.Executor
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
}

// worker requests and runs jobs one at a time; slot names its build directories.
func (r *agent) worker(ctx, stopCtx context.Context, slot int) {
	bo := newBackoff()
	key := ""
	for stopCtx.Err() == nil {
		if key == "" {
			key = newKey()
		}
		job, err := r.request(stopCtx, key)
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
		if job == nil {
			continue
		}
		r.runJob(ctx, slot, job)
	}
}

// request asks for a job; it returns nil, nil when none came within the wait.
func (r *agent) request(ctx context.Context, key string) (*jobapi.Job, error) {
	body, err := json.Marshal(jobapi.JobRequest{Key: key, Wait: r.o.Wait})
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
	var j jobapi.Job
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		// The answer was cut: the same key brings the job again.
		return nil, fmt.Errorf("request job: read answer: %w", err)
	}
	if j.Plan == nil || j.ID == 0 || j.Token == "" {
		return nil, &StatusError{Code: resp.StatusCode, Msg: "job without id, token or plan"}
	}
	return &j, nil
}

// newKey returns a random request key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
