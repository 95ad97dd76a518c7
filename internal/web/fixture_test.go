package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// now is the fixtures' clock.
var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func newSite(t testing.TB) *Site {
	t.Helper()
	s, err := New(Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// spec is a stored job spec with the fields the pages read.
func spec(t testing.TB, j *plan.Job) []byte {
	t.Helper()
	b, err := json.Marshal(jobapi.NewSpec(j))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// namedPage is a page fixture.
type namedPage struct {
	name string
	page Page
}

// fixtures are every page, with x in every string a user, a commit or a job controls (branch
// names, commit titles, job names, usernames, variable keys and values, URLs): "" gives the
// plain fixture of the goldens.
func fixtures(t testing.TB, x string) []namedPage {
	t.Helper()
	str := func(s string) string { return s + x }
	proj := &store.Project{ID: 7, Path: "acme/shop", Name: "shop", CloneURL: "https://bot:s3cret@git.example.com/acme/shop.git",
		DefaultBranch: "main", Created: now.Add(-72 * time.Hour)}
	l := Layout{User: str("alice"), Admin: true, CSRF: "csrf-token-1", Project: proj, CanRun: true, CanManage: true}
	signedIn := l
	signedIn.Project = nil
	cov := 87.5
	pl := &store.Pipeline{ID: 42, ProjectID: 7, IID: 12, Status: status.Running, Ref: str("feature/login"), SHA: "0123456789abcdef0123456789abcdef01234567",
		Source: "push", Message: str("Add the login form") + "\n\nLonger body.", AuthorName: str("Alice Doe"), Coverage: &cov,
		Vars:    map[string]string{str("DEPLOY"): "1"},
		Created: now.Add(-5 * time.Minute), Started: now.Add(-4 * time.Minute)}
	done := &store.Pipeline{ID: 41, ProjectID: 7, IID: 11, Status: status.Failed, Ref: "v1.2.0", Tag: true, SHA: "fedcba9876543210fedcba9876543210fedcba98",
		Source: "web", Message: "Release 1.2", AuthorName: "Bob", Created: now.Add(-26 * time.Hour), Started: now.Add(-26 * time.Hour),
		Finished: now.Add(-26*time.Hour + 3*time.Minute + 7*time.Second)}
	mr := &store.Pipeline{ID: 40, ProjectID: 7, IID: 10, Status: status.Success, Ref: "fix", MergeRequest: 9, SHA: "aaaaaaaabbbbbbbb",
		Source: "merge_request_event", Message: "Fix", Created: now.Add(-40 * 24 * time.Hour), Started: now.Add(-40 * 24 * time.Hour),
		Finished: now.Add(-40*24*time.Hour + 65*time.Second)}
	job := func(id int64, name, stage string, si, pos int, st status.Status, p *plan.Job) *store.Job {
		if p == nil {
			p = &plan.Job{}
		}
		p.Name, p.Stage, p.StageIndex = name, stage, si
		j := &store.Job{ID: id, PipelineID: 42, ProjectID: 7, Name: name, Stage: stage, StageIndex: si, Position: pos, Status: st,
			Attempt: 1, Spec: spec(t, p), Created: now.Add(-5 * time.Minute)}
		if st != status.Created && st != status.Manual {
			j.Queued, j.Started = now.Add(-4*time.Minute), now.Add(-4*time.Minute+3*time.Second)
		}
		if st.Final() {
			j.Finished = now.Add(-2 * time.Minute)
		}
		return j
	}
	build := job(100, str("build"), "build", 0, 0, status.Success, nil)
	lintJob := job(101, "lint", "build", 0, 1, status.Failed, &plan.Job{AllowFailure: true})
	oldTest := job(102, "test", "test", 1, 2, status.Failed, &plan.Job{Needs: []plan.Need{{Job: str("build")}}})
	oldTest.Retried = true
	test := job(105, "test", "test", 1, 2, status.Running, &plan.Job{Needs: []plan.Need{{Job: str("build")}}})
	test.Attempt = 2
	unit := job(103, "unit", "test", 1, 3, status.Pending, &plan.Job{Needs: []plan.Need{{Job: str("build")}, {Job: "test"}}})
	deploy := job(104, "deploy", "deploy", 2, 4, status.Manual, &plan.Job{When: "manual", Needs: []plan.Need{{Job: "test"}}})
	jobs := []*store.Job{build, lintJob, oldTest, test, unit, deploy}
	graph := newSite(t).NewGraph(jobs)
	jobSpec := &plan.Job{Name: "test", Stage: "test", AllowFailure: true,
		Image:       &pipeline.Image{Name: str("golang:1.26")},
		Services:    []pipeline.Service{{Image: pipeline.Image{Name: "postgres:16"}, Alias: str("db")}},
		Environment: &pipeline.Environment{Name: str("staging"), URL: "https://staging.example.com"}}
	if x != "" {
		jobSpec.Environment.URL = "javascript:alert(1)//" + x
	}
	reason := NewReason(plan.Reason{Clause: "rules[1]", Text: str("rules[1] matched"), Where: ".gitlab-ci.yml:12:7",
		Vars:   []string{"CI_COMMIT_BRANCH", str("TOKEN"), "MISSING"},
		Values: map[string]string{"CI_COMMIT_BRANCH": str("feature/login"), str("TOKEN"): "hunter2"}},
		func(n string) bool { return n == str("TOKEN") })
	runner := &store.Runner{ID: 3, Name: str("builder-1"), Tags: []string{str("docker"), "linux"}, Executor: "docker", LastSeen: now.Add(-20 * time.Second)}
	return []namedPage{
		{"login", Login{Next: "/acme/shop", Username: str("alice"), Error: "Invalid username or password."}},
		{"dashboard", Dashboard{Layout: signedIn, CanCreate: true, Projects: []ProjectSummary{
			{Project: proj, Last: pl},
			{Project: &store.Project{ID: 8, Path: "acme/api", DefaultBranch: str("trunk")}, Last: done},
			{Project: &store.Project{ID: 9, Path: "acme/docs", DefaultBranch: "main"}},
		}, New: NewProject{Path: "acme/new", CloneURL: str("https://git.example.com/x.git"), Error: str("path taken")}}},
		{"project_created", ProjectCreated{Layout: l, BaseURL: "https://ci.example.com", Secret: str("0f3a9c")}},
		{"pipelines", Pipelines{Layout: l, Filter: PipelineFilter{Ref: str("feature/login"), Status: "running"},
			Rows:  []PipelineRow{{Path: proj.Path, Pipeline: pl}, {Path: proj.Path, Pipeline: done}, {Path: proj.Path, Pipeline: mr}},
			Older: 40, Paged: true, Run: RunForm{Ref: str("main"), Vars: []KeyValue{{Key: str("KEY"), Value: str("value")}}}}},
		{"pipeline", Pipeline{Layout: l, Pipeline: pl, Graph: graph,
			Variables: []PipelineVar{{Key: str("DEPLOY"), Value: str("1")}, {Key: "SECRET", Value: "hunter2", Masked: true}},
			Parent:    done, Children: []*store.Pipeline{mr}}},
		{"job", Job{Layout: l, Pipeline: pl, Job: test, Spec: jobSpec, Runner: runner, Attempts: []*store.Job{oldTest},
			Archive: &store.Artifact{JobID: 105, Kind: "archive", Size: 2 << 20, ExpireAt: now.Add(30 * 24 * time.Hour)},
			Files:   []ArtifactFile{{Path: str("coverage/index.html"), Size: 2048}, {Path: "bin/shop", Size: 5 << 20}},
			JUnit: &JUnit{Tests: 12, Failures: 1, Skipped: 2, Failed: []TestFailure{{Name: str("TestLogin"),
				Message: str("expected 200, got 500")}}},
			Reason: reason, Log: template.HTML(`<div class="log">$ go test</div>`), LogScripts: []string{"/-/assets/log.js"}}},
		{"settings", Settings{Layout: l, BaseURL: "https://ci.example.com", Visibility: "private", Retention: 90 * 24 * time.Hour,
			Variables: []*store.Variable{{Key: str("DB_URL"), Value: str("postgres://db"), Protected: true, Environment: "*"},
				{Key: "TOKEN", Value: "hunter2", Masked: true, Environment: str("production")},
				{Key: "KUBECONFIG", Value: "apiVersion: v1", File: true}},
			Schedules: []*store.Schedule{{ID: 1, Description: str("nightly"), Cron: "0 3 * * *", Timezone: "Europe/Paris",
				Ref: str("main"), Active: true, NextRun: now.Add(17 * time.Hour)}},
			Members: []Member{{Username: str("alice"), Role: "maintainer"}, {Username: "bob", Role: "developer"}}}},
		{"admin_runners", AdminRunners{Layout: signedIn, BaseURL: "https://ci.example.com", NewToken: str("reg-token"), Runners: []RunnerRow{
			{Runner: runner, Online: true, Version: str("1.4.0"), Job: test, Path: proj.Path},
			{Runner: &store.Runner{ID: 4, Name: "old", RunUntagged: true, Executor: "shell", LastSeen: now.Add(-3 * time.Hour)}, Paused: true},
		}}},
		{"admin_users", AdminUsers{Layout: signedIn, Username: str("carol"), Error: str("username taken"), Users: []UserRow{
			{Username: "admin", Admin: true, Created: now.Add(-100 * time.Hour)},
			{Username: str("alice"), Created: now.Add(-50 * time.Hour)},
			{Username: "mallory", Disabled: true, Created: now.Add(-10 * time.Hour)},
		}}},
		{"profile_tokens", ProfileTokens{Layout: signedIn, NewToken: str("slw_abc"), Tokens: []*store.Token{
			{ID: 5, Name: str("laptop"), Kind: "user", Created: now.Add(-48 * time.Hour), LastUsed: now.Add(-1 * time.Hour)},
			{ID: 6, Name: "ci", Kind: "user", Created: now.Add(-24 * time.Hour)},
		}}},
		{"lint", Lint{Layout: signedIn, YAML: "stages: [build]\n" + x, Ref: str("main"), Checked: true,
			Errors:   []string{".gitlab-ci.yml:3:5: " + str("unknown key")},
			Warnings: []string{".gitlab-ci.yml:9:1: " + str("job has no script")},
			Jobs:     []LintJob{{Name: str("build"), Stage: "build", When: "on_success", Reason: "rules[0] matched", Where: ".gitlab-ci.yml:4:5"}},
			Excluded: []LintJob{{Name: "deploy", Stage: "deploy", When: "never", Reason: str("no rule matched")}}}},
		{"error", ErrorPage{Layout: signedIn, Status: 404, Title: "Not Found", Message: fmt.Sprint("The page does not exist, or you may not see it.", x)}},
	}
}
