package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// Browser tests of the UI's pages, on the fixture of browser_ui_test.go.

// projectURL is the URL of the fixture project's pipelines.
func (f *uiFixture) projectURL() string { return f.url + "/" + f.path }

// cardOf is the CSS selector of the pipeline page's card of job id.
func cardOf(id int64) string { return fmt.Sprintf("#job-%d", id) }

// The dashboard's build flag is the status of the default branch's last pipeline, as an
// icon and a word: a pipeline of another branch does not change it.
func TestBrowserDashboardFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: make\n")
	if _, err := e.srv.BootstrapAdmin(t.Context(), uiAdminPassword); err != nil {
		t.Fatal(err)
	}
	pid := e.project("demo", "")
	runner := e.mustRegister("r1")
	b := testenv.RequireBrowser(t)
	b.SignIn(e.url, AdminUsername, uiAdminPassword)
	const flag = `table.projects tr:has(a[href="/slipway/demo"]) [data-label="Build"]`
	open := func() string {
		t.Helper()
		if st := b.Open(e.url+"/", flag); st != http.StatusOK {
			t.Fatalf("GET /: %d", st)
		}
		if n := count(t, b, flag+" svg.icon"); n != 1 {
			t.Errorf("the flag has %d icons, want 1", n)
		}
		return b.Text(flag)
	}
	if got := open(); !strings.Contains(got, "no pipeline") {
		t.Errorf("flag before any pipeline: %q", got)
	}

	p := e.trigger(pid, "main", nil)
	e.finish(e.claim(runner, "build"), status.Success)
	e.waitPipeline(p.ID, status.Success)
	if got := open(); !strings.Contains(got, "passed") {
		t.Errorf("flag after a green main: %q", got)
	}
	b.Screenshot("dashboard")

	e.git("checkout", "-q", "-b", "feature")
	p = e.trigger(pid, "feature", nil)
	e.finish(e.claim(runner, "build"), status.Failed)
	e.waitPipeline(p.ID, status.Failed)
	if got := open(); !strings.Contains(got, "passed") {
		t.Errorf("a red feature branch changed the flag: %q", got)
	}

	p = e.trigger(pid, "main", nil)
	e.finish(e.claim(runner, "build"), status.Failed)
	e.waitPipeline(p.ID, status.Failed)
	if got := open(); !strings.Contains(got, "failed") {
		t.Errorf("flag after a red main: %q", got)
	}
	b.Click(flag + " a.flag")
	if got := b.Text("h1"); !strings.Contains(got, fmt.Sprintf("Pipeline #%d", p.ID)) {
		t.Errorf("the flag leads to %q, want pipeline #%d", got, p.ID)
	}
}

// The pipeline page: stages as columns in order, a card per job with its status, the needs
// edges drawn. The pipelines list shows the pipeline, and its row follows the pipeline live:
// when the last running job ends, the row says failed (unit failed) without a reload.
func TestBrowserPipelinePage(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)

	if st := b.Open(f.pipelineURL(), ".graph"); st != http.StatusOK {
		t.Fatalf("GET pipeline: %d", st)
	}
	stages := evaluate[[]string](t, b, `[...document.querySelectorAll('.graph .stage h3')].map(h => h.textContent)`)
	if fmt.Sprint(stages) != "[build test deploy]" {
		t.Errorf("stages %q, want build, test, deploy", stages)
	}
	for name, want := range map[string]string{"compile": "passed", hostileJob: "passed", "unit": "failed",
		"long": "running", "deploy": "manual"} {
		card := b.Text(cardOf(f.jobs[name]))
		if !strings.Contains(card, name) || !strings.Contains(card, want) {
			t.Errorf("card of %s reads %q, want its name and %q", name, card, want)
		}
	}
	// unit, long and deploy need compile: three edges, drawn as SVG paths with a shape.
	if n := count(t, b, `.graph svg.edges path[d]`); n != 3 {
		t.Errorf("%d needs edges drawn, want 3", n)
	}
	if h := evaluate[float64](t, b, `document.querySelector('.graph svg.edges').getBoundingClientRect().height`); h <= 0 {
		t.Errorf("the edges are not laid out (height %v)", h)
	}
	b.Screenshot("pipeline")

	if st := b.Open(f.projectURL(), "table.pipelines"); st != http.StatusOK {
		t.Fatalf("GET pipelines: %d", st)
	}
	rowSel := fmt.Sprintf("#pipeline-%d", f.pipelineID)
	row := b.Text(rowSel)
	for _, want := range []string{"running", fmt.Sprintf("#%d", f.pipelineID), "push", hostileBranch, hostileMessage} {
		if !strings.Contains(row, want) {
			t.Errorf("pipelines row %q lacks %q", row, want)
		}
	}
	b.Screenshot("pipelines")
	evaluate[bool](t, b, `window.__notReloaded = true`)
	f.finish(f.long, status.Success)
	b.WaitText(rowSel+` [data-label="Status"]`, "failed")
	if !evaluate[bool](t, b, `window.__notReloaded === true`) {
		t.Error("the pipelines page reloaded")
	}
}

// Play a manual job from its card on the pipeline page: it becomes pending.
func TestBrowserPlayManualJob(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	b.Open(f.pipelineURL(), ".graph")
	card := cardOf(f.jobs["deploy"])
	if st := b.Submit(card+" form.card-action", nil); st != http.StatusOK {
		t.Fatalf("play: %d", st)
	}
	f.waitJob("deploy", status.Pending)
	b.Open(f.pipelineURL(), ".graph")
	b.WaitText(card, "pending")
}

// Retry a failed job from its page: a new attempt of it is pending, the old one stays.
func TestBrowserRetryFailedJob(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	old := f.jobs["unit"]
	b.Open(f.jobURL("unit"), "#job-summary")
	if st := b.Submit(`#job-summary form[action$="/retry"]`, nil); st != http.StatusOK {
		t.Fatalf("retry: %d", st)
	}
	id := f.waitJob("unit", status.Pending)
	if id == old {
		t.Fatalf("retry kept job %d", id)
	}
	b.Open(f.jobPage(id), "#job-summary")
	if got := b.Text("#job-summary h1"); !strings.Contains(got, "pending") {
		t.Errorf("the new attempt's page says %q", got)
	}
	b.Open(f.jobPage(old), "#job-summary")
	if got := b.Text("#job-summary h1"); !strings.Contains(got, "failed") {
		t.Errorf("the old attempt's page says %q", got)
	}
}

// Cancel a running job from its page (the confirmation accepted): its runner is told on
// its next heartbeat, and when it stops, the open pipeline page shows the job canceled.
func TestBrowserCancelRunningJob(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	b.Open(f.jobURL("long"), "#job-summary")
	if st := b.Submit(`#job-summary form[action$="/cancel"]`, nil); st != http.StatusOK {
		t.Fatalf("cancel: %d", st)
	}
	r := f.update(f.long, jobapi.Update{State: status.Running})
	var hb jobapi.UpdateResponse
	if r.status != http.StatusOK || json.Unmarshal(r.body, &hb) != nil || !hb.Cancel {
		t.Fatalf("heartbeat after cancel: %s, want cancel:true", r)
	}
	f.finish(f.long, status.Canceled)
	b.WaitText(cardOf(f.jobs["long"]), "canceled")
	f.waitJob("long", status.Canceled)
}

// The hostile branch name, commit message, job name and log lines show as text on every
// page they reach, and never run: no injected element, and the harness fails the test on
// any alert, script error or CSP violation.
func TestBrowserAttackHostileStringsInert(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	f.log(f.long, hostileLog1+"\n"+hostileLog2+"\n") // through the live stream too
	injected := `script:not([src]), img[src="x"], [onerror], [onload]`
	for _, tc := range []struct {
		name, url, ready string
		want             []string
	}{
		{"pipelines", f.projectURL(), "table.pipelines", []string{hostileBranch, hostileMessage}},
		{"pipeline", f.pipelineURL(), ".graph", []string{hostileBranch, hostileMessage, hostileJob}},
		{"job of the hostile name", f.jobURL(hostileJob), "#job-summary", []string{hostileJob, hostileBranch, hostileMessage, hostileRunner}},
		{"runners", f.url + "/-/admin/runners", "main", []string{hostileRunner}},
		{"job log", f.jobURL("compile"), ".lv-log", []string{hostileLog1, hostileLog2}},
		{"live job log", f.jobURL("long"), ".lv-log", []string{hostileLog1, hostileLog2}},
	} {
		if st := b.Open(tc.url, tc.ready); st != http.StatusOK {
			t.Errorf("%s: GET %s: %d", tc.name, tc.url, st)
			continue
		}
		for _, want := range tc.want {
			b.WaitText("main", want)
		}
		if n := count(t, b, injected); n != 0 {
			t.Errorf("%s: %d injected element(s) (%s)", tc.name, n, injected)
		}
		if title := evaluate[string](t, b, `document.title`); tc.name == "job of the hostile name" && !strings.Contains(title, hostileJob) {
			t.Errorf("%s: title %q lacks the job name as text", tc.name, title)
		}
	}
	// The CI lint page lists the jobs of a pasted configuration.
	b.Open(f.url+"/-/lint", "form")
	b.Submit(`form[action="/-/lint"]`, map[string]string{"yaml": uiCI, "ref": hostileBranch})
	b.WaitText("main", hostileJob)
	if n := count(t, b, injected); n != 0 {
		t.Errorf("lint: %d injected element(s)", n)
	}

	// A line appended while the page is open arrives through the live stream.
	b.Open(f.jobURL("long"), ".lv-log")
	f.log(f.long, "after "+hostileLog1+"\n")
	b.WaitText(".lv-log", "after "+hostileLog1)
	if n := count(t, b, injected); n != 0 {
		t.Errorf("live line: %d injected element(s)", n)
	}
}

// A signed-in user who is no member of a private project gets 404 on its pages, as for a
// project that does not exist, and its dashboard does not list it; a member (the admin)
// gets the same pages.
func TestBrowserAttackNonMemberGets404(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	pages := []string{f.projectURL(), f.pipelineURL(), f.jobURL("compile"), f.jobURL("long") + "/raw",
		f.projectURL() + "/-/settings"}

	admin := f.signIn(t)
	for _, u := range pages {
		if st := admin.Open(u, "body"); st != http.StatusOK {
			t.Errorf("admin: GET %s: %d, want 200", u, st)
		}
	}

	b := testenv.RequireBrowser(t)
	b.SignIn(f.url, uiOtherUser, uiOtherPassword)
	for _, u := range append(pages, f.url+"/slipway/no-such-project") {
		if st := b.Open(u, "body"); st != http.StatusNotFound {
			t.Errorf("%s: GET %s: %d, want 404", uiOtherUser, u, st)
		}
		if got := b.Text("body"); strings.Contains(got, "compile") || strings.Contains(got, hostileBranch) {
			t.Errorf("the 404 of %s tells about the project: %q", u, got)
		}
	}
	b.Open(f.url+"/", "main")
	if got := b.Text("main"); strings.Contains(got, f.path) {
		t.Errorf("%s's dashboard lists the private project: %q", uiOtherUser, got)
	}
}

// tabTo presses Tab until the focused element reads last (tag and aria-label or text, e.g.
// "button Cancel"), at most 80 times, and fails the test for each of want not reached on
// the way (last included).
func tabTo(t *testing.T, b *testenv.Browser, last string, want ...string) {
	t.Helper()
	const focused = `(() => { const el = document.activeElement;
		return el.tagName.toLowerCase() + ' ' + (el.getAttribute('aria-label') || el.getAttribute('placeholder') || el.innerText || '').trim(); })()`
	reached := map[string]bool{}
	var seen []string
	for range 80 {
		b.Tab()
		got := evaluate[string](t, b, focused)
		seen = append(seen, got)
		reached[got] = true
		if got == last {
			break
		}
	}
	for _, w := range append(want, last) {
		if !reached[w] {
			t.Errorf("Tab never reached %q; it went through %q", w, seen)
		}
	}
}

// The main actions are reachable with the keyboard: on the pipeline page the job links, the
// cancel button and the play button, which Enter then presses (the job is played); on a
// running job's page the cancel button, the raw log and the log's search.
func TestBrowserKeyboardReachesActions(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	b.Open(f.jobURL("long"), ".lv-log")
	tabTo(t, b, "input Search the log", "button Cancel", "a Raw")

	b.Open(f.pipelineURL(), ".graph")
	tabTo(t, b, "button play deploy", "a Skip to content", "button Cancel pipeline", "a unit")
	b.Do(chromedp.KeyEvent(kb.Enter))
	f.waitJob("deploy", status.Pending)
}

// The dark colour scheme applies: the page's background and text turn dark and light.
func TestBrowserDarkScheme(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	b.ColorScheme("dark")
	b.Open(f.pipelineURL(), ".graph")
	// Relative luminance of the body's computed colours, 0 (black) to 1 (white).
	const lum = `((c) => { const [r, g, b] = c.match(/\d+(\.\d+)?/g).map(Number);
		return (0.2126*r + 0.7152*g + 0.0722*b) / 255; })`
	bg := evaluate[float64](t, b, lum+`(getComputedStyle(document.body).backgroundColor)`)
	fg := evaluate[float64](t, b, lum+`(getComputedStyle(document.body).color)`)
	if bg > 0.3 || fg < 0.6 {
		t.Errorf("dark scheme: background luminance %.2f, text %.2f; want a dark page with light text", bg, fg)
	}
	b.Screenshot("pipeline-dark")
}
