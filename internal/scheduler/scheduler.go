// Package scheduler moves the server's jobs through their statuses: it starts the jobs whose
// prerequisites are final (package flow decides), queues them for runners (pending), holds
// delayed jobs until their time and resource_group jobs until their group is free, finishes
// jobs with what runners report (retrying as retry: says), fails jobs whose runner stopped
// sending heartbeats, and cancels, retries and plays jobs on request. Every change is one
// store transaction (store.UpdatePipeline), so several servers can share a database. It
// does not create pipelines, speak HTTP or run jobs.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/flow"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// DefaultHeartbeat is how often runners send heartbeats unless Options say otherwise; a
// job's lease lasts three of them.
const DefaultHeartbeat = time.Second

// Options configure a Scheduler.
type Options struct {
	Store store.Store
	// Logger receives the scheduler's own events; nil discards them.
	Logger *slog.Logger
	// Heartbeat is the runners' heartbeat interval; zero means DefaultHeartbeat.
	Heartbeat time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Changed, when set, is called after a transaction changed a pipeline's status, with the
	// pipeline and its current jobs. It runs on the caller's goroutine: keep it short.
	Changed func(p *store.Pipeline, jobs []*store.Job)
	// Finished, when set, is called after a job reached a final status.
	Finished func(j *store.Job)
}

// Scheduler drives jobs. Its methods are safe for concurrent use.
type Scheduler struct {
	o     Options
	store store.Store
	log   *slog.Logger
	ready signal // jobs became pending
	kick  chan struct{}

	started chan struct{} // Started added to starting

	mu    sync.Mutex // guards specs, advancing and starting
	specs map[int64]decoded
	// advancing holds the pipelines an advanceSoon is advancing.
	advancing map[int64]*advancing
	// starting holds the pipelines Started named that Run has not advanced yet.
	starting map[int64]bool

	health health
}

// advancing is the advance of a pipeline under way: cur is the round running, next (when
// not nil) the one due after it, for the changes that came while cur runs.
type advancing struct {
	cur, next *round
}

// round is one advance of a pipeline: done is closed when it ended, with err.
type round struct {
	done chan struct{}
	err  error
}

// New makes a Scheduler.
func New(o Options) *Scheduler {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{o: o, store: o.Store, log: log, kick: make(chan struct{}, 1), started: make(chan struct{}, 1),
		specs: map[int64]decoded{}, advancing: map[int64]*advancing{}, starting: map[int64]bool{}, ready: newSignal()}
}

// Heartbeat is the interval runners are told to send heartbeats at.
func (s *Scheduler) Heartbeat() time.Duration { return s.o.Heartbeat }

// Lease is how long a running job's lease lasts from a heartbeat: three heartbeats.
func (s *Scheduler) Lease() time.Duration { return 3 * s.o.Heartbeat }

// Ready returns a channel closed the next time jobs become pending: runners waiting in a
// long poll wait on it and then try to claim.
func (s *Scheduler) Ready() <-chan struct{} { return s.ready.wait() }

// Run runs the scheduler's loops until ctx ends: it gives running jobs a fresh lease (runners
// of a restarted server reconnect), advances every active pipeline (and again every
// sweepEvery), then fails jobs whose lease ran out, starts delayed jobs on time and gives
// free resource groups to waiting jobs, and advances the pipelines Started names. It returns
// after the advances it started have ended.
//
// A store that is unavailable (store.ErrUnavailable) does not end it: the failure is logged
// (see storeFailed), the loops go on and try again, and leases that ran out meanwhile are
// extended once the store answers. Any other error of the first calls (a store that cannot
// work, such as a schema it does not know) ends Run at once with that error.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"extend leases at start", func() error { return s.store.ExtendLeases(ctx, s.o.Now().Add(s.Lease())) }},
		{"sweep", func() error { return s.sweep(ctx) }},
	} {
		err, what := step.do(), step.what
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil // stopped while starting
		case errors.Is(err, store.ErrUnavailable):
			s.storeFailed(what, err)
		default:
			return fmt.Errorf("start scheduler: %s: %w", what, err)
		}
	}
	s.ready.notify()
	leases := time.NewTicker(s.o.Heartbeat / 2)
	defer leases.Stop()
	timers := time.NewTicker(250 * time.Millisecond)
	defer timers.Stop()
	sweeps := time.NewTicker(sweepEvery)
	defer sweeps.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweeps.C:
			if err := s.sweep(ctx); err != nil {
				s.storeFailed("sweep", err)
			}
		case <-leases.C:
			s.expire(ctx)
		case <-timers.C:
			s.promote(ctx)
		case <-s.kick:
			s.promote(ctx)
		case <-s.started:
			for _, id := range s.takeStarting() {
				wg.Go(func() {
					if err := s.advanceSoon(ctx, id); err != nil && ctx.Err() == nil {
						s.log.Error("start pipeline", "pipeline_id", id, "err", err)
					}
				})
			}
		}
	}
}

// errorLogEvery is how often the loops log that the store keeps failing: the first failure is
// logged at once, the next ones (four a second from the timers) once per interval, with their
// count, and the end of the outage once.
const errorLogEvery = 30 * time.Second

// health is the store as the scheduler's loops see it.
type health struct {
	mu sync.Mutex // guards the fields below
	// down is when the current outage began (zero while the store answers); up is when the
	// store answered again after the last one (zero when none was seen).
	down, up time.Time
	// logged is when a failure was last logged; failures counts those since the outage began.
	logged   time.Time
	failures int
	// otherLogged is when an error that is no outage was last logged.
	otherLogged time.Time
}

// storeFailed records a failed read of a loop and logs it when it is the first of an outage
// or errorLogEvery passed since the last one logged. Only store.ErrUnavailable is an outage
// (which spares leases, see recovering); any other error is logged as often, and nothing more.
func (s *Scheduler) storeFailed(what string, err error) {
	now := s.o.Now()
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !errors.Is(err, store.ErrUnavailable) {
		if now.Sub(h.otherLogged) >= errorLogEvery {
			h.otherLogged = now
			s.log.Error(what, "err", err)
		}
		return
	}
	h.failures++
	switch {
	case h.down.IsZero():
		h.down, h.logged = now, now
		s.log.Error("store failing: "+what, "err", err)
	case now.Sub(h.logged) >= errorLogEvery:
		h.logged = now
		s.log.Error("store still failing: "+what, "err", err, "since", h.down, "failures", h.failures)
	}
}

// storeAnswered records a read of a loop that succeeded, and logs the end of an outage.
func (s *Scheduler) storeAnswered() {
	now := s.o.Now()
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.IsZero() {
		return
	}
	s.log.Warn("store answers again", "down_for", now.Sub(h.down).Round(time.Millisecond), "failures", h.failures)
	h.down, h.up, h.failures = time.Time{}, now, 0
}

// recovering reports whether the store is failing, or failed less than a lease ago: runners
// could not send heartbeats meanwhile, so leases that ran out then say nothing about them.
func (s *Scheduler) recovering(now time.Time) bool {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down.IsZero() || !h.up.IsZero() && now.Sub(h.up) < s.Lease()
}

// takeStarting returns the pipelines Started named since the last call.
func (s *Scheduler) takeStarting() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.starting))
	for id := range s.starting {
		ids = append(ids, id)
	}
	clear(s.starting)
	return ids
}

// sweepEvery is how often every active pipeline is advanced: a finish is written before its
// pipeline advances, so a server that crashed in between (with others sharing the database
// and going on) leaves a pipeline that only this picks up.
const sweepEvery = 30 * time.Second

// sweep advances every active pipeline.
func (s *Scheduler) sweep(ctx context.Context) error {
	active, err := s.store.ActivePipelines(ctx)
	if err != nil {
		return fmt.Errorf("list active pipelines: %w", err)
	}
	for _, p := range active {
		if err := s.Advance(ctx, p.ID); err != nil {
			s.log.Error("advance pipeline", "pipeline_id", p.ID, "err", err)
		}
	}
	return nil
}

// Advance decides what can happen next in a pipeline (after it was created, or a job of it
// changed outside the scheduler).
func (s *Scheduler) Advance(ctx context.Context, pipelineID int64) error {
	return s.update(ctx, pipelineID, func(p *store.Pipeline, jobs *[]*store.Job) error { return nil })
}

// Finish ends a running job with what its runner reported. It is idempotent: a job already
// in the reported final status is left alone. store.ErrLeaseLost when runnerID does not hold
// the job. The job alone is written (its pipeline's transaction only when a retry adds a
// job), then the pipeline advances; finishes that arrive while it advances share the next
// advance. It returns once an advance that saw the finish has ended, so that the pipeline's
// status is up to date for whoever asks next.
func (s *Scheduler) Finish(ctx context.Context, jobID, runnerID int64, u jobapi.Update) error {
	var ended *store.Job
	var pipelineID int64
	err := s.store.UpdateJob(ctx, jobID, func(j *store.Job) error {
		pipelineID = j.PipelineID
		var err error
		ended, err = s.finish(j, runnerID, u, nil)
		return err
	})
	if errors.Is(err, errWholePipeline) {
		return s.onJob(ctx, jobID, func(j *store.Job, jobs *[]*store.Job) error {
			_, err := s.finish(j, runnerID, u, jobs)
			return err
		})
	}
	if err != nil {
		return err
	}
	if ended != nil {
		s.ended(ctx, ended)
	}
	return s.advanceSoon(ctx, pipelineID)
}

// errWholePipeline: finish needs the pipeline's transaction (a retry adds a job).
var errWholePipeline = errors.New("needs the pipeline's transaction")

// finish ends j as u says and returns it, or nil when it had ended so already. jobs is
// j's pipeline, or nil when only j is locked: then a retry is errWholePipeline.
func (s *Scheduler) finish(j *store.Job, runnerID int64, u jobapi.Update, jobs *[]*store.Job) (*store.Job, error) {
	if j.Status != status.Running || j.RunnerID != runnerID {
		if j.Status.Final() && j.RunnerID == runnerID && sameEnd(j.Status, u.State) {
			return nil, nil
		}
		return nil, store.ErrLeaseLost
	}
	j.ExitCode, j.FailureReason, j.Coverage = u.ExitCode, u.FailureReason, u.Coverage
	if len(u.Dotenv) > 0 {
		j.Dotenv, _ = json.Marshal(u.Dotenv)
	}
	if u.JUnit != nil {
		j.JUnit, _ = json.Marshal(u.JUnit)
	}
	switch u.State {
	case status.Success:
		j.Status, j.FailureReason = status.Success, ""
	case status.Canceled:
		j.Status = status.Canceled
	case status.Failed:
		if j.FailureReason == "" {
			j.FailureReason = status.UnknownFailure
		}
		if err := s.fail(j, jobs); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("job state %q is not final", u.State)
	}
	s.end(j)
	return j, nil
}

// Started tells the scheduler that a runner claimed a job of a pending pipeline, which
// becomes running. It returns at once: the claim's answer does not wait for that. Run
// advances the pipeline (so nothing happens while Run is not running, until it runs).
func (s *Scheduler) Started(pipelineID int64) {
	s.mu.Lock()
	s.starting[pipelineID] = true
	s.mu.Unlock()
	select {
	case s.started <- struct{}{}:
	default:
	}
}

// advanceSoon advances a pipeline after its jobs changed, and returns once an advance that
// began after the change has ended, with its error. When an advance of the pipeline is under
// way already, the changes that come meanwhile share one more round after it: their callers
// wait for that round (or their ctx), and the caller of the first round runs it.
func (s *Scheduler) advanceSoon(ctx context.Context, pipelineID int64) error {
	s.mu.Lock()
	if a, busy := s.advancing[pipelineID]; busy {
		if a.next == nil {
			a.next = &round{done: make(chan struct{})}
		}
		r := a.next
		s.mu.Unlock()
		select {
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a := &advancing{cur: &round{done: make(chan struct{})}}
	s.advancing[pipelineID] = a
	s.mu.Unlock()
	// Others count on this advance and the rounds after it: the caller leaving must not stop
	// them.
	ctx = context.WithoutCancel(ctx)
	var first error
	for i := 0; ; i++ {
		err := s.Advance(ctx, pipelineID)
		if i == 0 {
			first = err
		}
		s.mu.Lock()
		a.cur.err = err
		close(a.cur.done)
		next := a.next
		if next == nil {
			delete(s.advancing, pipelineID)
			s.mu.Unlock()
			return first
		}
		a.cur, a.next = next, nil
		s.mu.Unlock()
	}
}

// sameEnd reports whether a stored final status is what a repeated final update reports.
func sameEnd(stored, state status.Status) bool {
	switch state {
	case status.Success:
		return stored == status.Success
	case status.Failed:
		return stored == status.Failed || stored == status.Warning
	case status.Canceled:
		return stored == status.Canceled
	}
	return false
}

// fail gives a failed job its status (failed, or warning when its failure is allowed) and,
// when retry: says so, queues its next attempt in jobs (errWholePipeline when jobs is nil).
func (s *Scheduler) fail(j *store.Job, jobs *[]*store.Job) error {
	spec := s.spec(j)
	st := flow.FailedStatus(spec, j.ExitCode)
	if st == status.Failed && flow.Retry(spec, j.Attempt-1, j.FailureReason, j.ExitCode) {
		if jobs == nil {
			return errWholePipeline
		}
		*jobs = append(*jobs, s.again(j))
	}
	j.Status = st
	return nil
}

// again marks j retried and returns its next attempt, which starts at once (its
// prerequisites were final when j started).
func (s *Scheduler) again(j *store.Job) *store.Job {
	j.Retried = true
	n := &store.Job{
		PipelineID: j.PipelineID, ProjectID: j.ProjectID, Name: j.Name, Stage: j.Stage,
		StageIndex: j.StageIndex, Position: j.Position, Spec: j.Spec, Tags: j.Tags,
		ResourceGroup: j.ResourceGroup, Attempt: j.Attempt + 1, Status: status.Created,
	}
	s.start(n, s.spec(j))
	return n
}

// end stamps a job that reached a final status.
func (s *Scheduler) end(j *store.Job) {
	j.Finished = s.o.Now()
	j.LeaseUntil = time.Time{}
	j.CancelRequested = false
}

// Requeue gives a running job back to the queue, as if it was never claimed: its runner took
// it but never started it (the claim's answer could not be sent).
func (s *Scheduler) Requeue(ctx context.Context, jobID, runnerID int64) error {
	return s.onJob(ctx, jobID, func(j *store.Job, jobs *[]*store.Job) error {
		if j.Status != status.Running || j.RunnerID != runnerID {
			return store.ErrLeaseLost
		}
		j.Status, j.RunnerID, j.TokenHash, j.ClaimKey = status.Pending, 0, "", ""
		j.LeaseUntil, j.Started = time.Time{}, time.Time{}
		return nil
	})
}

// Cancel cancels a pipeline: jobs that did not start are canceled, running ones are asked to
// stop (their runner sees it on its next heartbeat).
func (s *Scheduler) Cancel(ctx context.Context, pipelineID int64) error {
	return s.update(ctx, pipelineID, func(p *store.Pipeline, jobs *[]*store.Job) error {
		for _, j := range current(*jobs) {
			s.cancel(j)
		}
		return nil
	})
}

// CancelJob cancels one job.
func (s *Scheduler) CancelJob(ctx context.Context, jobID int64) error {
	return s.onJob(ctx, jobID, func(j *store.Job, jobs *[]*store.Job) error {
		if j.Status.Final() {
			return fmt.Errorf("job %d is %s: %w", j.ID, j.Status, ErrState)
		}
		s.cancel(j)
		return nil
	})
}

func (s *Scheduler) cancel(j *store.Job) {
	switch {
	case j.Status.Final():
	case j.Status == status.Running:
		j.CancelRequested = true
	default:
		j.Status = status.Canceled
		s.end(j)
	}
}

// ErrState: the job's status does not allow the action (retry a running job, play a job that
// is not manual).
var ErrState = errors.New("not allowed in this status")

// Retry makes a new attempt of a finished job and returns it.
func (s *Scheduler) Retry(ctx context.Context, jobID int64) (*store.Job, error) {
	var n *store.Job
	err := s.onJob(ctx, jobID, func(j *store.Job, jobs *[]*store.Job) error {
		if !j.Status.Final() || j.Retried {
			return fmt.Errorf("job %d is %s: %w", j.ID, j.Status, ErrState)
		}
		n = s.again(j)
		// Jobs skipped because of how it ended decide again once the new attempt ends, as
		// GitLab reprocesses them.
		for _, x := range current(*jobs) {
			if x.Status == status.Skipped && x != j {
				x.Status, x.Finished = status.Created, time.Time{}
			}
		}
		*jobs = append(*jobs, n)
		return nil
	})
	return n, err
}

// Play starts a manual job.
func (s *Scheduler) Play(ctx context.Context, jobID int64) error {
	return s.onJob(ctx, jobID, func(j *store.Job, jobs *[]*store.Job) error {
		if j.Status != status.Manual {
			return fmt.Errorf("job %d is %s: %w", j.ID, j.Status, ErrState)
		}
		s.start(j, s.spec(j))
		return nil
	})
}

// onJob runs fn on a current job of its pipeline's transaction.
func (s *Scheduler) onJob(ctx context.Context, jobID int64, fn func(j *store.Job, jobs *[]*store.Job) error) error {
	j, err := s.store.Job(ctx, jobID)
	if err != nil {
		return err
	}
	return s.update(ctx, j.PipelineID, func(p *store.Pipeline, jobs *[]*store.Job) error {
		j := find(*jobs, jobID)
		if j == nil {
			return store.ErrNotFound
		}
		return fn(j, jobs)
	})
}

// start moves a job whose turn came to where it waits next: its resource group, its delay,
// or the queue.
func (s *Scheduler) start(j *store.Job, spec *plan.Job) {
	now := s.o.Now()
	switch {
	case j.ResourceGroup != "":
		j.Status = status.WaitingForResource
	case spec.When == "delayed" && spec.StartIn > 0 && j.Attempt <= 1 && j.RunAt.IsZero():
		j.Status, j.RunAt = status.Scheduled, now.Add(spec.StartIn)
	default:
		j.Status, j.Queued = status.Pending, now
	}
}

// update runs fn and then advances the pipeline, in one transaction, and tells the world.
func (s *Scheduler) update(ctx context.Context, pipelineID int64, fn func(p *store.Pipeline, jobs *[]*store.Job) error) error {
	var (
		before, after status.Status
		pending       bool
		ended         []*store.Job
		snapshot      *store.Pipeline
		cur           []*store.Job
	)
	err := s.store.UpdatePipeline(ctx, pipelineID, func(p *store.Pipeline, jobs *[]*store.Job) error {
		before = p.Status
		was := map[*store.Job]status.Status{}
		for _, j := range *jobs {
			was[j] = j.Status
		}
		if err := fn(p, jobs); err != nil {
			return err
		}
		s.advance(p, *jobs)
		after = p.Status
		pending, ended = false, nil
		for _, j := range *jobs {
			if j.Status == status.Pending && was[j] != status.Pending {
				pending = true
			}
			if j.Status.Final() && !was[j].Final() {
				ended = append(ended, j)
			}
		}
		cp := *p
		snapshot, cur = &cp, current(*jobs)
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range ended {
		s.ended(ctx, j)
	}
	if after.Final() {
		s.forget(cur)
	}
	if pending {
		s.ready.notify()
	}
	if before != after && s.o.Changed != nil {
		s.o.Changed(snapshot, cur)
	}
	return nil
}

// ended frees the resource group of a job that reached a final status and tells the world;
// the log of a job failed for an unreadable spec says why.
func (s *Scheduler) ended(ctx context.Context, j *store.Job) {
	if d := s.decode(j); d.err != nil && j.FailureReason == status.DataIntegrityFailure && j.Started.IsZero() {
		if _, err := s.store.AppendLog(ctx, j.ID, 0, unreadableLog(d.err)); err != nil {
			s.log.Error("write job log", "job_id", j.ID, "err", err)
		}
	}
	if j.ResourceGroup != "" {
		if err := s.store.ReleaseResource(ctx, j.ProjectID, j.ResourceGroup, j.ID); err != nil {
			s.log.Error("release resource group", "job_id", j.ID, "err", err)
		}
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if s.o.Finished != nil {
		s.o.Finished(j)
	}
}

// advance starts, skips or holds the created jobs of a pipeline until nothing changes, then
// sets the pipeline's status.
func (s *Scheduler) advance(p *store.Pipeline, all []*store.Job) {
	jobs := current(all)
	specs := make([]*plan.Job, len(jobs))
	for i, j := range jobs {
		d := s.decode(j)
		specs[i] = d.p
		if d.err != nil && (j.Status == status.Created || j.Status == status.Pending) {
			s.unreadable(j, d.err)
		}
	}
	prereqs := flow.Prereqs(specs)
	canceled := false
	for _, j := range jobs {
		canceled = canceled || j.Status == status.Canceled && j.FailureReason == "" && j.Started.IsZero()
	}
	for changed := true; changed; {
		changed = false
		for i, j := range jobs {
			if j.Status != status.Created {
				continue
			}
			pre := make([]flow.Prereq, len(prereqs[i]))
			for k, x := range prereqs[i] {
				pre[k] = flow.Prereq{Job: specs[x], Status: jobs[x].Status}
			}
			next, ok := flow.Decide(specs[i], pre, flow.Options{Hold: true})
			if !ok {
				continue
			}
			changed = true
			switch next {
			case status.Pending:
				s.start(j, specs[i])
			case status.Manual:
				j.Status = status.Manual
			default:
				j.Status = next
				s.end(j)
			}
		}
	}
	statuses := make([]status.Status, len(jobs))
	var coverage []float64
	for i, j := range jobs {
		statuses[i] = j.Status
		if j.Coverage != nil {
			coverage = append(coverage, *j.Coverage)
		}
	}
	now := s.o.Now()
	p.Status = flow.PipelineStatus(statuses, func(i int) bool { return !specs[i].AllowFailure })
	if p.Started.IsZero() && p.Status != status.Created {
		p.Started = now
	}
	switch {
	case p.Status.Final():
		if p.Finished.IsZero() {
			p.Finished = now
		}
	default:
		p.Finished = time.Time{}
	}
	if len(coverage) > 0 {
		sum := 0.0
		for _, c := range coverage {
			sum += c
		}
		mean := sum / float64(len(coverage))
		p.Coverage = &mean
	}
}

// expire fails (or retries) jobs whose runner stopped sending heartbeats. While the store is
// recovering from an outage, their leases are extended instead: the runners' heartbeats failed
// with the store, and a runner that is really gone loses its job one lease after the store is
// back.
func (s *Scheduler) expire(ctx context.Context) {
	now := s.o.Now()
	lost, err := s.store.ExpiredJobs(ctx, now)
	if err != nil {
		s.storeFailed("list expired jobs", err)
		return
	}
	s.storeAnswered()
	if len(lost) > 0 && s.recovering(now) {
		if err := s.store.ExtendLeases(ctx, now.Add(s.Lease())); err != nil {
			s.storeFailed("extend leases after an outage", err)
			return
		}
		s.log.Info("leases extended after a store outage", "jobs", len(lost))
		return
	}
	for _, l := range lost {
		err := s.update(ctx, l.PipelineID, func(p *store.Pipeline, jobs *[]*store.Job) error {
			j := find(*jobs, l.ID)
			if j == nil || j.Status != status.Running || !j.LeaseUntil.Before(s.o.Now()) {
				return nil // finished or extended meanwhile
			}
			if j.CancelRequested {
				j.Status = status.Canceled
			} else {
				j.FailureReason = status.RunnerSystemFailure
				if err := s.fail(j, jobs); err != nil {
					return err
				}
			}
			s.end(j)
			return nil
		})
		if err != nil {
			s.log.Error("fail lost job", "job_id", l.ID, "err", err)
			continue
		}
		s.log.Warn("job lost its runner", "job_id", l.ID, "runner_id", l.RunnerID)
	}
}

// promote queues delayed jobs whose time came and jobs whose resource group is free.
func (s *Scheduler) promote(ctx context.Context) {
	now := s.o.Now()
	due, err := s.store.JobsByStatus(ctx, status.Scheduled, 0)
	if err != nil {
		s.storeFailed("list scheduled jobs", err)
		return
	}
	for _, d := range due {
		if d.RunAt.After(now) {
			continue
		}
		s.move(ctx, d, status.Scheduled)
	}
	waiting, err := s.store.JobsByStatus(ctx, status.WaitingForResource, 0)
	if err != nil {
		s.storeFailed("list jobs waiting for a resource", err)
		return
	}
	s.storeAnswered()
	for _, w := range waiting {
		ok, err := s.store.AcquireResource(ctx, w.ProjectID, w.ResourceGroup, w.ID)
		if err != nil {
			s.log.Error("acquire resource group", "job_id", w.ID, "err", err)
			continue
		}
		if ok && !s.move(ctx, w, status.WaitingForResource) {
			_ = s.store.ReleaseResource(ctx, w.ProjectID, w.ResourceGroup, w.ID)
		}
	}
}

// move queues a job still in status from (delayed jobs whose time came and jobs that got
// their resource group) and reports whether it did.
func (s *Scheduler) move(ctx context.Context, w *store.Job, from status.Status) bool {
	moved := false
	err := s.update(ctx, w.PipelineID, func(p *store.Pipeline, jobs *[]*store.Job) error {
		j := find(*jobs, w.ID)
		if j == nil || j.Status != from {
			return nil
		}
		if from == status.Scheduled && j.ResourceGroup != "" {
			j.Status = status.WaitingForResource
		} else {
			j.Status, j.Queued = status.Pending, s.o.Now()
		}
		moved = true
		return nil
	})
	if err != nil {
		s.log.Error("queue job", "job_id", w.ID, "err", err)
		return false
	}
	return moved
}

// decoded is a job's plan as decoded from its stored spec, or why that failed.
type decoded struct {
	p   *plan.Job
	err error
}

// spec decodes (once) the plan of a job from its stored spec (jobapi.DecodeSpec: any
// version from 0). A spec that cannot be decoded gives a plan with the job's name and stage
// only; such a job is failed before it is queued (see advance), never run.
func (s *Scheduler) spec(j *store.Job) *plan.Job { return s.decode(j).p }

func (s *Scheduler) decode(j *store.Job) decoded {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.ID != 0 {
		if d, ok := s.specs[j.ID]; ok {
			return d
		}
	}
	p, err := jobapi.DecodeSpec(j.Spec)
	if err != nil {
		p = &plan.Job{Name: j.Name, Stage: j.Stage, StageIndex: j.StageIndex, When: "on_success"}
	}
	d := decoded{p: p, err: err}
	if j.ID != 0 {
		s.specs[j.ID] = d
	}
	return d
}

// Spec returns the plan of a job.
func (s *Scheduler) Spec(j *store.Job) *plan.Job { return s.spec(j) }

// unreadable fails a job whose spec cannot be decoded, before a runner can take it.
func (s *Scheduler) unreadable(j *store.Job, err error) {
	s.log.Error("job spec cannot be decoded: job failed", "job_id", j.ID, "pipeline_id", j.PipelineID, "err", err)
	j.Status, j.FailureReason = status.Failed, status.DataIntegrityFailure
	s.end(j)
}

// unreadableLog is the log of a job failed by unreadable.
func unreadableLog(err error) []byte {
	return fmt.Appendf(nil, "\x1b[31;1mERROR: Job failed: its specification cannot be read (%v); "+
		"the server did not run it\x1b[0;m\n", err)
}

// forget drops the decoded plans of a finished pipeline's jobs.
func (s *Scheduler) forget(jobs []*store.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		delete(s.specs, j.ID)
	}
}

// current returns the jobs that are not superseded by a retry.
func current(jobs []*store.Job) []*store.Job {
	out := make([]*store.Job, 0, len(jobs))
	for _, j := range jobs {
		if !j.Retried {
			out = append(out, j)
		}
	}
	return out
}

func find(jobs []*store.Job, id int64) *store.Job {
	for _, j := range jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

// signal is a broadcast: wait returns a channel closed by the next notify.
type signal struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

func newSignal() signal { return signal{ch: make(chan struct{})} }

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}
