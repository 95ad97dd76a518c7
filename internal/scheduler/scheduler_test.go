package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	s      *Scheduler
	clock  *clock
	runner *store.Runner
	proj   *store.Project
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	f := &fixture{t: t, ctx: ctx, st: st, clock: c,
		s: New(Options{Store: st, Now: c.now, Heartbeat: time.Second})}
	f.proj = &store.Project{Path: "acme/app", Name: "app", CloneURL: "/dev/null", DefaultBranch: "main"}
	if err := st.CreateProject(ctx, f.proj); err != nil {
		t.Fatal(err)
	}
	f.runner = &store.Runner{Name: "r", TokenHash: "h", RunUntagged: true}
	if err := st.CreateRunner(ctx, f.runner); err != nil {
		t.Fatal(err)
	}
	return f
}

// pipeline stores a pipeline of jobs and advances it.
func (f *fixture) pipeline(jobs ...*plan.Job) int64 {
	f.t.Helper()
	p := &store.Pipeline{ProjectID: f.proj.ID, Status: status.Created, Ref: "main", SHA: "abc", Source: "push"}
	var rows []*store.Job
	for i, j := range jobs {
		if j.When == "" {
			j.When = "on_success"
		}
		spec, _ := json.Marshal(j)
		rows = append(rows, &store.Job{Name: j.Name, Stage: j.Stage, StageIndex: j.StageIndex, Position: i,
			Status: status.Created, Spec: spec, ResourceGroup: j.ResourceGroup, Attempt: 1})
	}
	if err := f.st.CreatePipeline(f.ctx, p, rows); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Advance(f.ctx, p.ID); err != nil {
		f.t.Fatal(err)
	}
	return p.ID
}

// statuses maps current job names to statuses, and the pipeline's status to "".
func (f *fixture) statuses(id int64) map[string]status.Status {
	f.t.Helper()
	p, err := f.st.Pipeline(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	jobs, err := f.st.Jobs(f.ctx, id, store.JobFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]status.Status{"": p.Status}
	for _, j := range jobs {
		if !j.Retried {
			out[j.Name] = j.Status
		}
	}
	return out
}

func (f *fixture) want(id int64, want map[string]status.Status) {
	f.t.Helper()
	got := f.statuses(id)
	for k, v := range want {
		if got[k] != v {
			f.t.Errorf("status of %q = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// claim takes the next pending job; nil when there is none.
func (f *fixture) claim() *store.Job {
	f.t.Helper()
	now := f.clock.now()
	j, err := f.st.ClaimJob(f.ctx, store.Claim{Runner: f.runner, TokenHash: "t" + now.String(), LeaseUntil: now.Add(f.s.Lease()), Now: now})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) finish(j *store.Job, state status.Status, code int) {
	f.t.Helper()
	u := jobapi.Update{State: state, ExitCode: code}
	if state == status.Failed {
		u.FailureReason = status.ScriptFailure
	}
	if err := f.s.Finish(f.ctx, j.ID, f.runner.ID, u); err != nil {
		f.t.Fatal(err)
	}
}

func TestStagesAndNeeds(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(
		&plan.Job{Name: "build", Stage: "build", StageIndex: 0},
		&plan.Job{Name: "lint", Stage: "build", StageIndex: 0},
		&plan.Job{Name: "unit", Stage: "test", StageIndex: 1, Needs: []plan.Need{{Job: "build"}}},
		&plan.Job{Name: "deploy", Stage: "deploy", StageIndex: 2},
		&plan.Job{Name: "cleanup", Stage: "deploy", StageIndex: 2, When: "on_failure"},
	)
	f.want(id, map[string]status.Status{"": "pending", "build": "pending", "lint": "pending", "unit": "created", "deploy": "created"})
	build := f.claim()
	f.finish(build, status.Success, 0)
	f.want(id, map[string]status.Status{"unit": "pending", "deploy": "created"}) // unit needs only build
	lint, unit := f.claim(), f.claim()
	f.finish(lint, status.Failed, 1)
	f.finish(unit, status.Success, 0)
	f.want(id, map[string]status.Status{"": "running", "lint": "failed", "deploy": "skipped", "cleanup": "pending"})
	f.finish(f.claim(), status.Success, 0)
	f.want(id, map[string]status.Status{"": "failed", "cleanup": "success"})
	// A repeated final update is accepted; a different one is refused.
	f.finish(lint, status.Failed, 1)
	if err := f.s.Finish(f.ctx, lint.ID, f.runner.ID, jobapi.Update{State: status.Success}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("finish a finished job differently: %v", err)
	}
}

func TestAllowFailureAndRetry(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(
		&plan.Job{Name: "flaky", Stage: "test", Retry: pipeline.Retry{Max: 1}},
		&plan.Job{Name: "optional", Stage: "test", AllowFailure: true, ExitCodes: []int{3}},
	)
	flaky, optional := f.claim(), f.claim()
	f.finish(optional, status.Failed, 3)
	f.finish(flaky, status.Failed, 1)
	f.want(id, map[string]status.Status{"": "pending", "optional": "warning", "flaky": "pending"})
	again := f.claim()
	if again.Attempt != 2 || again.Name != "flaky" {
		t.Fatalf("retry = %+v", again)
	}
	f.finish(again, status.Success, 0)
	f.want(id, map[string]status.Status{"": "success"})
}

func TestManualJobsWaitForPlay(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(
		&plan.Job{Name: "gate", Stage: "approve", When: "manual"},
		&plan.Job{Name: "deploy", Stage: "deploy", StageIndex: 1},
	)
	f.want(id, map[string]status.Status{"": "manual", "gate": "manual", "deploy": "created"})
	gate, _ := f.st.Jobs(f.ctx, id, store.JobFilter{})
	if err := f.s.Play(f.ctx, gate[0].ID); err != nil {
		t.Fatal(err)
	}
	f.want(id, map[string]status.Status{"": "pending", "gate": "pending"})
	f.finish(f.claim(), status.Success, 0)
	f.want(id, map[string]status.Status{"deploy": "pending"})
	if err := f.s.Play(f.ctx, gate[0].ID); !errors.Is(err, ErrState) {
		t.Errorf("play a finished job: %v", err)
	}
}

func TestResourceGroupAndDelay(t *testing.T) {
	f := newFixture(t)
	one := f.pipeline(&plan.Job{Name: "deploy", Stage: "deploy", ResourceGroup: "prod"})
	two := f.pipeline(&plan.Job{Name: "deploy", Stage: "deploy", ResourceGroup: "prod"})
	later := f.pipeline(&plan.Job{Name: "later", Stage: "x", When: "delayed", StartIn: 10 * time.Second})
	f.s.promote(f.ctx)
	f.want(one, map[string]status.Status{"deploy": "pending"})
	f.want(two, map[string]status.Status{"deploy": "waiting_for_resource"})
	f.want(later, map[string]status.Status{"later": "scheduled"})
	first := f.claim()
	f.s.promote(f.ctx)
	f.want(two, map[string]status.Status{"deploy": "waiting_for_resource"})
	f.finish(first, status.Success, 0)
	f.s.promote(f.ctx)
	f.want(two, map[string]status.Status{"deploy": "pending"})
	f.clock.add(11 * time.Second)
	f.s.promote(f.ctx)
	f.want(later, map[string]status.Status{"later": "pending"})
}

func TestLostRunnerAndCancel(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(
		&plan.Job{Name: "a", Stage: "s", Retry: pipeline.Retry{Max: 1, When: []string{"runner_system_failure"}}},
		&plan.Job{Name: "b", Stage: "s"},
		&plan.Job{Name: "c", Stage: "t", StageIndex: 1},
	)
	a, b := f.claim(), f.claim()
	if _, err := f.st.Heartbeat(f.ctx, b.ID, f.runner.ID, f.clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.clock.add(f.s.Lease() + time.Second)
	f.s.expire(f.ctx)
	jobs, _ := f.st.Jobs(f.ctx, id, store.JobFilter{})
	var lost *store.Job
	for _, j := range jobs {
		if j.ID == a.ID {
			lost = j
		}
	}
	if lost.Status != "failed" || lost.FailureReason != status.RunnerSystemFailure || !lost.Retried {
		t.Fatalf("lost job = %+v", lost)
	}
	f.want(id, map[string]status.Status{"a": "pending", "b": "running"})
	if err := f.s.Cancel(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	if cancel, err := f.st.Heartbeat(f.ctx, b.ID, f.runner.ID, f.clock.now().Add(time.Hour)); err != nil || !cancel {
		t.Fatalf("heartbeat after cancel = %v, %v", cancel, err)
	}
	f.want(id, map[string]status.Status{"": "running", "a": "canceled", "b": "running", "c": "canceled"})
	if err := f.s.Finish(f.ctx, b.ID, f.runner.ID, jobapi.Update{State: status.Canceled}); err != nil {
		t.Fatal(err)
	}
	f.want(id, map[string]status.Status{"": "canceled", "b": "canceled"})
}

func TestRetryReprocessesSkippedJobs(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(
		&plan.Job{Name: "flaky", Stage: "test"},
		&plan.Job{Name: "deploy", Stage: "deploy", StageIndex: 1},
	)
	flaky := f.claim()
	f.finish(flaky, status.Failed, 1)
	f.want(id, map[string]status.Status{"": "failed", "deploy": "skipped"})
	if _, err := f.s.Retry(f.ctx, flaky.ID); err != nil {
		t.Fatal(err)
	}
	f.want(id, map[string]status.Status{"": "pending", "flaky": "pending", "deploy": "created"})
	f.finish(f.claim(), status.Success, 0)
	f.want(id, map[string]status.Status{"deploy": "pending"})
	f.finish(f.claim(), status.Success, 0)
	f.want(id, map[string]status.Status{"": "success"})
}

// pausedStore calls after once an UpdatePipeline has committed.
type pausedStore struct {
	store.Store
	after func()
}

func (s *pausedStore) UpdatePipeline(ctx context.Context, id int64, fn func(p *store.Pipeline, jobs *[]*store.Job) error) error {
	err := s.Store.UpdatePipeline(ctx, id, fn)
	s.after()
	return err
}

// TestFinishesDuringAnAdvance finishes the jobs of a wide stage while the first one's advance
// is under way: they share one more round of it, and each returns once that round ended, so
// the next stage starts and the pipeline ends; every job is reported finished once.
func TestFinishesDuringAnAdvance(t *testing.T) {
	f := newFixture(t)
	const width = 40
	var jobs []*plan.Job
	for i := range width {
		jobs = append(jobs, &plan.Job{Name: fmt.Sprint("test ", i), Stage: "test", StageIndex: 0})
	}
	id := f.pipeline(append(jobs, &plan.Job{Name: "deploy", Stage: "deploy", StageIndex: 1})...)
	var claimed []*store.Job
	for range width {
		claimed = append(claimed, f.claim())
	}

	var mu sync.Mutex
	finished := map[int64]int{}
	var changes []status.Status
	synctest.Test(t, func(t *testing.T) {
		advancing, others := make(chan struct{}), make(chan struct{})
		var once sync.Once
		paused := &pausedStore{Store: f.st, after: func() { once.Do(func() { close(advancing); <-others }) }}
		f.s = New(Options{Store: paused, Now: f.clock.now, Heartbeat: time.Second,
			Finished: func(j *store.Job) { mu.Lock(); finished[j.ID]++; mu.Unlock() },
			Changed:  func(p *store.Pipeline, _ []*store.Job) { mu.Lock(); changes = append(changes, p.Status); mu.Unlock() },
		})
		first := make(chan error)
		go func() {
			first <- f.s.Finish(f.ctx, claimed[0].ID, f.runner.ID, jobapi.Update{State: status.Success})
		}()
		<-advancing
		rest := make(chan error, width)
		for _, j := range claimed[1:] {
			go func() { rest <- f.s.Finish(f.ctx, j.ID, f.runner.ID, jobapi.Update{State: status.Success}) }()
		}
		synctest.Wait() // every finish wrote its job and waits for the round after the first
		if n := len(rest); n > 0 {
			t.Fatalf("%d finishes returned before the advance that saw them", n)
		}
		close(others)
		for range claimed[1:] {
			if err := <-rest; err != nil {
				t.Fatal(err)
			}
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	})
	f.want(id, map[string]status.Status{"": "running", "deploy": "pending"})
	deploy := f.claim()
	if deploy == nil {
		t.Fatal("deploy was not queued")
	}
	f.finish(deploy, status.Success, 0)
	f.want(id, map[string]status.Status{"": "success"})
	if len(finished) != width+1 {
		t.Errorf("%d jobs reported finished, want %d", len(finished), width+1)
	}
	for jid, n := range finished {
		if n != 1 {
			t.Errorf("job %d reported finished %d times", jid, n)
		}
	}
	// Pending until the first advance after a claim, which this test leaves to the finishes.
	if !slices.Equal(changes, []status.Status{status.Running, status.Success}) {
		t.Errorf("pipeline changes %v, want [running success]", changes)
	}
}

// flaky is a store whose loop reads fail with store.ErrUnavailable while down is set.
type flaky struct {
	store.Store
	mu   sync.Mutex
	fail error // what the loop reads fail with; nil while the store answers
}

// set makes the store unavailable (down) or answering.
func (f *flaky) set(down bool) {
	var err error
	if down {
		err = fmt.Errorf("list: %w", store.ErrUnavailable)
	}
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *flaky) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *flaky) ExpiredJobs(ctx context.Context, now time.Time) ([]*store.Job, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.ExpiredJobs(ctx, now)
}

func (f *flaky) JobsByStatus(ctx context.Context, st status.Status, limit int) ([]*store.Job, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.JobsByStatus(ctx, st, limit)
}

// countHandler counts log records by level.
type countHandler struct {
	mu     sync.Mutex
	counts map[slog.Level]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countHandler) WithGroup(string) slog.Handler            { return h }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Level]++
	return nil
}

func (h *countHandler) count(l slog.Level) int { h.mu.Lock(); defer h.mu.Unlock(); return h.counts[l] }

// TestStoreErrorIsNoOutage: the store answers, but a loop's read fails with an error that is
// no outage (a row that does not decode, say). Leases are not spared for it: a job whose
// runner stopped sending heartbeats is lost on time. The error is logged once per interval.
func TestStoreErrorIsNoOutage(t *testing.T) {
	f := newFixture(t)
	fl := &flaky{Store: f.st}
	logs := &countHandler{counts: map[slog.Level]int{}}
	f.s = New(Options{Store: fl, Now: f.clock.now, Heartbeat: time.Second, Logger: slog.New(logs)})
	id := f.pipeline(&plan.Job{Name: "a", Stage: "s"})
	f.claim()
	fl.mu.Lock()
	fl.fail = errors.New("decode job 7: unexpected end of JSON input")
	fl.mu.Unlock()
	for range 4 * 4 { // 4 s: past the 3 s lease
		f.clock.add(250 * time.Millisecond)
		f.s.promote(f.ctx)
	}
	fl.mu.Lock()
	fl.fail = nil
	fl.mu.Unlock()
	f.s.expire(f.ctx)
	f.want(id, map[string]status.Status{"a": status.Failed})
	if n := logs.count(slog.LevelError); n != 1 {
		t.Errorf("%d errors logged in 4 s, want 1", n)
	}
}

// TestStoreOutage runs the scheduler's timers through a 10 s store outage, longer than a
// lease: the failures are logged once (not four times a second), and the running job whose
// lease ran out meanwhile keeps running when the store is back (its runner's heartbeats
// failed with the store); one lease later without a heartbeat it is lost after all.
func TestStoreOutage(t *testing.T) {
	f := newFixture(t)
	fl := &flaky{Store: f.st}
	logs := &countHandler{counts: map[slog.Level]int{}}
	f.s = New(Options{Store: fl, Now: f.clock.now, Heartbeat: time.Second, Logger: slog.New(logs)})
	id := f.pipeline(&plan.Job{Name: "a", Stage: "s"})
	a := f.claim()
	tick := func() {
		f.clock.add(250 * time.Millisecond)
		f.s.promote(f.ctx)
		f.s.expire(f.ctx)
	}

	fl.set(true)
	for range 40 { // 10 s
		tick()
	}
	if n := logs.count(slog.LevelError); n != 1 {
		t.Errorf("%d errors logged in a 10 s outage, want 1", n)
	}
	for range 4 * 25 { // 25 s more: past errorLogEvery
		tick()
	}
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d errors logged in a 35 s outage, want 2", n)
	}
	fl.set(false)
	tick()
	f.want(id, map[string]status.Status{"a": "running"})
	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Errorf("the end of the outage was logged %d times, want once", n)
	}
	// The runner answers again: its heartbeats keep the job.
	for range 4 * 5 {
		if _, err := f.st.Heartbeat(f.ctx, a.ID, f.runner.ID, f.clock.now().Add(f.s.Lease())); err != nil {
			t.Fatal(err)
		}
		tick()
	}
	f.want(id, map[string]status.Status{"a": "running"})
	// Without heartbeats, the job is lost once its lease ran out.
	for range 4 * 4 {
		tick()
	}
	f.want(id, map[string]status.Status{"a": "failed"})

	// A lease that runs out while the store has been answering for longer than a lease is lost
	// at once.
	fl.set(true)
	tick()
	fl.set(false)
	id = f.pipeline(&plan.Job{Name: "b", Stage: "s"})
	f.claim()
	for range 4 * 4 {
		tick()
	}
	f.want(id, map[string]status.Status{"b": "failed"})
}

// TestUndecodableSpecFailsJob stores a job whose spec cannot be decoded: it must be failed
// with data_integrity_failure and a log line saying why, never queued for a runner as an
// empty job.
func TestUndecodableSpecFailsJob(t *testing.T) {
	f := newFixture(t)
	p := &store.Pipeline{ProjectID: f.proj.ID, Status: status.Created, Ref: "main", SHA: "abc", Source: "push"}
	good, _ := json.Marshal(&plan.Job{Name: "next", Stage: "deploy", StageIndex: 1, When: "on_success"})
	rows := []*store.Job{
		{Name: "broken", Stage: "test", Status: status.Created, Spec: []byte(`{"script": 42`), Attempt: 1},
		{Name: "next", Stage: "deploy", StageIndex: 1, Position: 1, Status: status.Created, Spec: good, Attempt: 1},
	}
	if err := f.st.CreatePipeline(f.ctx, p, rows); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Advance(f.ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	f.want(p.ID, map[string]status.Status{"": "failed", "broken": "failed", "next": "skipped"})
	if j := f.claim(); j != nil {
		t.Fatalf("a runner got job %q", j.Name)
	}
	jobs, err := f.st.Jobs(f.ctx, p.ID, store.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	broken := jobs[0]
	if broken.FailureReason != status.DataIntegrityFailure {
		t.Errorf("failure reason %q, want %q", broken.FailureReason, status.DataIntegrityFailure)
	}
	log, _, err := f.st.ReadLog(f.ctx, broken.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "specification cannot be read") {
		t.Errorf("job log %q does not say why the job failed", log)
	}
}

// gatedStore holds every UpdatePipeline call at a gate, before its transaction starts,
// until the test lets it through.
type gatedStore struct {
	store.Store
	entered chan int64    // a call reached the gate
	pass    chan struct{} // lets one call through
}

func (g *gatedStore) UpdatePipeline(ctx context.Context, id int64, fn func(p *store.Pipeline, jobs *[]*store.Job) error) error {
	g.entered <- id
	<-g.pass
	return g.Store.UpdatePipeline(ctx, id, fn)
}

// A finish that comes while its pipeline is being advanced (by the advance a claim started)
// returns only after a round of advance that saw it: the pipeline's status is then up to date
// for whoever asks next (TestRetryFailedJob of package server read a stale status).
func TestFinishWaitsForTheAdvanceThatSawIt(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(&plan.Job{Name: "only", Stage: "test"})
	j := f.claim()
	synctest.Test(t, func(t *testing.T) {
		g := &gatedStore{Store: f.st, entered: make(chan int64), pass: make(chan struct{})}
		s := New(Options{Store: g, Now: f.clock.now, Heartbeat: time.Second})
		started := make(chan error, 1)
		go func() { started <- s.advanceSoon(f.ctx, id) }() // what Started makes Run do
		<-g.entered
		finished := make(chan error, 1)
		go func() { finished <- s.Finish(f.ctx, j.ID, f.runner.ID, jobapi.Update{State: status.Success}) }()
		synctest.Wait() // Finish wrote its job and is waiting, or returned
		select {
		case err := <-finished:
			t.Fatalf("Finish returned (%v) while the only advance under way had started before it", err)
		default:
		}
		g.pass <- struct{}{} // the claim's round
		<-g.entered          // the round for the finish
		synctest.Wait()
		select {
		case err := <-finished:
			t.Fatalf("Finish returned (%v) before the round that saw it", err)
		default:
		}
		g.pass <- struct{}{}
		if err := <-finished; err != nil {
			t.Fatal(err)
		}
		if err := <-started; err != nil {
			t.Fatal(err)
		}
	})
	f.want(id, map[string]status.Status{"": "success", "only": "success"})
}

// Run advances the pipelines Started names, and returns only after those advances ended.
func TestRunOwnsStartedAdvances(t *testing.T) {
	f := newFixture(t)
	id := f.pipeline(&plan.Job{Name: "only", Stage: "test"})
	f.claim()
	f.want(id, map[string]status.Status{"": "pending"})
	synctest.Test(t, func(t *testing.T) {
		g := &gatedStore{Store: f.st, entered: make(chan int64), pass: make(chan struct{})}
		s := New(Options{Store: g, Now: f.clock.now, Heartbeat: time.Hour})
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		<-g.entered // Run's first sweep advances the active pipeline
		g.pass <- struct{}{}
		s.Started(id)
		if got := <-g.entered; got != id {
			t.Fatalf("advanced pipeline %d, want %d", got, id)
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) with the advance it started still under way", err)
		default:
		}
		g.pass <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	f.want(id, map[string]status.Status{"": "running"})
}
