// Package storetest is the contract every store.Store implementation passes: Run runs it
// against fresh stores, and Bench measures claims. It owns no implementation.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// Run runs the contract against stores from open, which returns a new, empty store for t
// and closes it when t ends. Each subtest has its own store and runs in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Projects", testProjects},
		{"Variables", testVariables},
		{"Schedules", testSchedules},
		{"CreatePipeline", testCreatePipeline},
		{"IIDConcurrent", testIIDConcurrent},
		{"PipelinesFilter", testPipelinesFilter},
		{"UpdatePipeline", testUpdatePipeline},
		{"UpdateJob", testUpdateJob},
		{"UpdateJobVersusPipeline", testUpdateJobVersusPipeline},
		{"ClaimJob", testClaimJob},
		{"ClaimPausedRunner", testClaimPausedRunner},
		{"ClaimConcurrent", testClaimConcurrent},
		{"ClaimVersusUpdatePipeline", testClaimVersusUpdate},
		{"Leases", testLeases},
		{"Logs", testLogs},
		{"LogsConcurrent", testLogsConcurrent},
		{"Runners", testRunners},
		{"Tokens", testTokens},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"PersonalTokens", testPersonalTokens},
		{"Members", testMembers},
		{"Deliveries", testDeliveries},
		{"PruneDeliveries", testPruneDeliveries},
		{"Artifacts", testArtifacts},
		{"Caches", testCaches},
		{"DeletePipelines", testDeletePipelines},
		{"Resources", testResources},
		{"ResourcesConcurrent", testResourcesConcurrent},
		{"CountAndList", testCountAndList},
		{"Vacuum", testVacuum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// t0 is a fixed time with sub-microsecond digits, to check precision.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func equal[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func newProject(t testing.TB, s store.Store, path string) *store.Project {
	t.Helper()
	p := &store.Project{Path: path, Name: path, CloneURL: "https://example.com/" + path + ".git", DefaultBranch: "main"}
	must(t, s.CreateProject(context.Background(), p))
	return p
}

// newPipeline creates a pipeline of project with jobs.
func newPipeline(t testing.TB, s store.Store, projectID int64, jobs ...*store.Job) (*store.Pipeline, []*store.Job) {
	t.Helper()
	p := &store.Pipeline{ProjectID: projectID, Status: status.Pending, Ref: "main", SHA: "abc", Source: "push"}
	for i, j := range jobs {
		j.Position = i
		if j.Attempt == 0 {
			j.Attempt = 1
		}
	}
	must(t, s.CreatePipeline(context.Background(), p, jobs))
	return p, jobs
}

func pending(name string, tags ...string) *store.Job {
	return &store.Job{Name: name, Stage: "test", Status: status.Pending, Tags: tags, Spec: []byte(`{"name":"` + name + `"}`)}
}

func ids(js []*store.Job) []int64 {
	var out []int64
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

func testProjects(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := &store.Project{Path: "group/b", Name: "b", CloneURL: "file:///b", DefaultBranch: "main", WebhookSecret: "sec",
		Forge: "gitea", ForgeURL: "https://gitea", ForgeRepo: "group/b", ForgeToken: "tok",
		Hooks: []string{"https://hook"}, Tags: []string{"linux", "docker"}, ProtectedBranches: []string{"main", "release/*"},
		JobTokenAllowlist: []string{"group/*", "other/app"}, Visibility: store.VisibilityInternal, Created: t0}
	must(t, s.CreateProject(ctx, p))
	if p.ID == 0 {
		t.Fatal("CreateProject set no ID")
	}
	got, err := s.Project(ctx, p.ID)
	must(t, err)
	equal(t, "Project", got, p)
	got, err = s.ProjectByPath(ctx, "group/b")
	must(t, err)
	equal(t, "ProjectByPath", got, p)

	wantErr(t, s.CreateProject(ctx, &store.Project{Path: "group/b"}), store.ErrConflict)
	_, err = s.Project(ctx, p.ID+100)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.ProjectByPath(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	a := newProject(t, s, "group/a")
	if a.Created.IsZero() || a.Created.Location() != time.UTC {
		t.Errorf("Created = %v, want the current time in UTC", a.Created)
	}
	if a.Visibility != store.VisibilityPrivate {
		t.Errorf("Visibility = %q, want %q by default", a.Visibility, store.VisibilityPrivate)
	}
	p.Hooks, p.Tags, p.DefaultBranch, p.ForgeToken = nil, []string{"arm"}, "trunk", ""
	p.ProtectedBranches, p.JobTokenAllowlist, p.Visibility = []string{"trunk"}, nil, store.VisibilityPublic
	must(t, s.UpdateProject(ctx, p))
	got, err = s.Project(ctx, p.ID)
	must(t, err)
	equal(t, "updated Project", got, p)
	wantErr(t, s.UpdateProject(ctx, &store.Project{ID: p.ID + 100, Path: "x"}), store.ErrNotFound)
	a.Path = "group/b"
	wantErr(t, s.UpdateProject(ctx, a), store.ErrConflict)

	all, err := s.ListProjects(ctx)
	must(t, err)
	if len(all) != 2 || all[0].Path != "group/a" || all[1].Path != "group/b" {
		t.Fatalf("ListProjects = %+v, want group/a, group/b", all)
	}
}

func testVariables(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	vs := []*store.Variable{
		{ProjectID: p.ID, Key: "B", Value: "1", Environment: "*"},
		{ProjectID: p.ID, Key: "A", Value: "2", Masked: true, Protected: true, File: true, Environment: "prod"},
		{ProjectID: p.ID, Key: "A", Value: "3", Environment: "*"},
	}
	for _, v := range vs {
		must(t, s.SetVariable(ctx, v))
	}
	vs[0].Value = "changed"
	must(t, s.SetVariable(ctx, vs[0]))
	got, err := s.Variables(ctx, p.ID)
	must(t, err)
	equal(t, "Variables", got, []*store.Variable{vs[2], vs[1], vs[0]})
	must(t, s.DeleteVariable(ctx, p.ID, "A", "prod"))
	wantErr(t, s.DeleteVariable(ctx, p.ID, "A", "prod"), store.ErrNotFound)
	got, err = s.Variables(ctx, p.ID)
	must(t, err)
	equal(t, "Variables after delete", got, []*store.Variable{vs[2], vs[0]})
	got, err = s.Variables(ctx, p.ID+1)
	must(t, err)
	equal(t, "Variables of another project", len(got), 0)
}

func testSchedules(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	q := newProject(t, s, "q")
	a := &store.Schedule{ProjectID: p.ID, Description: "nightly", Cron: "0 3 * * *", Timezone: "Europe/Berlin", Ref: "main",
		Vars: map[string]string{"X": "1"}, Active: true, NextRun: t0}
	b := &store.Schedule{ProjectID: q.ID, Cron: "* * * * *", Ref: "dev"}
	must(t, s.CreateSchedule(ctx, a))
	must(t, s.CreateSchedule(ctx, b))
	if a.ID == 0 || b.ID == 0 || a.ID == b.ID {
		t.Fatalf("schedule IDs %d, %d", a.ID, b.ID)
	}
	got, err := s.Schedules(ctx, p.ID)
	must(t, err)
	equal(t, "Schedules(p)", got, []*store.Schedule{a})
	got, err = s.Schedules(ctx, 0)
	must(t, err)
	equal(t, "Schedules(0)", got, []*store.Schedule{a, b})
	a.Active, a.Vars, a.NextRun = false, nil, t0.Add(time.Hour)
	must(t, s.UpdateSchedule(ctx, a))
	got, err = s.Schedules(ctx, p.ID)
	must(t, err)
	equal(t, "updated Schedules", got, []*store.Schedule{a})
	must(t, s.DeleteSchedule(ctx, a.ID))
	wantErr(t, s.DeleteSchedule(ctx, a.ID), store.ErrNotFound)
	wantErr(t, s.UpdateSchedule(ctx, a), store.ErrNotFound)
}

func testCreatePipeline(t *testing.T, s store.Store) {
	ctx := context.Background()
	p1 := newProject(t, s, "p1")
	p2 := newProject(t, s, "p2")
	cov := 87.5
	pl := &store.Pipeline{ProjectID: p1.ID, Status: status.Created, Ref: "v1", Tag: true, SHA: "sha", BeforeSHA: "000",
		Source: "api", Name: "release", Message: "msg", AuthorName: "A", AuthorEmail: "a@x", Vars: map[string]string{"K": "V"},
		MergeRequest: 7, Protected: true, ParentID: 42, Depth: 2, Coverage: &cov, Created: t0, Started: t0.Add(time.Second)}
	jobs := []*store.Job{
		{Name: "build", Stage: "build", Position: 0, Status: status.Pending, Spec: []byte(`{}`), Tags: []string{"x"},
			ResourceGroup: "rg", Attempt: 1, RunAt: t0, Dotenv: []byte(`[]`), Coverage: &cov, Queued: t0},
		{Name: "test", Stage: "test", StageIndex: 1, Position: 1, Status: status.Created, Attempt: 1},
	}
	must(t, s.CreatePipeline(ctx, pl, jobs))
	if pl.ID == 0 || pl.IID != 1 {
		t.Fatalf("pipeline ID %d IID %d, want IID 1", pl.ID, pl.IID)
	}
	got, err := s.Pipeline(ctx, pl.ID)
	must(t, err)
	equal(t, "Pipeline", got, pl)
	for _, j := range jobs {
		if j.ID == 0 || j.PipelineID != pl.ID || j.ProjectID != p1.ID || j.Created.IsZero() {
			t.Fatalf("job not filled in: %+v", j)
		}
	}
	gotJobs, err := s.Jobs(ctx, pl.ID, store.JobFilter{})
	must(t, err)
	equal(t, "Jobs", gotJobs, jobs)
	before, err := s.Jobs(ctx, pl.ID, store.JobFilter{BeforeStage: 1})
	must(t, err)
	equal(t, "Jobs before stage 1", before, jobs[:1])
	j, err := s.Job(ctx, jobs[0].ID)
	must(t, err)
	equal(t, "Job", j, jobs[0])
	_, err = s.Job(ctx, jobs[1].ID+100)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Pipeline(ctx, pl.ID+100)
	wantErr(t, err, store.ErrNotFound)

	// IIDs count per project.
	for i, want := range []struct {
		project int64
		iid     int64
	}{{p1.ID, 2}, {p2.ID, 1}, {p1.ID, 3}, {p2.ID, 2}} {
		pl, _ := newPipeline(t, s, want.project)
		if pl.IID != want.iid {
			t.Errorf("pipeline %d: IID %d, want %d", i, pl.IID, want.iid)
		}
	}
	err = s.CreatePipeline(ctx, &store.Pipeline{ProjectID: p2.ID + 100, Status: status.Pending}, nil)
	wantErr(t, err, store.ErrNotFound)
}

func testIIDConcurrent(t *testing.T, s store.Store) {
	p := newProject(t, s, "p")
	const n = 20
	iids := make(chan int64, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			pl := &store.Pipeline{ProjectID: p.ID, Status: status.Pending}
			err := s.CreatePipeline(context.Background(), pl, []*store.Job{pending("j")})
			errs <- err
			iids <- pl.IID
		}()
	}
	var got []int64
	for range n {
		must(t, <-errs)
		got = append(got, <-iids)
	}
	slices.Sort(got)
	for i, iid := range got {
		if iid != int64(i+1) {
			t.Fatalf("IIDs = %v, want 1..%d", got, n)
		}
	}
}

func testPipelinesFilter(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	q := newProject(t, s, "q")
	var all []*store.Pipeline
	for i := range 6 {
		pl := &store.Pipeline{ProjectID: p.ID, Ref: []string{"main", "dev"}[i%2],
			Status: []status.Status{status.Success, status.Failed, status.Running}[i%3],
			Source: []string{"push", "web", "api"}[i%3]}
		if i == 4 {
			pl.ParentID, pl.Depth = all[1].ID, 1
		}
		must(t, s.CreatePipeline(ctx, pl, nil))
		all = append(all, pl)
	}
	other := &store.Pipeline{ProjectID: q.ID, Ref: "main", Status: status.Success}
	must(t, s.CreatePipeline(ctx, other, nil))
	pids := func(ps []*store.Pipeline) []int64 {
		var out []int64
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	tests := []struct {
		name    string
		project int64
		f       store.PipelineFilter
		want    []*store.Pipeline
	}{
		{"all of p", p.ID, store.PipelineFilter{}, []*store.Pipeline{all[5], all[4], all[3], all[2], all[1], all[0]}},
		{"every project", 0, store.PipelineFilter{Limit: 2}, []*store.Pipeline{other, all[5]}},
		{"ref", p.ID, store.PipelineFilter{Ref: "dev"}, []*store.Pipeline{all[5], all[3], all[1]}},
		{"status", p.ID, store.PipelineFilter{Status: []status.Status{status.Success, status.Failed}},
			[]*store.Pipeline{all[4], all[3], all[1], all[0]}},
		{"paging", p.ID, store.PipelineFilter{Before: all[4].ID, Limit: 2}, []*store.Pipeline{all[3], all[2]}},
		{"ref and status", p.ID, store.PipelineFilter{Ref: "main", Status: []status.Status{status.Running}}, []*store.Pipeline{all[2]}},
		{"none", p.ID, store.PipelineFilter{Ref: "nope"}, nil},
		{"source", p.ID, store.PipelineFilter{Source: "web"}, []*store.Pipeline{all[4], all[1]}},
		{"source and ref", p.ID, store.PipelineFilter{Source: "web", Ref: "dev"}, []*store.Pipeline{all[1]}},
		{"children", 0, store.PipelineFilter{ParentID: all[1].ID}, []*store.Pipeline{all[4]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Pipelines(ctx, tt.project, tt.f)
			must(t, err)
			equal(t, "Pipelines", pids(got), pids(tt.want))
		})
	}
	active, err := s.ActivePipelines(ctx)
	must(t, err)
	equal(t, "ActivePipelines", pids(active), pids([]*store.Pipeline{all[2], all[5]}))
}

func testUpdatePipeline(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	pl, jobs := newPipeline(t, s, p.ID, pending("a"), pending("b"))
	var added *store.Job
	err := s.UpdatePipeline(ctx, pl.ID, func(gp *store.Pipeline, js *[]*store.Job) error {
		equal(t, "locked pipeline", gp, pl)
		equal(t, "locked jobs", ids(*js), ids(jobs))
		gp.Status, gp.Started = status.Running, t0
		gp.Protected, gp.ParentID, gp.Depth = true, 9, 3 // fixed at creation: not written
		(*js)[1].Status, (*js)[1].Retried = status.Failed, true
		(*js)[1].Spec = append((*js)[1].Spec[:0], []byte(`{"x":1}`)...) // in place
		added = &store.Job{Name: "b", Stage: "test", Position: 1, Status: status.Pending, Attempt: 2}
		*js = append(*js, added)
		return nil
	})
	must(t, err)
	if added.ID == 0 || added.PipelineID != pl.ID || added.ProjectID != p.ID {
		t.Fatalf("appended job not filled in: %+v", added)
	}
	got, err := s.Pipeline(ctx, pl.ID)
	must(t, err)
	if got.Status != status.Running || !got.Started.Equal(t0) {
		t.Errorf("pipeline not written: %+v", got)
	}
	if got.Protected || got.ParentID != 0 || got.Depth != 0 {
		t.Errorf("UpdatePipeline wrote Protected, ParentID or Depth, which are fixed at creation: %+v", got)
	}
	js, err := s.Jobs(ctx, pl.ID, store.JobFilter{})
	must(t, err)
	equal(t, "jobs by position then ID", ids(js), []int64{jobs[0].ID, jobs[1].ID, added.ID})
	if js[1].Status != status.Failed || !js[1].Retried || string(js[1].Spec) != `{"x":1}` || js[0].Status != status.Pending {
		t.Errorf("jobs not written: %+v %+v", js[0], js[1])
	}

	boom := errors.New("boom")
	err = s.UpdatePipeline(ctx, pl.ID, func(gp *store.Pipeline, js *[]*store.Job) error {
		gp.Status = status.Canceled
		(*js)[0].Status = status.Canceled
		*js = append(*js, pending("never"))
		return boom
	})
	if err != boom && !errors.Is(err, boom) {
		t.Fatalf("UpdatePipeline = %v, want fn's error", err)
	}
	got, err = s.Pipeline(ctx, pl.ID)
	must(t, err)
	js, err = s.Jobs(ctx, pl.ID, store.JobFilter{})
	must(t, err)
	if got.Status != status.Running || js[0].Status != status.Pending || len(js) != 3 {
		t.Errorf("fn's error did not roll back: %+v, %d jobs, job 0 %s", got, len(js), js[0].Status)
	}
	err = s.UpdatePipeline(ctx, pl.ID+100, func(*store.Pipeline, *[]*store.Job) error { return nil })
	wantErr(t, err, store.ErrNotFound)
}

func testUpdateJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	pl, jobs := newPipeline(t, s, p.ID, pending("a"), pending("b"))
	must(t, s.UpdateJob(ctx, jobs[1].ID, func(j *store.Job) error {
		equal(t, "locked job", j, jobs[1])
		j.Status, j.ExitCode, j.Finished = status.Failed, 3, t0
		j.Dotenv = []byte(`[{"Key":"K"}]`)
		j.JUnit = []byte(`{"tests":2,"failures":1}`)
		return nil
	}))
	js, err := s.Jobs(ctx, pl.ID, store.JobFilter{})
	must(t, err)
	want := *jobs[1]
	want.Status, want.ExitCode, want.Finished, want.Dotenv = status.Failed, 3, t0, []byte(`[{"Key":"K"}]`)
	want.JUnit = []byte(`{"tests":2,"failures":1}`)
	equal(t, "written job", js[1], &want)
	equal(t, "other job", js[0], jobs[0])

	boom := errors.New("boom")
	err = s.UpdateJob(ctx, jobs[0].ID, func(j *store.Job) error {
		j.Status = status.Canceled
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateJob = %v, want fn's error", err)
	}
	got, err := s.Job(ctx, jobs[0].ID)
	must(t, err)
	equal(t, "rolled back job", got, jobs[0])
	err = s.UpdateJob(ctx, jobs[1].ID+100, func(*store.Job) error { return nil })
	wantErr(t, err, store.ErrNotFound)
}

// testUpdateJobVersusPipeline counts in one job's Attempt from UpdateJob and UpdatePipeline
// at once: no increment is lost.
func testUpdateJobVersusPipeline(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	pl, jobs := newPipeline(t, s, p.ID, pending("a"), pending("b"))
	const rounds = 25
	var g errgroup.Group
	g.Go(func() error {
		for range rounds {
			if err := s.UpdateJob(ctx, jobs[0].ID, func(j *store.Job) error { j.Attempt++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		for range rounds {
			err := s.UpdatePipeline(ctx, pl.ID, func(_ *store.Pipeline, js *[]*store.Job) error {
				(*js)[0].Attempt++
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	must(t, g.Wait())
	j, err := s.Job(ctx, jobs[0].ID)
	must(t, err)
	equal(t, "attempts", j.Attempt, jobs[0].Attempt+2*rounds)
}

func runner(id int64, untagged bool, tags ...string) *store.Runner {
	return &store.Runner{ID: id, Tags: tags, RunUntagged: untagged}
}

func claim(r *store.Runner, key string) store.Claim {
	return store.Claim{Runner: r, Key: key, TokenHash: fmt.Sprintf("tok-%d-%s", r.ID, key), LeaseUntil: t0.Add(time.Minute), Now: t0}
}

// testClaimPausedRunner: a paused runner gets no job, even when the runner it claims with was
// read before the pause; resumed, it does.
func testClaimPausedRunner(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	_, jobs := newPipeline(t, s, p.ID, pending("untagged"))
	rn := &store.Runner{Name: "r", TokenHash: "h-paused", RunUntagged: true}
	must(t, s.CreateRunner(ctx, rn))
	must(t, s.PauseRunner(ctx, rn.ID, true))
	_, err := s.ClaimJob(ctx, claim(rn, "k1"))
	wantErr(t, err, store.ErrNotFound)
	must(t, s.PauseRunner(ctx, rn.ID, false))
	j, err := s.ClaimJob(ctx, claim(rn, "k2"))
	must(t, err)
	if j.ID != jobs[0].ID {
		t.Fatalf("resumed runner claimed %s", j.Name)
	}
	wantErr(t, s.PauseRunner(ctx, rn.ID+100, true), store.ErrNotFound)
}

func testClaimJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	_, jobs := newPipeline(t, s, p.ID,
		pending("docker", "docker"),
		pending("untagged"),
		pending("both", "docker", "linux"),
		&store.Job{Name: "created", Status: status.Created},
		pending("arm", "arm"),
	)
	plain := runner(1, false)
	_, err := s.ClaimJob(ctx, claim(plain, "k0"))
	wantErr(t, err, store.ErrNotFound)

	linux := runner(2, false, "linux", "docker")
	j, err := s.ClaimJob(ctx, claim(linux, "k1"))
	must(t, err)
	if j.ID != jobs[0].ID {
		t.Fatalf("claimed %s, want the oldest job the runner can take (docker)", j.Name)
	}
	if j.Status != status.Running || j.RunnerID != 2 || j.ClaimKey != "k1" || j.TokenHash != "tok-2-k1" ||
		!j.LeaseUntil.Equal(t0.Add(time.Minute)) || !j.Started.Equal(t0) {
		t.Fatalf("claimed job not marked: %+v", j)
	}
	stored, err := s.Job(ctx, j.ID)
	must(t, err)
	equal(t, "stored claimed job", stored, j)

	renewed := claim(linux, "k1")
	renewed.TokenHash, renewed.LeaseUntil = "tok-renewed", t0.Add(2*time.Minute)
	again, err := s.ClaimJob(ctx, renewed)
	must(t, err)
	if again.ID != j.ID {
		t.Fatalf("same key claimed job %d, want %d again", again.ID, j.ID)
	}
	// The runner never saw the first answer's token: the repeated claim's replaces it.
	if byToken, err := s.JobByTokenHash(ctx, "tok-renewed"); err != nil || byToken.ID != j.ID || !byToken.LeaseUntil.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("repeated claim did not renew the token and lease: %+v, %v", byToken, err)
	}
	j2, err := s.ClaimJob(ctx, claim(linux, "k2"))
	must(t, err)
	if j2.ID != jobs[2].ID {
		t.Fatalf("second claim got %s, want both (tags ⊆ runner's, untagged skipped)", j2.Name)
	}
	_, err = s.ClaimJob(ctx, claim(linux, "k3"))
	wantErr(t, err, store.ErrNotFound)

	untagged := runner(3, true)
	j3, err := s.ClaimJob(ctx, claim(untagged, "k"))
	must(t, err)
	if j3.ID != jobs[1].ID {
		t.Fatalf("untagged runner got %s, want untagged", j3.Name)
	}
	// The same key of another runner is another claim.
	_, err = s.ClaimJob(ctx, claim(runner(4, true, "arm"), "k"))
	must(t, err)
	_, err = s.ClaimJob(ctx, claim(runner(5, true, "arm"), "k"))
	wantErr(t, err, store.ErrNotFound)

	// A finished job is not handed out again for its key.
	must(t, s.UpdatePipeline(ctx, j.PipelineID, func(_ *store.Pipeline, js *[]*store.Job) error {
		(*js)[0].Status = status.Success
		return nil
	}))
	_, err = s.ClaimJob(ctx, claim(linux, "k1"))
	wantErr(t, err, store.ErrNotFound)
	got, err := s.JobByTokenHash(ctx, "tok-2-k2")
	must(t, err)
	equal(t, "JobByTokenHash", got.ID, j2.ID)
	_, err = s.JobByTokenHash(ctx, "tok-2-k1") // finished
	wantErr(t, err, store.ErrNotFound)
	_, err = s.JobByTokenHash(ctx, "")
	wantErr(t, err, store.ErrNotFound)

	// Jobs beyond the first batches are found, and retried ones are never claimed.
	var many []*store.Job
	for i := range 100 {
		many = append(many, pending(fmt.Sprint("gpu", i), "gpu"))
	}
	many[0].Retried = true
	newPipeline(t, s, p.ID, many...)
	newPipeline(t, s, p.ID, pending("cuda", "cuda"))
	cuda, err := s.ClaimJob(ctx, claim(runner(6, false, "cuda"), "c"))
	must(t, err)
	equal(t, "claimed after 100 others", cuda.Name, "cuda")
	gpu, err := s.ClaimJob(ctx, claim(runner(7, false, "gpu"), "g"))
	must(t, err)
	equal(t, "retried job skipped", gpu.Name, "gpu1")
}

func testClaimConcurrent(t *testing.T, s store.Store) {
	p := newProject(t, s, "p")
	const jobs, workers = 200, 16
	for i := 0; i < jobs; i += 50 {
		var js []*store.Job
		for k := range 50 {
			js = append(js, pending(fmt.Sprint("j", i+k), "t"))
		}
		newPipeline(t, s, p.ID, js...)
	}
	type result struct {
		ids []int64
		err error
	}
	results := make(chan result, workers)
	for w := range workers {
		go func() {
			var r result
			r.err = func() error {
				for i := 0; ; i++ {
					j, err := s.ClaimJob(context.Background(), claim(runner(int64(w+1), true, "t"), fmt.Sprint(i)))
					if errors.Is(err, store.ErrNotFound) {
						return nil
					}
					if err != nil {
						return err
					}
					if j.RunnerID != int64(w+1) {
						return fmt.Errorf("job %d claimed for runner %d, want %d", j.ID, j.RunnerID, w+1)
					}
					r.ids = append(r.ids, j.ID)
				}
			}()
			results <- r
		}()
	}
	seen := map[int64]bool{}
	for range workers {
		r := <-results
		must(t, r.err)
		for _, id := range r.ids {
			if seen[id] {
				t.Fatalf("job %d claimed twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(seen), jobs)
	}
	n, err := s.CountJobs(context.Background())
	must(t, err)
	equal(t, "CountJobs", n, map[status.Status]int{status.Running: jobs})
}

// testClaimVersusUpdate checks that a job UpdatePipeline moves out of pending is never
// also claimed: either the claim came first (and fn sees it running) or fn's change wins.
func testClaimVersusUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	for i := range 20 {
		pl, _ := newPipeline(t, s, p.ID, pending("a"))
		claimed := make(chan *store.Job, 1)
		go func() {
			j, err := s.ClaimJob(ctx, claim(runner(1, true), fmt.Sprint(i)))
			if err != nil {
				j = nil
			}
			claimed <- j
		}()
		var canceled bool
		must(t, s.UpdatePipeline(ctx, pl.ID, func(_ *store.Pipeline, js *[]*store.Job) error {
			canceled = false
			if (*js)[0].Status == status.Pending {
				(*js)[0].Status = status.Canceled
				canceled = true
			}
			return nil
		}))
		j := <-claimed
		if canceled && j != nil && j.PipelineID == pl.ID {
			t.Fatalf("round %d: job both canceled by UpdatePipeline and claimed", i)
		}
		js, err := s.Jobs(ctx, pl.ID, store.JobFilter{})
		must(t, err)
		if want := map[bool]status.Status{true: status.Canceled, false: status.Running}[canceled]; js[0].Status != want {
			t.Fatalf("round %d: job %s, want %s", i, js[0].Status, want)
		}
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	pl, _ := newPipeline(t, s, p.ID, pending("a"), pending("b"))
	r := runner(1, true)
	a, err := s.ClaimJob(ctx, claim(r, "a"))
	must(t, err)
	c := claim(r, "b")
	c.LeaseUntil = t0.Add(time.Hour)
	b, err := s.ClaimJob(ctx, c)
	must(t, err)

	cancel, err := s.Heartbeat(ctx, a.ID, r.ID, t0.Add(2*time.Minute))
	must(t, err)
	equal(t, "cancel", cancel, false)
	_, err = s.Heartbeat(ctx, a.ID, 99, t0.Add(2*time.Minute))
	wantErr(t, err, store.ErrLeaseLost)
	_, err = s.Heartbeat(ctx, a.ID+100, r.ID, t0)
	wantErr(t, err, store.ErrLeaseLost)

	exp, err := s.ExpiredJobs(ctx, t0.Add(3*time.Minute))
	must(t, err)
	equal(t, "ExpiredJobs", ids(exp), []int64{a.ID})
	exp, err = s.ExpiredJobs(ctx, t0.Add(2*time.Minute))
	must(t, err)
	equal(t, "ExpiredJobs at the lease's end", len(exp), 0)

	must(t, s.ExtendLeases(ctx, t0.Add(30*time.Minute)))
	ja, err := s.Job(ctx, a.ID)
	must(t, err)
	jb, err := s.Job(ctx, b.ID)
	must(t, err)
	if !ja.LeaseUntil.Equal(t0.Add(30*time.Minute)) || !jb.LeaseUntil.Equal(t0.Add(time.Hour)) {
		t.Fatalf("ExtendLeases: leases %v, %v", ja.LeaseUntil, jb.LeaseUntil)
	}

	must(t, s.UpdatePipeline(ctx, pl.ID, func(_ *store.Pipeline, js *[]*store.Job) error {
		(*js)[0].CancelRequested = true
		(*js)[1].Status = status.Success
		return nil
	}))
	cancel, err = s.Heartbeat(ctx, a.ID, r.ID, t0.Add(40*time.Minute))
	must(t, err)
	equal(t, "cancel requested", cancel, true)
	_, err = s.Heartbeat(ctx, b.ID, r.ID, t0.Add(40*time.Minute))
	wantErr(t, err, store.ErrLeaseLost)
}

func testLogs(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	_, jobs := newPipeline(t, s, p.ID, pending("a"), pending("b"))
	id := jobs[0].ID
	data, size, err := s.ReadLog(ctx, id, 0, 0)
	must(t, err)
	if len(data) != 0 || size != 0 {
		t.Fatalf("empty log: %q, %d", data, size)
	}
	steps := []struct {
		name   string
		offset int64
		data   string
		size   int64
		err    error
	}{
		{"first", 0, "hello ", 6, nil},
		{"next", 6, "world", 11, nil},
		{"resent", 0, "hello ", 11, nil},
		{"overlap", 9, "ld\nmore", 16, nil},
		{"gap", 20, "x", 16, store.ErrLogOffset},
		{"empty", 16, "", 16, nil},
		{"at end", 16, "!", 17, nil},
	}
	for _, st := range steps {
		size, err := s.AppendLog(ctx, id, st.offset, []byte(st.data))
		if !errors.Is(err, st.err) || (st.err == nil && err != nil) {
			t.Fatalf("%s: error %v, want %v", st.name, err, st.err)
		}
		if size != st.size {
			t.Fatalf("%s: size %d, want %d", st.name, size, st.size)
		}
	}
	const full = "hello world\nmore!"
	reads := []struct {
		name   string
		offset int64
		limit  int
		want   string
	}{
		{"all", 0, 0, full},
		{"from middle of chunk", 8, 0, full[8:]},
		{"limit across chunks", 3, 10, full[3:13]},
		{"limit within chunk", 1, 2, full[1:3]},
		{"at end", 17, 0, ""},
		{"beyond end", 30, 5, ""},
	}
	for _, r := range reads {
		data, size, err := s.ReadLog(ctx, id, r.offset, r.limit)
		must(t, err)
		if string(data) != r.want || size != int64(len(full)) {
			t.Errorf("ReadLog %s: %q, %d; want %q, %d", r.name, data, size, r.want, len(full))
		}
	}
	_, err = s.AppendLog(ctx, jobs[1].ID+100, 0, []byte("x"))
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.ReadLog(ctx, jobs[1].ID+100, 0, 0)
	wantErr(t, err, store.ErrNotFound)

	// DeleteLogs drops the logs of jobs finished before the time only.
	_, err = s.AppendLog(ctx, jobs[1].ID, 0, []byte("other"))
	must(t, err)
	must(t, s.UpdatePipeline(ctx, jobs[0].PipelineID, func(_ *store.Pipeline, js *[]*store.Job) error {
		(*js)[0].Status, (*js)[0].Finished = status.Success, t0
		(*js)[1].Status, (*js)[1].Finished = status.Success, t0.Add(time.Hour)
		return nil
	}))
	must(t, s.DeleteLogs(ctx, t0.Add(time.Minute)))
	_, size, err = s.ReadLog(ctx, id, 0, 0)
	must(t, err)
	equal(t, "size of a deleted log", size, int64(0))
	data, _, err = s.ReadLog(ctx, jobs[1].ID, 0, 0)
	must(t, err)
	equal(t, "kept log", string(data), "other")
}

func testLogsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	_, jobs := newPipeline(t, s, p.ID, pending("a"))
	id := jobs[0].ID
	const n = 8
	want := make([]byte, 0, 100*n)
	for i := range 100 * n {
		want = append(want, byte('a'+i%26))
	}
	errs := make(chan error, n)
	for range n {
		go func() {
			// Every writer sends the whole log in chunks of 100: only one copy may be stored.
			for off := 0; off < len(want); off += 100 {
				if _, err := s.AppendLog(ctx, id, int64(off), want[off:off+100]); err != nil && !errors.Is(err, store.ErrLogOffset) {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		must(t, <-errs)
	}
	data, size, err := s.ReadLog(ctx, id, 0, 0)
	must(t, err)
	if string(data) != string(want) || size != int64(len(want)) {
		t.Fatalf("log of %d bytes (size %d), want the %d bytes once", len(data), size, len(want))
	}
}

func testRunners(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := &store.Runner{Name: "a", TokenHash: "ha", Tags: []string{"docker"}, RunUntagged: true, Executor: "docker", Version: "v0.9.0", Created: t0}
	must(t, s.CreateRunner(ctx, a))
	b := &store.Runner{Name: "b", TokenHash: "hb", Executor: "shell"}
	must(t, s.CreateRunner(ctx, b))
	if a.ID == 0 || b.ID == a.ID || b.Created.IsZero() {
		t.Fatalf("runners not filled in: %+v %+v", a, b)
	}
	wantErr(t, s.CreateRunner(ctx, &store.Runner{Name: "c", TokenHash: "ha"}), store.ErrConflict)
	// Names need not be unique (runners registered from hosts of the same name).
	a2 := &store.Runner{Name: "a", TokenHash: "hc"}
	must(t, s.CreateRunner(ctx, a2))
	must(t, s.DeleteRunner(ctx, a2.ID))
	got, err := s.RunnerByTokenHash(ctx, "ha")
	must(t, err)
	equal(t, "RunnerByTokenHash", got, a)
	_, err = s.RunnerByTokenHash(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.TouchRunner(ctx, b.ID, t0))
	b.LastSeen = t0
	must(t, s.SetRunnerVersion(ctx, b.ID, "v1.2.3"))
	must(t, s.PauseRunner(ctx, b.ID, true))
	b.Version, b.Paused = "v1.2.3", true
	wantErr(t, s.SetRunnerVersion(ctx, b.ID+100, "v1"), store.ErrNotFound)
	all, err := s.ListRunners(ctx)
	must(t, err)
	equal(t, "ListRunners", all, []*store.Runner{a, b})
	must(t, s.DeleteRunner(ctx, a.ID))
	wantErr(t, s.DeleteRunner(ctx, a.ID), store.ErrNotFound)
	wantErr(t, s.TouchRunner(ctx, a.ID, t0), store.ErrNotFound)
	all, err = s.ListRunners(ctx)
	must(t, err)
	equal(t, "ListRunners after delete", all, []*store.Runner{b})
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := &store.Token{Name: "admin", Kind: "admin", Hash: "h1", Created: t0, LastUsed: t0.Add(time.Second)}
	must(t, s.CreateToken(ctx, a))
	must(t, s.CreateToken(ctx, &store.Token{Name: "r1", Kind: "registration", Hash: "h2"}))
	must(t, s.CreateToken(ctx, &store.Token{Name: "r2", Kind: "registration", Hash: "h3"}))
	wantErr(t, s.CreateToken(ctx, &store.Token{Name: "dup", Kind: "user", Hash: "h1"}), store.ErrConflict)
	got, err := s.TokenByHash(ctx, "h1")
	must(t, err)
	equal(t, "TokenByHash", got, a)
	_, err = s.TokenByHash(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	for kind, want := range map[string]int{"admin": 1, "registration": 2, "user": 0} {
		n, err := s.CountTokens(ctx, kind)
		must(t, err)
		equal(t, "CountTokens "+kind, n, want)
	}
	// A reset revokes the tokens of the kind and adds the new one.
	r1 := &store.Token{Name: "reg", Kind: "registration", Hash: "reset-1"}
	must(t, s.CreateToken(ctx, r1))
	r2 := &store.Token{Name: "reg", Kind: "registration", Hash: "reset-2"}
	must(t, s.ResetToken(ctx, r2))
	if old, err := s.TokenByHash(ctx, "reset-1"); err != nil || !old.Revoked {
		t.Fatalf("old registration token after a reset: %+v, %v", old, err)
	}
	if cur, err := s.TokenByHash(ctx, "reset-2"); err != nil || cur.Revoked || cur.ID != r2.ID || r2.ID == 0 {
		t.Fatalf("new registration token: %+v, %v", cur, err)
	}
	if adm, err := s.TokenByHash(ctx, "h1"); err != nil || adm.Revoked {
		t.Fatalf("a reset of registration tokens touched the admin token: %+v, %v", adm, err)
	}
	if err := s.ResetToken(ctx, &store.Token{Name: "p", Kind: "personal", Hash: "reset-3", UserID: 1}); err == nil {
		t.Fatal("ResetToken took a personal token")
	}
}

func newUser(t testing.TB, s store.Store, name string) *store.User {
	t.Helper()
	u := &store.User{Username: name, PasswordHash: "$2a$04$hash-of-" + name}
	must(t, s.CreateUser(context.Background(), u))
	return u
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	n, err := s.CountUsers(ctx)
	must(t, err)
	equal(t, "CountUsers of an empty store", n, 0)
	a := &store.User{Username: "Ada", PasswordHash: "h1", Admin: true, Created: t0}
	must(t, s.CreateUser(ctx, a))
	if a.ID == 0 {
		t.Fatal("CreateUser set no ID")
	}
	b := newUser(t, s, "bob")
	if b.ID == a.ID || b.Created.IsZero() || b.Created.Location() != time.UTC {
		t.Fatalf("users not filled in: %+v %+v", a, b)
	}
	// Usernames are unique whatever their case.
	wantErr(t, s.CreateUser(ctx, &store.User{Username: "ada", PasswordHash: "x"}), store.ErrConflict)
	wantErr(t, s.CreateUser(ctx, &store.User{Username: "BOB", PasswordHash: "x"}), store.ErrConflict)
	for _, name := range []string{"Ada", "ada", "ADA"} {
		got, err := s.UserByName(ctx, name)
		must(t, err)
		equal(t, "UserByName "+name, got, a)
	}
	got, err := s.User(ctx, a.ID)
	must(t, err)
	equal(t, "User", got, a)
	_, err = s.User(ctx, b.ID+100)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.UserByName(ctx, "carol")
	wantErr(t, err, store.ErrNotFound)

	b.Disabled, b.Admin, b.PasswordHash, b.Username = true, true, "h2", "Bobby"
	must(t, s.UpdateUser(ctx, b))
	got, err = s.User(ctx, b.ID)
	must(t, err)
	equal(t, "updated User", got, b)
	b.Username = "ADA"
	wantErr(t, s.UpdateUser(ctx, b), store.ErrConflict)
	b.Username = "Bobby"
	wantErr(t, s.UpdateUser(ctx, &store.User{ID: b.ID + 100, Username: "x"}), store.ErrNotFound)

	all, err := s.ListUsers(ctx)
	must(t, err)
	equal(t, "ListUsers", all, []*store.User{a, b})
	n, err = s.CountUsers(ctx)
	must(t, err)
	equal(t, "CountUsers", n, 2)
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, v := newUser(t, s, "u"), newUser(t, s, "v")
	a := &store.Session{Hash: "sa", UserID: u.ID, CSRF: "ca", Created: t0, Expires: t0.Add(30 * time.Hour)}
	must(t, s.CreateSession(ctx, a))
	if !a.LastSeen.Equal(t0) {
		t.Errorf("LastSeen = %v, want Created", a.LastSeen)
	}
	got, err := s.Session(ctx, "sa")
	must(t, err)
	equal(t, "Session", got, a)
	wantErr(t, s.CreateSession(ctx, &store.Session{Hash: "sa", UserID: v.ID}), store.ErrConflict)
	wantErr(t, s.CreateSession(ctx, &store.Session{Hash: "sx", UserID: v.ID + 100}), store.ErrNotFound)
	_, err = s.Session(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	must(t, s.TouchSession(ctx, "sa", t0.Add(time.Hour)))
	a.LastSeen = t0.Add(time.Hour)
	got, err = s.Session(ctx, "sa")
	must(t, err)
	equal(t, "touched Session", got, a)
	wantErr(t, s.TouchSession(ctx, "nope", t0), store.ErrNotFound)

	must(t, s.DeleteSession(ctx, "sa"))
	wantErr(t, s.DeleteSession(ctx, "sa"), store.ErrNotFound)
	_, err = s.Session(ctx, "sa")
	wantErr(t, err, store.ErrNotFound)

	// DeleteUserSessions deletes all of one user's, and no other's.
	for _, h := range []string{"u1", "u2"} {
		must(t, s.CreateSession(ctx, &store.Session{Hash: h, UserID: u.ID, Created: t0, Expires: t0.Add(time.Hour)}))
	}
	must(t, s.CreateSession(ctx, &store.Session{Hash: "v1", UserID: v.ID, Created: t0, Expires: t0.Add(time.Hour)}))
	must(t, s.DeleteUserSessions(ctx, u.ID))
	must(t, s.DeleteUserSessions(ctx, u.ID))
	for h, want := range map[string]error{"u1": store.ErrNotFound, "u2": store.ErrNotFound, "v1": nil} {
		_, err := s.Session(ctx, h)
		if !errors.Is(err, want) {
			t.Errorf("session %s after DeleteUserSessions: %v, want %v", h, err, want)
		}
	}

	// PurgeSessions: expired, or idle since before idleSince.
	for _, ss := range []*store.Session{
		{Hash: "expired", UserID: v.ID, Created: t0, LastSeen: t0.Add(9 * time.Hour), Expires: t0.Add(9 * time.Hour)},
		{Hash: "idle", UserID: v.ID, Created: t0, LastSeen: t0.Add(time.Hour), Expires: t0.Add(100 * time.Hour)},
		{Hash: "live", UserID: v.ID, Created: t0, LastSeen: t0.Add(9 * time.Hour), Expires: t0.Add(100 * time.Hour)},
	} {
		must(t, s.CreateSession(ctx, ss))
	}
	n, err := s.PurgeSessions(ctx, t0.Add(10*time.Hour), t0.Add(2*time.Hour))
	must(t, err)
	// v1 expired at t0+1h too.
	equal(t, "purged", n, int64(3))
	for h, want := range map[string]error{"expired": store.ErrNotFound, "idle": store.ErrNotFound, "v1": store.ErrNotFound, "live": nil} {
		_, err := s.Session(ctx, h)
		if !errors.Is(err, want) {
			t.Errorf("session %s after PurgeSessions: %v, want %v", h, err, want)
		}
	}
}

func testPersonalTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, v := newUser(t, s, "u"), newUser(t, s, "v")
	a := &store.Token{Name: "laptop", Kind: "personal", Hash: "pa", UserID: u.ID, Expires: t0.Add(time.Hour), Created: t0}
	must(t, s.CreateToken(ctx, a))
	b := &store.Token{Name: "ci", Kind: "personal", Hash: "pb", UserID: u.ID, Created: t0}
	must(t, s.CreateToken(ctx, b))
	c := &store.Token{Name: "other", Kind: "personal", Hash: "pc", UserID: v.ID, Created: t0}
	must(t, s.CreateToken(ctx, c))
	must(t, s.CreateToken(ctx, &store.Token{Name: "admin", Kind: "admin", Hash: "adm"}))
	wantErr(t, s.CreateToken(ctx, &store.Token{Name: "nobody", Kind: "personal", Hash: "pn", UserID: v.ID + 100}), store.ErrNotFound)
	got, err := s.TokenByHash(ctx, "pa")
	must(t, err)
	equal(t, "TokenByHash", got, a)
	ts, err := s.UserTokens(ctx, u.ID)
	must(t, err)
	equal(t, "UserTokens", ts, []*store.Token{a, b})

	// A user revokes only their own tokens.
	wantErr(t, s.RevokeToken(ctx, v.ID, a.ID), store.ErrNotFound)
	wantErr(t, s.RevokeToken(ctx, u.ID, a.ID+100), store.ErrNotFound)
	must(t, s.RevokeToken(ctx, u.ID, a.ID))
	must(t, s.RevokeToken(ctx, u.ID, a.ID))
	a.Revoked = true
	got, err = s.TokenByHash(ctx, "pa")
	must(t, err)
	equal(t, "revoked token", got, a)

	must(t, s.TouchToken(ctx, b.ID, t0.Add(time.Minute)))
	b.LastUsed = t0.Add(time.Minute)
	ts, err = s.UserTokens(ctx, u.ID)
	must(t, err)
	equal(t, "UserTokens after revoke and touch", ts, []*store.Token{a, b})
	wantErr(t, s.TouchToken(ctx, c.ID+100, t0), store.ErrNotFound)
	n, err := s.CountTokens(ctx, "personal")
	must(t, err)
	equal(t, "CountTokens personal", n, 3)
}

func testMembers(t *testing.T, s store.Store) {
	ctx := context.Background()
	p, q := newProject(t, s, "g/p"), newProject(t, s, "g/q")
	u, v := newUser(t, s, "u"), newUser(t, s, "v")
	must(t, s.SetMember(ctx, &store.Member{ProjectID: p.ID, UserID: u.ID, Role: store.RoleReporter}))
	must(t, s.SetMember(ctx, &store.Member{ProjectID: p.ID, UserID: u.ID, Role: store.RoleDeveloper}))
	must(t, s.SetMember(ctx, &store.Member{ProjectID: p.ID, UserID: v.ID, Role: store.RoleMaintainer}))
	must(t, s.SetMember(ctx, &store.Member{ProjectID: q.ID, UserID: u.ID, Role: store.RoleMaintainer}))
	wantErr(t, s.SetMember(ctx, &store.Member{ProjectID: q.ID + 100, UserID: u.ID, Role: store.RoleReporter}), store.ErrNotFound)
	wantErr(t, s.SetMember(ctx, &store.Member{ProjectID: q.ID, UserID: v.ID + 100, Role: store.RoleReporter}), store.ErrNotFound)

	m, err := s.Member(ctx, p.ID, u.ID)
	must(t, err)
	equal(t, "Member", m, &store.Member{ProjectID: p.ID, UserID: u.ID, Role: store.RoleDeveloper})
	_, err = s.Member(ctx, q.ID, v.ID)
	wantErr(t, err, store.ErrNotFound)
	ms, err := s.Members(ctx, p.ID)
	must(t, err)
	equal(t, "Members", ms, []*store.Member{
		{ProjectID: p.ID, UserID: u.ID, Role: store.RoleDeveloper},
		{ProjectID: p.ID, UserID: v.ID, Role: store.RoleMaintainer},
	})
	ms, err = s.Memberships(ctx, u.ID)
	must(t, err)
	equal(t, "Memberships", ms, []*store.Member{
		{ProjectID: p.ID, UserID: u.ID, Role: store.RoleDeveloper},
		{ProjectID: q.ID, UserID: u.ID, Role: store.RoleMaintainer},
	})
	must(t, s.DeleteMember(ctx, p.ID, u.ID))
	wantErr(t, s.DeleteMember(ctx, p.ID, u.ID), store.ErrNotFound)
	_, err = s.Member(ctx, p.ID, u.ID)
	wantErr(t, err, store.ErrNotFound)
}

func testDeliveries(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := &store.Delivery{ProjectID: 1, Forge: "github", GUID: "g1", Event: "push", Status: 202, Outcome: "queued", Created: t0}
	must(t, s.RecordDelivery(ctx, d))
	tests := []struct {
		name string
		d    store.Delivery
		err  error
	}{
		{"duplicate", store.Delivery{ProjectID: 1, Forge: "github", GUID: "g1"}, store.ErrConflict},
		{"other forge", store.Delivery{ProjectID: 1, Forge: "gitea", GUID: "g1"}, nil},
		{"other project", store.Delivery{ProjectID: 2, Forge: "github", GUID: "g1"}, nil},
		{"empty guid", store.Delivery{ProjectID: 1, Forge: "api"}, nil},
		{"empty guid again", store.Delivery{ProjectID: 1, Forge: "api"}, nil},
	}
	for _, tt := range tests {
		err := s.RecordDelivery(ctx, &tt.d)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
	d.Status, d.Outcome, d.PipelineID = 201, "pipeline 5", 5
	must(t, s.UpdateDelivery(ctx, d))
	wantErr(t, s.UpdateDelivery(ctx, &store.Delivery{ID: d.ID + 100}), store.ErrNotFound)
	got, err := s.ListDeliveries(ctx, 1, 0)
	must(t, err)
	if len(got) != 4 || got[3].ID != d.ID {
		t.Fatalf("ListDeliveries: %d, want 4 newest first", len(got))
	}
	equal(t, "updated delivery", got[3], d)
	got, err = s.ListDeliveries(ctx, 1, 2)
	must(t, err)
	equal(t, "limit", len(got), 2)
}

func testPruneDeliveries(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Projects 1 and 2 get deliveries an hour apart: i hours after t0 for the i-th.
	for i := range 6 {
		for _, p := range []int64{1, 2} {
			must(t, s.RecordDelivery(ctx, &store.Delivery{ProjectID: p, Forge: "github", GUID: fmt.Sprint(i), Created: t0.Add(time.Duration(i) * time.Hour)}))
		}
	}
	guids := func(p int64) []string {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, p, 0)
		must(t, err)
		var out []string
		for _, d := range ds {
			out = append(out, d.GUID)
		}
		return out
	}
	n, err := s.PruneDeliveries(ctx, 1, 4, t0)
	must(t, err)
	equal(t, "deleted keeping 4", n, int64(2))
	equal(t, "project 1 keeping 4", guids(1), []string{"5", "4", "3", "2"})
	equal(t, "project 2 untouched", len(guids(2)), 6)
	n, err = s.PruneDeliveries(ctx, 1, 0, t0.Add(4*time.Hour))
	must(t, err)
	equal(t, "deleted by age", n, int64(2))
	equal(t, "project 1 after 4 h", guids(1), []string{"5", "4"})
	n, err = s.PruneDeliveries(ctx, 1, 10, t0)
	must(t, err)
	equal(t, "deleted within the limits", n, int64(0))

	// Every project: by age, then the newest keep of each.
	must(t, s.RecordDelivery(ctx, &store.Delivery{ProjectID: 3, Forge: "github", GUID: "old", Created: t0}))
	n, err = s.PruneDeliveries(ctx, 0, 3, t0.Add(time.Hour))
	must(t, err)
	equal(t, "deleted from every project", n, int64(4)) // project 2's 0 by age, its 1 and 2 by count, project 3's
	equal(t, "project 1", guids(1), []string{"5", "4"})
	equal(t, "project 2", guids(2), []string{"5", "4", "3"})
	equal(t, "project 3", len(guids(3)), 0)
}

func testArtifacts(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	_, jobs := newPipeline(t, s, p.ID, pending("a"), pending("b"))
	a := &store.Artifact{JobID: jobs[0].ID, Kind: "archive", Name: "a.zip", Size: 10, SHA256: "s1", Path: "a/1", ExpireAt: t0, Created: t0}
	junit := &store.Artifact{JobID: jobs[0].ID, Kind: "junit", Name: "junit.xml", Size: 3, Path: "a/2"}
	b := &store.Artifact{JobID: jobs[1].ID, Kind: "archive", Name: "b.zip", Path: "b/1", ExpireAt: t0.Add(time.Hour)}
	for _, x := range []*store.Artifact{a, junit, b} {
		must(t, s.AddArtifact(ctx, x))
	}
	a2 := &store.Artifact{JobID: jobs[0].ID, Kind: "archive", Name: "a2.zip", Size: 20, Path: "a/3", ExpireAt: t0.Add(time.Minute), Created: t0}
	must(t, s.AddArtifact(ctx, a2))
	got, err := s.ListArtifacts(ctx, jobs[0].ID)
	must(t, err)
	equal(t, "ListArtifacts", got, []*store.Artifact{a2, junit})
	wantErr(t, s.AddArtifact(ctx, &store.Artifact{JobID: jobs[1].ID + 100, Kind: "archive"}), store.ErrNotFound)

	exp, err := s.ExpireArtifacts(ctx, t0.Add(2*time.Minute))
	must(t, err)
	equal(t, "ExpireArtifacts", exp, []*store.Artifact{a2})
	got, err = s.ListArtifacts(ctx, jobs[0].ID)
	must(t, err)
	equal(t, "after expiry", got, []*store.Artifact{junit})
	exp, err = s.ExpireArtifacts(ctx, t0.Add(2*time.Hour))
	must(t, err)
	equal(t, "ExpireArtifacts later", exp, []*store.Artifact{b})
}

func testCaches(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	q := newProject(t, s, "q")
	a := &store.Cache{ProjectID: p.ID, Key: "deps", Size: 100, Used: t0.Add(2 * time.Minute)}
	aProt := &store.Cache{ProjectID: p.ID, Protected: true, Key: "deps", Size: 50, Used: t0}
	b := &store.Cache{ProjectID: p.ID, Key: "build", Size: 7, Used: t0.Add(time.Minute)}
	other := &store.Cache{ProjectID: q.ID, Key: "deps", Size: 1000, Used: t0}
	for _, c := range []*store.Cache{a, aProt, b, other} {
		must(t, s.PutCache(ctx, c))
	}
	wantErr(t, s.PutCache(ctx, &store.Cache{ProjectID: q.ID + 100, Key: "x", Used: t0}), store.ErrNotFound)
	usage := func(projectID int64, wantN int, wantSize int64) {
		t.Helper()
		n, size, err := s.CacheUsage(ctx, projectID)
		must(t, err)
		if n != wantN || size != wantSize {
			t.Fatalf("CacheUsage(%d) = %d caches, %d bytes; want %d, %d", projectID, n, size, wantN, wantSize)
		}
	}
	usage(p.ID, 3, 157)
	usage(0, 4, 1157)
	usage(q.ID+100, 0, 0)
	lru, err := s.LeastUsedCaches(ctx, p.ID, 0)
	must(t, err)
	equal(t, "LeastUsedCaches", lru, []*store.Cache{aProt, b, a})
	lru, err = s.LeastUsedCaches(ctx, p.ID, 2)
	must(t, err)
	equal(t, "LeastUsedCaches, limit 2", lru, []*store.Cache{aProt, b})

	// A new upload or a read replaces the record: its size and last use.
	aProt2 := &store.Cache{ProjectID: p.ID, Protected: true, Key: "deps", Size: 60, Used: t0.Add(3 * time.Minute)}
	must(t, s.PutCache(ctx, aProt2))
	usage(p.ID, 3, 167)
	lru, err = s.LeastUsedCaches(ctx, p.ID, 0)
	must(t, err)
	equal(t, "LeastUsedCaches after a use", lru, []*store.Cache{b, a, aProt2})

	must(t, s.DeleteCache(ctx, b))
	wantErr(t, s.DeleteCache(ctx, b), store.ErrNotFound)
	usage(p.ID, 2, 160)

	exp, err := s.ExpireCaches(ctx, t0.Add(150*time.Second))
	must(t, err)
	equal(t, "ExpireCaches", exp, []*store.Cache{other, a})
	usage(0, 1, 60)
	exp, err = s.ExpireCaches(ctx, t0.Add(150*time.Second))
	must(t, err)
	equal(t, "nothing more to expire", len(exp), 0)
}

func testDeletePipelines(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	mk := func(st status.Status, created time.Time) (*store.Pipeline, *store.Job) {
		pl := &store.Pipeline{ProjectID: p.ID, Status: st, Created: created}
		j := &store.Job{Name: "j", Status: st}
		must(t, s.CreatePipeline(ctx, pl, []*store.Job{j}))
		_, err := s.AppendLog(ctx, j.ID, 0, []byte("log"))
		must(t, err)
		must(t, s.AddArtifact(ctx, &store.Artifact{JobID: j.ID, Kind: "archive", Path: fmt.Sprint("art/", j.ID)}))
		must(t, s.AddArtifact(ctx, &store.Artifact{JobID: j.ID, Kind: "junit", Path: fmt.Sprint("junit/", j.ID)}))
		return pl, j
	}
	old, oldJob := mk(status.Success, t0)
	oldRunning, _ := mk(status.Running, t0)
	recent, _ := mk(status.Failed, t0.Add(time.Hour))
	paths, err := s.DeletePipelines(ctx, t0.Add(time.Minute))
	must(t, err)
	slices.Sort(paths)
	equal(t, "deleted paths", paths, []string{fmt.Sprint("art/", oldJob.ID), fmt.Sprint("junit/", oldJob.ID)})
	_, err = s.Pipeline(ctx, old.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Job(ctx, oldJob.ID)
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.ReadLog(ctx, oldJob.ID, 0, 0)
	wantErr(t, err, store.ErrNotFound)
	arts, err := s.ListArtifacts(ctx, oldJob.ID)
	must(t, err)
	equal(t, "artifacts of a deleted job", len(arts), 0)
	for _, kept := range []*store.Pipeline{oldRunning, recent} {
		_, err := s.Pipeline(ctx, kept.ID)
		must(t, err)
	}
	paths, err = s.DeletePipelines(ctx, t0.Add(time.Minute))
	must(t, err)
	equal(t, "nothing more to delete", len(paths), 0)
}

func testResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	steps := []struct {
		name    string
		acquire bool
		project int64
		group   string
		job     int64
		want    bool
	}{
		{"free", true, 1, "prod", 10, true},
		{"held by self", true, 1, "prod", 10, true},
		{"held by other", true, 1, "prod", 11, false},
		{"other group", true, 1, "staging", 11, true},
		{"other project", true, 2, "prod", 12, true},
		{"release by non-holder", false, 1, "prod", 11, false},
		{"still held", true, 1, "prod", 11, false},
		{"release", false, 1, "prod", 10, false},
		{"free again", true, 1, "prod", 11, true},
	}
	for _, st := range steps {
		if !st.acquire {
			must(t, s.ReleaseResource(ctx, st.project, st.group, st.job))
			continue
		}
		ok, err := s.AcquireResource(ctx, st.project, st.group, st.job)
		must(t, err)
		if ok != st.want {
			t.Fatalf("%s: AcquireResource = %v, want %v", st.name, ok, st.want)
		}
	}
}

func testResourcesConcurrent(t *testing.T, s store.Store) {
	const n = 16
	for round := range 5 {
		group := fmt.Sprint("g", round)
		won := make(chan int64, n)
		errs := make(chan error, n)
		for i := range n {
			go func() {
				ok, err := s.AcquireResource(context.Background(), 1, group, int64(i+1))
				if ok {
					won <- int64(i + 1)
				}
				errs <- err
			}()
		}
		for range n {
			must(t, <-errs)
		}
		close(won)
		var winners []int64
		for w := range won {
			winners = append(winners, w)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, winners)
		}
	}
}

func testCountAndList(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	retried := &store.Job{Name: "r", Status: status.Failed, Retried: true}
	_, jobs := newPipeline(t, s, p.ID, pending("a"), pending("b"), &store.Job{Name: "c", Status: status.Failed},
		retried, &store.Job{Name: "d", Status: status.Manual})
	n, err := s.CountJobs(ctx)
	must(t, err)
	equal(t, "CountJobs", n, map[status.Status]int{status.Pending: 2, status.Failed: 1, status.Manual: 1})
	js, err := s.JobsByStatus(ctx, status.Pending, 0)
	must(t, err)
	equal(t, "JobsByStatus", ids(js), ids(jobs[:2]))
	js, err = s.JobsByStatus(ctx, status.Pending, 1)
	must(t, err)
	equal(t, "JobsByStatus limit", ids(js), ids(jobs[:1]))
	js, err = s.JobsByStatus(ctx, status.Failed, 0)
	must(t, err)
	equal(t, "JobsByStatus without retried", ids(js), ids(jobs[2:3]))
}

func testVacuum(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	pl := &store.Pipeline{ProjectID: p.ID, Status: status.Success, Created: t0}
	j := &store.Job{Name: "j", Status: status.Success}
	must(t, s.CreatePipeline(ctx, pl, []*store.Job{j}))
	_, err := s.AppendLog(ctx, j.ID, 0, make([]byte, 1<<16))
	must(t, err)
	_, err = s.DeletePipelines(ctx, t0.Add(time.Hour))
	must(t, err)
	must(t, s.Vacuum(ctx))
	_, err = s.Project(ctx, p.ID)
	must(t, err)
}

// OpenConcurrent opens one database from several stores at once, as several processes would
// (open is called from as many goroutines): each migrates it or finds it migrated, each sees
// the others' rows, and one more open afterwards finds nothing to do.
func OpenConcurrent(t *testing.T, open func() (store.Store, error)) {
	const n = 6
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = open() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ctx := context.Background()
	if err := stores[0].CreateProject(ctx, &store.Project{Path: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].ProjectByPath(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
}

// Outage checks how s behaves while its database is down: stop takes the database down (s
// stays open), start brings it back. Meanwhile every call fails with store.ErrUnavailable —
// never ErrNotFound, which would read as "no such token" — and once the database is back,
// calls succeed again (the first ones may still fail with ErrUnavailable, on connections that
// broke).
func Outage(t *testing.T, s store.Store, stop, start func()) {
	ctx := context.Background()
	p := newProject(t, s, "p")
	pl, jobs := newPipeline(t, s, p.ID, pending("a"))
	must(t, s.CreateToken(ctx, &store.Token{Name: "admin", Kind: "admin", Hash: "h"}))
	calls := []struct {
		name string
		call func() error
	}{
		{"TokenByHash", func() error { _, err := s.TokenByHash(ctx, "h"); return err }},
		{"JobByTokenHash of no job", func() error {
			_, err := s.JobByTokenHash(ctx, "none")
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}},
		{"Project", func() error { _, err := s.Project(ctx, p.ID); return err }},
		{"UpdatePipeline", func() error {
			return s.UpdatePipeline(ctx, pl.ID, func(*store.Pipeline, *[]*store.Job) error { return nil })
		}},
		{"UpdateJob", func() error {
			return s.UpdateJob(ctx, jobs[0].ID, func(j *store.Job) error { j.Queued = time.Now(); return nil })
		}},
		{"AppendLog", func() error { _, err := s.AppendLog(ctx, jobs[0].ID, 0, []byte("x")); return err }},
		{"ExpiredJobs", func() error { _, err := s.ExpiredJobs(ctx, time.Now()); return err }},
		{"CountTokens", func() error { _, err := s.CountTokens(ctx, "admin"); return err }},
	}
	stop()
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s while the database is down: %v, want ErrUnavailable", c.name, err)
		}
	}
	start()
	for _, c := range calls {
		var err error
		for range 5 {
			if err = c.call(); !errors.Is(err, store.ErrUnavailable) {
				break
			}
		}
		if err != nil {
			t.Errorf("%s once the database is back: %v", c.name, err)
		}
	}
}
