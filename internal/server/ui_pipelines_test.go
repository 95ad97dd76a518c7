package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// pipelinesCI is a pipeline with a needs edge, a job allowed to fail, a manual job, a job that
// fails, and a job whose name is hostile.
const pipelinesCI = `
stages: [build, test, deploy]
build:
  stage: build
  script: echo build
"<script>alert(1)</script> \" onerror=alert(1) x=\"":
  stage: test
  needs: [build]
  script: echo evil
flaky:
  stage: test
  allow_failure: true
  script: exit 1
deploy:
  stage: deploy
  needs: []
  when: manual
  script: echo deploy
`

// Hostile strings that must come out of every page inert.
const (
	hostileTag  = `<script>alert(1)</script>`
	hostileAttr = `" onerror=alert(1) x="`
)

// pipelinesEnv is a server with a private project slipway/web that has one pipeline of pipelinesCI on
// main, and signed-in users of each role (and one outside it).
type pipelinesEnv struct {
	*env
	pid      int64
	pipeline pipelineJSON
	path     string // /slipway/web
	// Session cookies.
	outsider, reporter, developer, admin string
}

func newPipelinesEnv(t *testing.T, ci string, opt ...func(*Options)) *pipelinesEnv {
	t.Helper()
	e := &pipelinesEnv{env: newEnv(t, ci, opt...), path: "/slipway/web"}
	e.pid = e.project("web", "")
	e.pipeline = e.pipelineOf(e.trigger(e.pid, "main", nil).ID)
	for _, u := range []struct {
		name, role string
		admin      bool
		cookie     *string
	}{{"outsider", "", false, &e.outsider}, {"rep", "reporter", false, &e.reporter}, {"dev", "developer", false, &e.developer}, {"root", "", true, &e.admin}} {
		uid := e.user(u.name, "password-"+u.name, u.admin)
		if u.role != "" {
			e.member(e.pid, uid, u.role)
		}
		*u.cookie = e.login(u.name, "password-"+u.name)
	}
	return e
}

// pipelineOf reads a pipeline with its jobs.
func (e *pipelinesEnv) pipelineOf(id int64) pipelineJSON { e.t.Helper(); return e.env.pipeline(id) }

// post sends a page form with the session's CSRF token.
func (e *pipelinesEnv) post(path, cookie string, values url.Values) *reply {
	e.t.Helper()
	if values == nil {
		values = url.Values{}
	}
	values.Set("csrf", e.viewer(cookie).csrf)
	return e.form(path, cookie, values, nil)
}

func (e *pipelinesEnv) pipelinePath(id int64) string {
	return fmt.Sprintf("%s/-/pipelines/%d", e.path, id)
}
func (e *pipelinesEnv) jobPath(id int64) string { return fmt.Sprintf("%s/-/jobs/%d", e.path, id) }

// wantPage checks a reply's status and that its body holds each of texts.
func wantPage(t *testing.T, what string, r *reply, code int, texts ...string) {
	t.Helper()
	if r.status != code {
		t.Fatalf("%s: got %s, want %d", what, r, code)
	}
	for _, x := range texts {
		if !strings.Contains(string(r.body), x) {
			t.Errorf("%s: the page lacks %q:\n%s", what, x, r.body)
		}
	}
}

func TestPipelinePagesRender(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, pipelinesCI)
	pl := e.pipeline
	deploy := pl.job("deploy")
	tests := []struct {
		name, path string
		texts      []string
	}{
		{"dashboard", "/", []string{`href="/slipway/web"`, "slipway/web", "Build", `action="/-/projects"`}},
		{"pipelines", e.path, []string{fmt.Sprintf(`id="pipeline-%d"`, pl.ID), "Ada Lovelace", "first commit", "Run pipeline",
			`action="/slipway/web/-/pipelines"`, fmt.Sprintf("#%d", pl.ID)}},
		{"pipeline", e.pipelinePath(pl.ID), []string{"Pipeline #", "build", "flaky", "may fail", "needs 1", `<svg class="edges"`,
			fmt.Sprintf(`action="%s/play"`, e.jobPath(deploy.ID)), "Cancel pipeline", "first commit", `aria-label="Stage deploy"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.getWithCookie(tt.path, e.developer)
			wantPage(t, tt.name, r, http.StatusOK, tt.texts...)
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("%s: CSP %q", tt.name, csp)
			}
		})
	}
	// A reporter reads them without the buttons.
	r := e.getWithCookie(e.pipelinePath(pl.ID), e.reporter)
	wantPage(t, "pipeline for a reporter", r, http.StatusOK, "build")
	for _, x := range []string{"Cancel pipeline", "/play", "Run pipeline"} {
		if strings.Contains(string(r.body), x) {
			t.Errorf("a reporter's pipeline page offers %q", x)
		}
	}
	// The dashboard lists only the projects its viewer reads.
	if r := e.getWithCookie("/", e.outsider); r.status != http.StatusOK || strings.Contains(string(r.body), "slipway/web") {
		t.Errorf("an outsider's dashboard: %s", r)
	}
}

func TestPipelinePagesSignedOutRedirect(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	for _, path := range []string{"/", e.path, e.path + "?status=failed", e.pipelinePath(e.pipeline.ID),
		e.pipelinePath(e.pipeline.ID) + "/events", e.path + "/-/pipelines/events?id=1"} {
		r := e.getWithCookie(path, "")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s signed out: %d to %q", path, r.status, r.header.Get("Location"))
		}
	}
}

// pipelineActions are every page and form of a project of this file, for pipeline pl and
// job j.
func (e *pipelinesEnv) pipelineActions(path string, pl, j int64) []struct{ method, path string } {
	p := fmt.Sprintf("%s/-/pipelines/%d", path, pl)
	jp := fmt.Sprintf("%s/-/jobs/%d", path, j)
	return []struct{ method, path string }{
		{"GET", path},
		{"GET", path + "/-/pipelines/events?id=" + fmt.Sprint(pl)},
		{"GET", p},
		{"GET", p + "/events"},
		{"POST", path + "/-/pipelines"},
		{"POST", p + "/retry"},
		{"POST", p + "/cancel"},
		{"POST", jp + "/play"},
		{"POST", jp + "/retry"},
		{"POST", jp + "/cancel"},
	}
}

// TestAttackNonMemberOpensPrivatePipelinePages: a signed-in user outside a private project
// opens its pages and posts its forms (with a good CSRF token): each answer is the 404 of
// a project that does not exist, word for word.
func TestAttackNonMemberOpensPrivatePipelinePages(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	pl, j := e.pipeline.ID, e.pipeline.Jobs[0].ID
	missing := e.pipelineActions("/nobody/nothing", pl, j)
	for i, a := range e.pipelineActions(e.path, pl, j) {
		do := func(path string) *reply {
			if a.method == "GET" {
				return e.getWithCookie(path, e.outsider)
			}
			return e.post(path, e.outsider, url.Values{"ref": {"main"}})
		}
		got, none := do(a.path), do(missing[i].path)
		if got.status != http.StatusNotFound || none.status != http.StatusNotFound || string(got.body) != string(none.body) {
			t.Errorf("%s %s as an outsider: %s\nnonexistent project: %s", a.method, a.path, got, none)
		}
	}
	if n := len(e.pipelines(e.pid)); n != 1 {
		t.Errorf("the outsider's forms made pipelines: %d", n)
	}
}

// TestAttackPipelineIDOfAnotherProject: a developer of two projects names, in the URL of one,
// a pipeline or job of the other: 404, and nothing happens to it.
func TestAttackPipelineIDOfAnotherProject(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	other := e.project("other", "")
	dev, err := e.srv.store.UserByName(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	e.member(other, dev.ID, "developer")
	opl := e.pipelineOf(e.trigger(other, "main", nil).ID)
	for _, a := range e.pipelineActions(e.path, opl.ID, opl.Jobs[0].ID) {
		if !strings.Contains(a.path, "/-/pipelines/") && !strings.Contains(a.path, "/-/jobs/") || strings.Contains(a.path, "events?") {
			continue
		}
		var r *reply
		if a.method == "GET" {
			r = e.getWithCookie(a.path, e.developer)
		} else {
			r = e.post(a.path, e.developer, nil)
		}
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s (a pipeline of another project): %s", a.method, a.path, r)
		}
	}
	if st := e.pipelineOf(opl.ID).Status; st.Final() {
		t.Errorf("the other project's pipeline is %s", st)
	}
	// Its rows are left out of this project's live list.
	s := e.openPageStream(e.path+"/-/pipelines/events?id="+fmt.Sprint(opl.ID), e.developer)
	if ev, err := s.next(); err != nil || ev.event != "end" {
		t.Errorf("live rows of another project's pipeline: %+v %v", ev, err)
	}
}

func TestAttackReporterCannotActOnPipelinePages(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	for _, a := range e.pipelineActions(e.path, e.pipeline.ID, e.pipeline.Jobs[0].ID) {
		if a.method != "POST" {
			continue
		}
		if r := e.post(a.path, e.reporter, url.Values{"ref": {"main"}}); r.status != http.StatusForbidden {
			t.Errorf("POST %s as a reporter: %s", a.path, r)
		}
	}
	if n := len(e.pipelines(e.pid)); n != 1 {
		t.Errorf("the reporter's forms made pipelines: %d", n)
	}
	if st := e.pipelineOf(e.pipeline.ID).Status; st.Final() {
		t.Errorf("the reporter canceled the pipeline: %s", st)
	}
}

func TestAttackPipelineFormsWithoutCSRF(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	csrf := e.viewer(e.developer).csrf
	for _, a := range e.pipelineActions(e.path, e.pipeline.ID, e.pipeline.Jobs[0].ID) {
		if a.method != "POST" {
			continue
		}
		for _, tok := range []string{"", "x" + csrf[1:]} {
			r := e.form(a.path, e.developer, url.Values{"ref": {"main"}, "csrf": {tok}}, nil)
			if r.status != http.StatusForbidden {
				t.Errorf("POST %s with CSRF token %q: %s", a.path, tok, r)
			}
		}
	}
	if r := e.form("/-/projects", e.developer, url.Values{"path": {"a/b"}, "clone_url": {"https://example.com/x.git"}}, nil); r.status != http.StatusForbidden {
		t.Errorf("POST /-/projects without a CSRF token: %s", r)
	}
	if n := len(e.pipelines(e.pid)); n != 1 {
		t.Errorf("forms without a CSRF token made pipelines: %d", n)
	}
	if st := e.pipelineOf(e.pipeline.ID).Status; st.Final() {
		t.Errorf("a form without a CSRF token canceled the pipeline: %s", st)
	}
}

// TestAttackHostileStringsInPipelinePages: a branch name, a commit message and a job name
// holding markup come out of every page and live event escaped.
func TestAttackHostileStringsInPipelinePages(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, pipelinesCI)
	branch := `x"onerror=alert(1)"` + hostileTag
	e.git("checkout", "-q", "-b", branch)
	e.commit(map[string]string{"f": "1"}, "evil "+hostileTag+hostileAttr)
	pl := e.trigger(e.pid, branch, nil)
	pages := map[string]*reply{
		"pipelines": e.getWithCookie(e.path, e.developer),
		"pipeline":  e.getWithCookie(e.pipelinePath(pl.ID), e.developer),
		"filtered":  e.getWithCookie(e.path+"?ref="+url.QueryEscape(branch), e.developer),
	}
	s := e.openPageStream(e.pipelinePath(pl.ID)+"/events", e.developer)
	ev, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	var live struct{ HTML string }
	if err := json.Unmarshal([]byte(ev.data), &live); err != nil {
		t.Fatal(err)
	}
	pages["live pipeline"] = &reply{status: http.StatusOK, body: []byte(live.HTML)}
	rows := e.openPageStream(fmt.Sprintf("%s/-/pipelines/events?id=%d", e.path, pl.ID), e.developer)
	if ev, err = rows.next(); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(ev.data), &live); err != nil {
		t.Fatal(err)
	}
	pages["live row"] = &reply{status: http.StatusOK, body: []byte(live.HTML)}
	for name, r := range pages {
		wantPage(t, name, r, http.StatusOK, "&lt;script&gt;alert(1)&lt;/script&gt;", "onerror=alert(1)")
		body := string(r.body)
		for _, raw := range []string{hostileTag, `"onerror=alert(1)"`, hostileAttr} {
			if strings.Contains(body, raw) {
				t.Errorf("%s holds %q unescaped", name, raw)
			}
		}
	}
	if !strings.Contains(string(pages["pipeline"].body), "&#34; onerror=alert(1) x=&#34;") {
		t.Errorf("the job name is not on the pipeline page:\n%s", pages["pipeline"].body)
	}
}

func TestPipelineForms(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, pipelinesCI)
	pl := e.pipeline
	// Run pipeline: on to the new pipeline's page, with its variables.
	r := e.post(e.path+"/-/pipelines", e.developer, url.Values{"ref": {"main"}, "var_key": {"GREETING", ""}, "var_value": {"hello", "ignored"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("run pipeline: %s", r)
	}
	var runID int64
	if _, err := fmt.Sscanf(r.header.Get("Location"), e.path+"/-/pipelines/%d", &runID); err != nil {
		t.Fatalf("run pipeline went to %q", r.header.Get("Location"))
	}
	var run struct {
		Source string            `json:"source"`
		Vars   map[string]string `json:"variables"`
	}
	e.api("GET", fmt.Sprint("/api/v1/pipelines/", runID), nil, http.StatusOK, &run)
	if run.Source != "web" || len(run.Vars) != 1 || run.Vars["GREETING"] != "hello" {
		t.Errorf("the form's pipeline: %+v", run)
	}
	wantPage(t, "new pipeline", e.getWithCookie(e.pipelinePath(runID), e.developer), http.StatusOK, "GREETING", "hello")
	// Refused runs come back to the form with the reason.
	for _, tt := range []struct {
		values url.Values
		code   int
		text   string
	}{
		{url.Values{"ref": {"no-such-branch"}}, http.StatusBadRequest, "no such branch or tag"},
		{url.Values{"ref": {"main"}, "var_key": {"BAD KEY"}, "var_value": {"x"}}, http.StatusBadRequest, "letters, digits and _ only"},
		{url.Values{"ref": {"main"}, "var_key": {"A", "A"}, "var_value": {"1", "2"}}, http.StatusBadRequest, "given twice"},
	} {
		r := e.post(e.path+"/-/pipelines", e.developer, tt.values)
		wantPage(t, fmt.Sprint("run ", tt.values), r, tt.code, tt.text, `role="alert"`, "Run pipeline")
	}

	// Play the manual job: back to the pipeline, the job queued.
	deploy := pl.job("deploy")
	r = e.post(e.jobPath(deploy.ID)+"/play", e.developer, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != e.pipelinePath(pl.ID) {
		t.Fatalf("play: %s to %q", r, r.header.Get("Location"))
	}
	if st := e.pipelineOf(pl.ID).job("deploy").Status; st == status.Manual {
		t.Errorf("deploy after play: %s", st)
	}
	if r := e.post(e.jobPath(deploy.ID)+"/play", e.developer, nil); r.status != http.StatusConflict {
		t.Errorf("play a job that is no longer manual: %s", r)
	}
	// Fail flaky, then retry it: on to the new attempt's page.
	rt := e.mustRegister("r1")
	job := e.claim(rt, "build")
	e.finish(job, status.Success)
	eventually(t, 10*time.Second, func() (bool, string) {
		st := e.pipelineOf(pl.ID).job("flaky").Status
		return st == status.Pending, string(st)
	})
	// Claims come in queue order: finish what comes until flaky failed (allowed to: a
	// warning).
	for e.pipelineOf(pl.ID).job("flaky").Status != status.Warning {
		j, err := e.request(rt)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			continue
		}
		st := status.Success
		if j.Spec.Name == "flaky" {
			st = status.Failed
		}
		e.finish(j, st)
	}
	flaky := e.pipelineOf(pl.ID).job("flaky")
	r = e.post(e.jobPath(flaky.ID)+"/retry", e.developer, nil)
	next := e.pipelineOf(pl.ID).job("flaky")
	if r.status != http.StatusSeeOther || next.ID == flaky.ID || r.header.Get("Location") != e.jobPath(next.ID) {
		t.Fatalf("retry: %s to %q (new attempt %d)", r, r.header.Get("Location"), next.ID)
	}
	// Cancel a job: back to the pipeline.
	r = e.post(e.jobPath(next.ID)+"/cancel", e.developer, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != e.pipelinePath(pl.ID) {
		t.Fatalf("cancel job: %s", r)
	}
	if st := e.pipelineOf(pl.ID).job("flaky").Status; st != status.Canceled {
		t.Errorf("flaky after cancel: %s", st)
	}
	// Cancel the pipeline.
	r = e.post(e.pipelinePath(pl.ID)+"/cancel", e.developer, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != e.pipelinePath(pl.ID) {
		t.Fatalf("cancel pipeline: %s", r)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		st := e.pipelineOf(pl.ID).Status
		return st.Final(), string(st)
	})
}

// TestAttackRunPipelineFormFlood: the "Run pipeline" form shares the API's rate limit: past
// it, the form comes back with a 429 that says which limit and when to try again.
func TestAttackRunPipelineFormFlood(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob, func(o *Options) { o.Limits.PipelineRate = 2 }) // one made by newPipelinesEnv
	if r := e.post(e.path+"/-/pipelines", e.developer, url.Values{"ref": {"main"}}); r.status != http.StatusSeeOther {
		t.Fatalf("first run: %s", r)
	}
	r := e.post(e.path+"/-/pipelines", e.developer, url.Values{"ref": {"main"}})
	wantPage(t, "run past the limit", r, http.StatusTooManyRequests, "--max-pipeline-rate", `role="alert"`)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if n := len(e.pipelines(e.pid)); n != 2 {
		t.Errorf("%d pipelines, want 2", n)
	}
}

func TestRetryFailedJobsForm(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, `
a:
  script: exit 1
b:
  script: exit 1
c:
  script: echo
`)
	pl := e.pipeline
	if r := e.post(e.pipelinePath(pl.ID)+"/retry", e.developer, nil); r.status != http.StatusConflict {
		t.Errorf("retry a pipeline without a failed job: %s", r)
	}
	rt := e.mustRegister("r1")
	for range 3 {
		j := e.claimAny(rt)
		st := status.Success
		if j.Spec.Name != "c" {
			st = status.Failed
		}
		e.finish(j, st)
	}
	e.waitPipeline(pl.ID, status.Failed)
	wantPage(t, "failed pipeline", e.getWithCookie(e.pipelinePath(pl.ID), e.developer), http.StatusOK, "Retry failed jobs (2)")
	r := e.post(e.pipelinePath(pl.ID)+"/retry", e.developer, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != e.pipelinePath(pl.ID) {
		t.Fatalf("retry failed jobs: %s", r)
	}
	got := e.pipelineOf(pl.ID)
	if len(got.Retried) != 2 || got.job("a").Attempt != 2 || got.job("b").Attempt != 2 || got.job("c").Attempt != 1 {
		t.Errorf("after retry failed jobs: %+v retried %+v", got.Jobs, got.Retried)
	}
}

// claimAny requests jobs until one comes.
func (e *env) claimAny(runnerToken string) *jobapi.Job {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		j, err := e.request(runnerToken)
		if err != nil {
			e.t.Fatal(err)
		}
		if j != nil {
			return j
		}
	}
	e.t.Fatal("no job came within 10 s")
	return nil
}

func TestPipelinesFilterAndPages(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	ctx := context.Background()
	// 25 more pipelines, straight into the store: every fifth on dev, every third failed,
	// every other from the web.
	for i := range 25 {
		pl := &store.Pipeline{ProjectID: e.pid, Ref: "main", Status: status.Success, Source: "push", SHA: "0123456789abcdef",
			Message: fmt.Sprintf("commit %d", i)}
		if i%5 == 0 {
			pl.Ref = "dev"
		}
		if i%3 == 0 {
			pl.Status = status.Failed
		}
		if i%2 == 0 {
			pl.Source = "web"
		}
		if err := e.srv.store.CreatePipeline(ctx, pl, nil); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(r *reply) int { return strings.Count(string(r.body), `<tr id="pipeline-`) }
	first := e.getWithCookie(e.path, e.reporter)
	wantPage(t, "first page", first, http.StatusOK, "Older")
	if n := rows(first); n != pipelinesPerPage {
		t.Errorf("first page: %d rows", n)
	}
	all := e.pipelines(e.pid)
	older := all[pipelinesPerPage-1].ID
	if !strings.Contains(string(first.body), fmt.Sprintf("before=%d", older)) {
		t.Errorf("first page links no older page before %d", older)
	}
	second := e.getWithCookie(fmt.Sprintf("%s?before=%d", e.path, older), e.reporter)
	wantPage(t, "second page", second, http.StatusOK, "Newest")
	if n := rows(second); n != 26-pipelinesPerPage || strings.Contains(string(second.body), "Older") {
		t.Errorf("second page: %d rows", n)
	}
	for _, tt := range []struct {
		query string
		rows  int
	}{
		{"ref=dev", 5},
		{"status=failed", 9},
		{"source=web", 13},
		{"ref=dev&status=failed&source=web", 1},
		{"ref=nothing", 0},
	} {
		r := e.getWithCookie(e.path+"?"+tt.query, e.reporter)
		if r.status != http.StatusOK || rows(r) != tt.rows {
			t.Errorf("?%s: %d with %d rows, want %d", tt.query, r.status, rows(r), tt.rows)
		}
	}
	for _, q := range []string{"status=bogus", "source=bogus", "before=abc", "before=-1", "before=99999999999999999999",
		"ref=" + strings.Repeat("x", maxRefFilter+1)} {
		r := e.getWithCookie(e.path+"?"+q, e.reporter)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "<html") {
			t.Errorf("?%.40s: %d, want the 400 page", q, r.status)
		}
	}
	for _, q := range []string{"id=abc", "id=0", strings.Repeat("id=1&", pipelinesPerPage+1)} {
		if r := e.getWithCookie(e.path+"/-/pipelines/events?"+q, e.reporter); r.status != http.StatusBadRequest {
			t.Errorf("live rows ?%.40s: %s", q, r)
		}
	}
}

func TestDashboardNewProject(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	r := e.post("/-/projects", e.developer, url.Values{"path": {"team/app"}, "clone_url": {"https://git.example.com/team/app.git"}, "default_branch": {"trunk"}})
	wantPage(t, "new project", r, http.StatusCreated, "Project created", "https://git.example.com/team/app.git")
	ctx := context.Background()
	p, err := e.srv.store.ProjectByPath(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultBranch != "trunk" || p.Visibility != store.VisibilityPrivate || len(p.WebhookSecret) < 20 {
		t.Errorf("new project %+v", p)
	}
	for _, forge := range []string{"github", "gitlab", "gitea"} {
		wantPage(t, "webhooks", r, http.StatusCreated, fmt.Sprintf("%s/hooks/%s/%d", e.url, forge, p.ID))
	}
	wantPage(t, "secret", r, http.StatusCreated, p.WebhookSecret)
	dev, err := e.srv.store.UserByName(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := e.srv.store.Member(ctx, p.ID, dev.ID); err != nil || m.Role != store.RoleMaintainer {
		t.Errorf("the creator's membership: %+v %v", m, err)
	}
	wantPage(t, "dashboard", e.getWithCookie("/", e.developer), http.StatusOK, "team/app", "no pipeline")
	// Refused forms come back with their values and why.
	for _, tt := range []struct {
		cookie string
		values url.Values
		code   int
		text   string
	}{
		{e.developer, url.Values{"path": {"team/app"}, "clone_url": {"https://git.example.com/x.git"}}, http.StatusConflict, "already exists"},
		{e.developer, url.Values{"path": {"no-slash"}, "clone_url": {"https://git.example.com/x.git"}}, http.StatusBadRequest, "want namespace/name"},
		{e.developer, url.Values{"path": {"team/local"}, "clone_url": {e.repo}}, http.StatusBadRequest, "for admins only"},
		{e.developer, url.Values{"path": {"team/file"}, "clone_url": {"file:///etc"}}, http.StatusBadRequest, "for admins only"},
	} {
		r := e.post("/-/projects", tt.cookie, tt.values)
		wantPage(t, fmt.Sprint(tt.values), r, tt.code, tt.text, `value="`+tt.values.Get("clone_url")+`"`)
	}
	// An admin may build a repository of the server's host.
	wantPage(t, "admin's local project", e.post("/-/projects", e.admin, url.Values{"path": {"team/local"}, "clone_url": {e.repo}}), http.StatusCreated)
}

func TestPipelinePageVariablesAndChildren(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/DEPLOY_TOKEN", e.pid), map[string]any{"value": "project-secret-1", "masked": true}, http.StatusNoContent, nil)
	pl := e.trigger(e.pid, "main", map[string]string{"DEPLOY_TOKEN": "given-secret-2", "COPY": "project-secret-1", "PLAIN": "plain-value"})
	r := e.getWithCookie(e.pipelinePath(pl.ID), e.reporter)
	wantPage(t, "variables", r, http.StatusOK, "DEPLOY_TOKEN", "COPY", "PLAIN", "plain-value", "masked")
	for _, secret := range []string{"given-secret-2", "project-secret-1"} {
		if strings.Contains(string(r.body), secret) {
			t.Errorf("the pipeline page shows the masked value %q", secret)
		}
	}
	// A pipeline a job of this one made is its child; the child links its parent.
	child := &store.Pipeline{ProjectID: e.pid, Ref: "main", Status: status.Running, Source: "pipeline", ParentID: pl.ID, Depth: 1}
	if err := e.srv.store.CreatePipeline(context.Background(), child, nil); err != nil {
		t.Fatal(err)
	}
	wantPage(t, "parent", e.getWithCookie(e.pipelinePath(pl.ID), e.reporter), http.StatusOK,
		"Related pipelines", fmt.Sprintf(`Child: <a href="%s">#%d</a>`, e.pipelinePath(child.ID), child.ID))
	wantPage(t, "child", e.getWithCookie(e.pipelinePath(child.ID), e.reporter), http.StatusOK,
		fmt.Sprintf(`Parent: <a href="%s">#%d</a>`, e.pipelinePath(pl.ID), pl.ID))
}

// openPageStream opens a live page's event stream with a session cookie.
func (e *env) openPageStream(path, cookie string) *sseStream {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	resp, err := e.hc.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		cancel()
		e.t.Fatalf("stream %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{t: e.t, body: resp.Body, br: bufio.NewReader(resp.Body), cancel: cancel}
	e.t.Cleanup(s.close)
	return s
}

// replaced reads the next event, a replace of target, and returns its HTML.
func (s *sseStream) replaced(target string) string {
	s.t.Helper()
	ev, err := s.next()
	if err != nil {
		s.t.Fatalf("read event: %v", err)
	}
	var data struct{ Target, HTML string }
	if ev.event != "replace" || json.Unmarshal([]byte(ev.data), &data) != nil || data.Target != target {
		s.t.Fatalf("event %+v, want a replace of %s", ev, target)
	}
	return data.HTML
}

// until reads replaces of target until one holds text, and returns it: a change may come
// in steps (a job ends, then its pipeline).
func (s *sseStream) until(target, text string) string {
	s.t.Helper()
	for {
		if h := s.replaced(target); strings.Contains(h, text) {
			return h
		}
	}
}

func TestPipelineEventsLive(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	pl := e.pipeline
	row := fmt.Sprintf("pipeline-%d", pl.ID)
	s := e.openPageStream(e.pipelinePath(pl.ID)+"/events", e.reporter)
	rows := e.openPageStream(fmt.Sprintf("%s/-/pipelines/events?id=%d", e.path, pl.ID), e.reporter)
	if h := s.replaced("pipeline-live"); !strings.Contains(h, "status-pending") {
		t.Fatalf("first event: %s", h)
	}
	if h := rows.replaced(row); !strings.Contains(h, "status-pending") {
		t.Fatalf("first row: %s", h)
	}
	rt := e.mustRegister("r1")
	j := e.claim(rt, "build")
	s.until("pipeline-live", "status-running")
	rows.until(row, "status-running")
	e.finish(j, status.Success)
	if h := s.until("pipeline-live", `<h1><span class="status status-success">`); strings.Contains(h, "data-live") {
		t.Errorf("the final state still listens: %s", h)
	}
	if h := rows.until(row, "status-success"); strings.Contains(h, "data-live-id") {
		t.Errorf("the final row still listens: %s", h)
	}
	for name, st := range map[string]*sseStream{"pipeline": s, "rows": rows} {
		if ev, err := st.next(); err != nil || ev.event != "end" {
			t.Fatalf("%s stream: %+v %v, want the end", name, ev, err)
		}
	}
	// A final pipeline's stream sends its state and ends.
	s = e.openPageStream(e.pipelinePath(pl.ID)+"/events", e.reporter)
	s.replaced("pipeline-live")
	if ev, err := s.next(); err != nil || ev.event != "end" {
		t.Fatalf("stream of a final pipeline: %+v %v", ev, err)
	}
}

// TestAPIWebURL: the API's pipelines and jobs link their pages.
func TestAPIWebURL(t *testing.T) {
	t.Parallel()
	e := newPipelinesEnv(t, oneJob)
	pl, j := e.pipeline.ID, e.pipeline.Jobs[0].ID
	pageOf := e.url + e.pipelinePath(pl)
	type withURL struct {
		ID     int64  `json:"id"`
		WebURL string `json:"web_url"`
		Jobs   []struct {
			ID     int64  `json:"id"`
			WebURL string `json:"web_url"`
		} `json:"jobs"`
	}
	var list []withURL
	e.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", e.pid), nil, http.StatusOK, &list)
	var one, created, canceled withURL
	e.api("GET", fmt.Sprint("/api/v1/pipelines/", pl), nil, http.StatusOK, &one)
	var job withURL
	e.api("GET", fmt.Sprint("/api/v1/jobs/", j), nil, http.StatusOK, &job)
	e.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", e.pid), map[string]any{"ref": "main"}, http.StatusCreated, &created)
	e.api("POST", fmt.Sprintf("/api/v1/pipelines/%d/cancel", created.ID), nil, http.StatusOK, &canceled)
	for what, got := range map[string]string{
		"list":           list[len(list)-1].WebURL,
		"pipeline":       one.WebURL,
		"pipeline's job": one.Jobs[0].WebURL,
		"job":            job.WebURL,
		"created":        created.WebURL,
		"canceled":       canceled.WebURL,
	} {
		wantURL := pageOf
		switch what {
		case "pipeline's job", "job":
			wantURL = e.url + e.jobPath(j)
		case "created", "canceled":
			wantURL = e.url + e.pipelinePath(created.ID)
		}
		if got != wantURL {
			t.Errorf("%s: web_url %q, want %q", what, got, wantURL)
		}
	}
	// The pages answer at those URLs.
	if r := e.getWithCookie(e.pipelinePath(pl), e.reporter); r.status != http.StatusOK {
		t.Errorf("web_url's page: %s", r)
	}
}
