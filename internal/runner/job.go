package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/mask"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/run"
	"github.com/slipway/slipway/internal/status"
)

// Causes of a job's cancellation.
var (
	errCanceledByServer = errors.New("job canceled on the server")
	errRunnerAborted    = errors.New("runner aborted")
)

// defaultHeartbeat is the heartbeat of a job that names none.
const defaultHeartbeat = time.Second

// task is one job being run.
type task struct {
	r    *agent
	job  *jobapi.Job
	plan *plan.Job // the job, as its spec says
	// every is how often a heartbeat is sent (the server's, or defaultHeartbeat).
	every time.Duration
	log   *slog.Logger
	tmp   string
	sp    *spool
	out   io.Writer // the spool, masked: the runner's own lines go here
	lost  chan struct{}
	once  sync.Once

	// bad is why the job's spec could not be read: the job is failed without running.
	bad error

	// Set by execute for collect: the job's build directory, its variables, the files git
	// tracked there before the job ran, its caches' keys, and the uid it ran as when one of
	// its own (run.Result.HostUID).
	buildDir string
	lookup   func(string) (string, bool)
	tracked  []string
	keys     []string
	jobUID   int
}

// runJob runs one job and reports it. It returns when the job has been reported (or
// dropped after a lost lease, or its report ran out of retries).
// A job the runner could not read (c.bad) is failed with a log line saying why.
func (r *agent) runJob(ctx context.Context, slot int, c *claim) {
	log := r.log.With("job_id", c.job.ID, "job", c.plan.Name, "project", c.job.Project.Path)
	log.Info("job received")
	t := &task{r: r, job: c.job, plan: c.plan, every: c.heartbeat, log: log, lost: make(chan struct{}), bad: c.bad}
	if t.every <= 0 {
		t.every = defaultHeartbeat
	}
	if err := t.run(ctx, slot); err != nil {
		log.Error("job not reported", "err", err)
		return
	}
}

func (t *task) run(ctx context.Context, slot int) error {
	j := t.job
	var err error
	if t.tmp, err = os.MkdirTemp("", "slipway-runner-"); err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer artifact.RemoveTree(t.tmp)
	if t.sp, err = newSpool(filepath.Join(t.tmp, "log"), j.LogOffset, t.r.o.Config.outputLimit()); err != nil {
		return err
	}
	defer t.sp.Remove()
	secrets := []string{j.Token}
	for _, v := range t.plan.Variables {
		if v.Masked && v.Value != "" {
			secrets = append(secrets, v.Value)
		}
	}
	mw := mask.NewWriter(t.sp, secrets)
	t.out = mw

	// reportCtx lives while the job is reported: it ends when the lease is lost, or
	// RetryFor after the job finished (abortGrace when Run was aborted).
	reportCtx, stopReport := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopReport(nil)
	jobCtx, cancelJob := context.WithCancelCause(ctx)
	defer cancelJob(nil)

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { t.sp.upload(reportCtx, t.r.c, j.ID, j.Token, t.log) })
	wg.Go(func() { t.heartbeat(reportCtx, cancelJob, stopReport) })

	var res run.Result
	ran := false
	if t.bad != nil {
		t.log.Error("job spec unreadable: job failed", "err", t.bad)
		fmt.Fprintf(t.out, "\x1b[31;1mERROR: Job failed: the runner cannot read the job's specification: %v\x1b[0;m\n", t.bad)
		res = run.Result{Status: status.Failed, Reason: status.DataIntegrityFailure, Err: t.bad}
	} else {
		res, ran = t.execute(jobCtx, slot)
	}
	// From here on the server may be away: what is left (caches, artifacts, the log and the
	// final state) is retried for RetryFor, until the lease is lost.
	budget, why := t.r.o.RetryFor, errors.New("out of retries")
	if ctx.Err() != nil {
		budget, why = abortGrace, errRunnerAborted
	}
	timer := time.AfterFunc(budget, func() { stopReport(why) })
	defer timer.Stop()
	var dotenv []plan.Var
	var junit *jobapi.JUnit
	if ran && !t.dropped() {
		dotenv, junit = t.collect(reportCtx, res.Status == status.Success)
	}
	mw.Flush()
	if t.dropped() {
		t.log.Warn("lease lost: job dropped")
		stopReport(errLeaseLost)
		return nil
	}
	u := jobapi.Update{State: res.Status, FailureReason: res.Reason, ExitCode: res.ExitCode, Dotenv: jobapi.Vars(dotenv), JUnit: junit}
	if u.State == status.Failed && u.FailureReason == "" {
		u.FailureReason = status.UnknownFailure
	}
	u.Coverage = t.coverage()
	u.LogSize = t.sp.Close()
	err = t.final(reportCtx, u)
	stopReport(nil)
	if err != nil {
		return err
	}
	t.log.Info("job finished", "state", u.State, "failure_reason", u.FailureReason, "duration", res.Duration.Round(time.Millisecond))
	return nil
}

// leaseLost cancels the job and marks it dropped.
func (t *task) leaseLost(cancelJob context.CancelCauseFunc) {
	t.once.Do(func() {
		close(t.lost)
		cancelJob(errLeaseLost)
	})
}

// heartbeat sends state running every t.every until ctx ends: an answer with cancel
// cancels the job; a 403 means the lease is lost. Other failures are only retried.
func (t *task) heartbeat(ctx context.Context, cancelJob, stopReport context.CancelCauseFunc) {
	every := t.every
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hctx, cancel := context.WithTimeout(ctx, max(every, 10*time.Second))
		ur, err := t.update(hctx, jobapi.Update{State: status.Running, LogSize: t.sp.Size()})
		cancel()
		switch {
		case errors.Is(err, errLeaseLost):
			t.leaseLost(cancelJob)
			t.sp.fail(errLeaseLost)
			stopReport(errLeaseLost)
			return
		case err != nil:
			if ctx.Err() == nil {
				t.log.Debug("heartbeat", "err", err)
			}
		case ur.Cancel:
			cancelJob(errCanceledByServer)
		}
	}
}

// final sends the final update once the server has the whole log, retrying until ctx ends.
func (t *task) final(ctx context.Context, u jobapi.Update) error {
	bo := newBackoff()
	for {
		if err := t.sp.Uploaded(ctx); err != nil {
			return fmt.Errorf("upload log: %w", err)
		}
		_, err := t.update(ctx, u)
		var conflict *logConflict
		switch {
		case err == nil:
			return nil
		case errors.As(err, &conflict):
			t.log.Warn("server lacks log bytes; resending", "server_size", conflict.size, "log_size", u.LogSize)
			t.sp.rewind(conflict.size)
			continue
		case retryable(ctx, err):
			t.log.Debug("final update", "err", err)
			if !bo.wait(ctx) {
				return fmt.Errorf("final update: %w (last error: %w)", context.Cause(ctx), err)
			}
		default:
			return fmt.Errorf("final update: %w", err)
		}
	}
}

// logConflict is a 409 on a final update: the server has only size bytes of the log.
type logConflict struct{ size int64 }

func (e *logConflict) Error() string { return fmt.Sprintf("server has %d log bytes", e.size) }

// update PUTs u to the job.
func (t *task) update(ctx context.Context, u jobapi.Update) (jobapi.UpdateResponse, error) {
	var ur jobapi.UpdateResponse
	body, err := json.Marshal(u)
	if err != nil {
		return ur, err
	}
	resp, err := t.r.c.do(ctx, http.MethodPut, jobapi.PathJob(t.job.ID), t.job.Token, strings.NewReader(string(body)),
		http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return ur, fmt.Errorf("update job: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
	case http.StatusForbidden:
		return ur, errLeaseLost
	case http.StatusConflict:
		if n, ok := logSize(resp); ok {
			return ur, &logConflict{size: n}
		}
		return ur, statusError(resp)
	default:
		return ur, fmt.Errorf("update job: %w", statusError(resp))
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&ur); err != nil && !errors.Is(err, io.EOF) {
			return ur, fmt.Errorf("update job: read answer: %w", err)
		}
	}
	return ur, nil
}

// lookupIn looks variables up as the job sees them.
func lookupIn(vars []plan.Var) func(string) (string, bool) {
	m := map[string]string{}
	for _, v := range plan.Expanded(vars) {
		m[v.Key] = v.Value
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
