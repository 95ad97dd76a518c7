package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// The UI fixture of the browser tests: a server with the admin and a second user who is no
// member, a private project, and a pipeline made by a push to a hostile branch, whose jobs are
// in every state a page shows. The test acts as the runner, so that it appends log lines to
// the running job at will.

// Passwords of the fixture's users.
const (
	uiAdminPassword = "admin password for the browser"
	uiOtherUser     = "bob"
	uiOtherPassword = "bob's password for the browser"
)

// Hostile strings: each must reach its page as text, never as markup or script. Git accepts
// every character of the branch name (no space, ~, ^, :, ?, *, [ or \).
const (
	hostileBranch  = `x"><script>alert(1)</script>`
	hostileMessage = `<img src=x onerror=alert(1)>`
	hostileJob     = `<script>alert(2)</script>`
	hostileLog1    = `<script>alert(3)</script>`
	hostileLog2    = `" onerror="alert(4)`
	hostileRunner  = `<img src=x onerror=alert(5)>runner`
)

// uiCI is the fixture's .gitlab-ci.yml: compile passes with a collapsed section and hostile
// lines in its log, the job with the hostile name passes, unit fails, long keeps running
// (the test appends its log), deploy waits to be played; unit, long and deploy need compile.
const uiCI = `stages: [build, test, deploy]
compile:
  stage: build
  script: make
"` + hostileJob + `":
  stage: build
  script: echo
unit:
  stage: test
  needs: [compile]
  script: make test
long:
  stage: test
  needs: [compile]
  script: make slow
deploy:
  stage: deploy
  needs: [compile]
  when: manual
  script: make deploy
`

// compileLog is the log of the compile job: a collapsed GitLab section, colours and the
// hostile lines.
const compileLog = "\x1b[0Ksection_start:1700000000:prepare[collapsed=true]\r\x1b[0KPrepare the build\n" +
	"hidden inside the collapsed section\n" +
	"\x1b[0Ksection_end:1700000003:prepare\r\x1b[0K\n" +
	"$ make\n" +
	hostileLog1 + "\n" +
	hostileLog2 + "\n" +
	"\x1b[32;1mcompiled fine\x1b[0m\n"

// uiFixture is the fixture of one test (tests change its state: each builds its own).
type uiFixture struct {
	*env
	projectID  int64
	path       string // the project's namespace/project
	pipelineID int64
	jobs       map[string]int64 // job name → ID, as the fixture left them
	long       *jobapi.Job      // the running job, claimed by the test

	mu      sync.Mutex
	offsets map[int64]int64 // job ID → bytes of log sent
}

// newUIFixture builds the fixture: it returns once compile and the hostile job passed, unit
// failed, long runs and deploy is manual.
func newUIFixture(t *testing.T) *uiFixture {
	t.Helper()
	e := newEnv(t, uiCI)
	if _, err := e.srv.BootstrapAdmin(context.Background(), uiAdminPassword); err != nil {
		t.Fatalf("BootstrapAdmin: %v", err)
	}
	e.user(uiOtherUser, uiOtherPassword, false)
	f := &uiFixture{env: e, path: "slipway/demo", jobs: map[string]int64{}, offsets: map[int64]int64{}}
	f.projectID = e.project("demo", hookSecret)

	// The push: a commit with a hostile message on a hostile branch, delivered as GitHub does.
	before := e.head()
	e.git("checkout", "-q", "-b", hostileBranch)
	after := e.commit(map[string]string{"README": "hello\n"}, hostileMessage)
	body := hubPushBody(push{ref: "refs/heads/" + hostileBranch, before: before, after: after, message: hostileMessage})
	r := e.deliver(forges[0], f.projectID, "push", "browser-push", body, hookSecret)
	if r.status != http.StatusCreated {
		t.Fatalf("push %q: %s", hostileBranch, r)
	}
	var hook hookAnswer
	if err := json.Unmarshal(r.body, &hook); err != nil || hook.PipelineID == 0 {
		t.Fatalf("push answer %s: %v", r, err)
	}
	f.pipelineID = hook.PipelineID
	if p := e.pipeline(f.pipelineID); p.Ref != hostileBranch || len(p.Jobs) != 5 {
		t.Fatalf("pipeline of ref %q with %d jobs, want %q and 5", p.Ref, len(p.Jobs), hostileBranch)
	}

	runner := e.mustRegister(hostileRunner)
	claimed := f.claimAll(runner, 2)
	f.log(claimed["compile"], compileLog)
	e.finish(claimed["compile"], status.Success)
	e.finish(claimed[hostileJob], status.Success)
	claimed = f.claimAll(runner, 2)
	f.log(claimed["unit"], "$ make test\n--- FAIL: TestThing\n")
	e.finish(claimed["unit"], status.Failed)
	f.long = claimed["long"]
	f.log(f.long, "$ make slow\nstep 1 of many\n")
	f.waitJob("deploy", status.Manual)
	for _, j := range e.pipeline(f.pipelineID).Jobs {
		f.jobs[j.Name] = j.ID
	}
	return f
}

// claimAll claims n jobs, whatever their names, and returns them by name.
func (f *uiFixture) claimAll(runner string, n int) map[string]*jobapi.Job {
	f.t.Helper()
	got := map[string]*jobapi.Job{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("claimed %d jobs within 10 s, want %d", len(got), n)
		}
		j, err := f.request(runner)
		if err != nil {
			f.t.Fatal(err)
		}
		if j != nil {
			got[j.Spec.Name] = j
		}
	}
	return got
}

// log appends text to the log of a claimed job, as its runner does.
func (f *uiFixture) log(j *jobapi.Job, text string) {
	f.t.Helper()
	if err := f.tryLog(j, text); err != nil {
		f.t.Fatal(err)
	}
}

// tryLog is log that returns its error, for LineProbe.Print (safe on any goroutine).
func (f *uiFixture) tryLog(j *jobapi.Job, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	off := f.offsets[j.ID]
	h := http.Header{"Content-Range": {jobapi.ContentRange(off, len(text))}, "Content-Type": {"text/plain"}}
	r, err := f.send("PATCH", jobapi.PathLog(j.ID), j.Token, text, h)
	if err != nil {
		return err
	}
	if r.status != http.StatusAccepted && r.status != http.StatusOK && r.status != http.StatusNoContent {
		return fmt.Errorf("append log of job %d: %s", j.ID, r)
	}
	f.offsets[j.ID] = off + int64(len(text))
	return nil
}

// waitJob waits until the pipeline's current job named name has status want, and returns
// its ID (a retried job has a new one).
func (f *uiFixture) waitJob(name string, want status.Status) int64 {
	f.t.Helper()
	var id int64
	eventually(f.t, 10*time.Second, func() (bool, string) {
		j := f.pipeline(f.pipelineID).job(name)
		id = j.ID
		return j.Status == want, fmt.Sprintf("job %q: want %s, have %s", name, want, j.Status)
	})
	return id
}

// pipelineURL is the URL of the fixture's pipeline page.
func (f *uiFixture) pipelineURL() string {
	return fmt.Sprintf("%s/%s/-/pipelines/%d", f.url, f.path, f.pipelineID)
}

// signIn opens a browser signed in as the admin.
func (f *uiFixture) signIn(t *testing.T) *testenv.Browser {
	t.Helper()
	b := testenv.RequireBrowser(t)
	if st := b.SignIn(f.url, AdminUsername, uiAdminPassword); st != http.StatusOK {
		t.Fatalf("sign in: the dashboard answered %d", st)
	}
	if got := location(t, b); got != "/" {
		t.Fatalf("signed in at %s, want /", got)
	}
	return b
}

// evaluate returns the value of a JavaScript expression (a promise's, awaited) in the page.
func evaluate[T any](t *testing.T, b *testenv.Browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.Context(), chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// The fixture builds: the push of the hostile branch makes a pipeline whose jobs are in the
// states the page tests need.
func TestUIFixture(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	want := map[string]status.Status{"compile": status.Success, hostileJob: status.Success, "unit": status.Failed,
		"long": status.Running, "deploy": status.Manual}
	p := f.pipeline(f.pipelineID)
	if got := p.statuses(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("jobs %v, want %v", got, want)
	}
	if p.Status != status.Running || p.Source != "push" {
		t.Errorf("pipeline %s from %s, want running from push", p.Status, p.Source)
	}
}

// location is the path and query of the page in the tab.
func location(t *testing.T, b *testenv.Browser) string {
	t.Helper()
	return evaluate[string](t, b, `location.pathname + location.search`)
}

// Sign in through the form: a wrong password shows the error and keeps the username; the
// right one goes where the form was asked to go next. Photographed in light and dark.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := testenv.RequireBrowser(t)
	const form = `form:has([name="password"])`
	next := strings.TrimPrefix(f.pipelineURL(), f.url)

	if st := b.Open(f.url+"/login?next="+next, form); st != http.StatusOK {
		t.Fatalf("GET /login: %d", st)
	}
	b.Screenshot("sign-in")
	b.ColorScheme("dark")
	b.Screenshot("sign-in-dark")
	b.ColorScheme("light")

	if st := b.Submit(form, map[string]string{"username": AdminUsername, "password": "not the password"}); st != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", st)
	}
	if got := b.Text(`[role="alert"]`); !strings.Contains(got, "password") {
		t.Errorf("wrong password says %q", got)
	}
	if got := evaluate[string](t, b, `document.querySelector('[name="username"]').value`); got != AdminUsername {
		t.Errorf("the form forgot the username: %q", got)
	}
	b.Screenshot("sign-in-error")

	if st := b.Submit(form, map[string]string{"username": AdminUsername, "password": uiAdminPassword}); st != http.StatusOK {
		t.Errorf("signed in: %s answered %d", next, st)
	}
	if got := location(t, b); got != next {
		t.Errorf("signed in at %s, want %s", got, next)
	}
	if got := b.Text("header"); !strings.Contains(got, AdminUsername) || !strings.Contains(got, "Sign out") {
		t.Errorf("the page's header does not show who is signed in: %q", got)
	}
	// Signed in, the sign-in form sends the reader on.
	b.Open(f.url+"/login", "body")
	if got := location(t, b); got != "/" {
		t.Errorf("GET /login when signed in: at %s, want /", got)
	}
}

// A state-changing POST without the session's CSRF token is refused (403) though the
// browser sends the session cookie and its own Origin, and changes nothing: the session
// stays.
func TestBrowserCSRFRefused(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	post := func(body string) int {
		t.Helper()
		return evaluate[int](t, b, fmt.Sprintf(`fetch('/logout', {method: 'POST', redirect: 'manual',
			headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: %q}).then(r => r.status)`, body))
	}
	if st := post(""); st != http.StatusForbidden {
		t.Errorf("POST /logout without a CSRF token: %d, want 403", st)
	}
	if st := post("csrf=forged"); st != http.StatusForbidden {
		t.Errorf("POST /logout with a wrong CSRF token: %d, want 403", st)
	}
	for _, p := range b.TakeProblems() {
		if !strings.Contains(p, "403") {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	// Still signed in: the sign-in form sends the reader on.
	b.Open(f.url+"/login", "body")
	if got := location(t, b); got != "/" {
		t.Errorf("after the refused sign-out, GET /login is at %s: the session is gone", got)
	}

	// A page's form whose token was taken out, sent by the user's own click.
	const form = `form[action$="/-/settings/variables"]`
	if st := b.Open(f.url+"/"+f.path+"/-/settings", form); st != http.StatusOK {
		t.Fatalf("GET settings: %d", st)
	}
	evaluate[bool](t, b, `(() => { document.querySelector('`+form+` [name="csrf"]').remove(); return true })()`)
	if st := b.Submit(form, map[string]string{"key": "FORGED", "value": "x"}); st != http.StatusForbidden {
		t.Errorf("settings form without its CSRF token: %d, want 403", st)
	}
	if got := b.Text("main"); !strings.Contains(got, "CSRF") {
		t.Errorf("the refusal says %q", got)
	}
	vars := f.api("GET", fmt.Sprintf("/api/v1/projects/%d/variables", f.projectID), nil, http.StatusOK, nil)
	if strings.Contains(string(vars.body), "FORGED") {
		t.Errorf("the refused form set a variable: %s", vars.body)
	}
}
