package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// shotsCI is the pipeline of the screenshots' projects: a build, three checks that need it
// and a manual deploy.
const shotsCI = `stages: [build, test, deploy]
build:
  stage: build
  image: golang:1.26
  script: go build ./...
vet:
  stage: test
  needs: [build]
  script: go vet ./...
unit:
  stage: test
  needs: [build]
  script: go test ./...
integration:
  stage: test
  needs: [build]
  services: [postgres:16]
  script: go test -tags integration ./...
deploy:
  stage: deploy
  needs: [unit, integration]
  when: manual
  script: ./deploy.sh
`

// shotsLog is the log of a Go test job as a runner writes it: GitLab's sections (one
// collapsed), colours, and the lines of go test.
func shotsLog(job string) string {
	sec := func(t int, name, opts, title string) string {
		return fmt.Sprintf("\x1b[0Ksection_start:%d:%s%s\r\x1b[0K\x1b[36;1m%s\x1b[0;m\n", 1764669600+t, name, opts, title)
	}
	end := func(t int, name string) string {
		return fmt.Sprintf("\x1b[0Ksection_end:%d:%s\r\x1b[0K\n", 1764669600+t, name)
	}
	return "\x1b[32;1mRunning with slipway runner on browser-runner\x1b[0;m\n" +
		sec(0, "prepare_executor", "", `Preparing the "docker" executor`) +
		"Using Docker executor with image golang:1.26 ...\n" +
		"Starting service postgres:16 ...\n" +
		end(4, "prepare_executor") +
		sec(4, "get_sources", "[collapsed=true]", "Getting source from Git repository") +
		"Fetching changes with git depth set to 20...\n" +
		"Checking out 3f2a9c1e as detached HEAD (ref is main)...\n" +
		end(6, "get_sources") +
		sec(6, "step_script", "", `Executing "step_script" stage of the job script`) +
		"\x1b[32;1m$ " + job + "\x1b[0;m\n" +
		"ok  \texample.com/shop/cart\t0.412s\n" +
		"ok  \texample.com/shop/checkout\t1.208s\n" +
		"=== RUN   TestOrderFlow\n" +
		"    orders_test.go:88: \x1b[33mwaiting for postgres (attempt 2)\x1b[0m\n" +
		"--- PASS: TestOrderFlow (0.84s)\n" +
		"=== RUN   TestRefund\n"
}

// runJobs plays the runner for one pipeline: it claims every job that comes, writes its
// log and ends it as outcomes says (success when not named); a job whose outcome is
// running is left running and returned. It returns when the named jobs are all claimed and
// no job comes any more.
func (e *env) runJobs(runner string, outcomes map[string]status.Status) map[string]*jobapi.Job {
	e.t.Helper()
	running := map[string]*jobapi.Job{}
	claimed := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := e.request(runner)
		if err != nil {
			e.t.Fatal(err)
		}
		if j == nil {
			done := true
			for name := range outcomes {
				done = done && claimed[name]
			}
			if done {
				return running
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("jobs %v not all claimed within 15 s (claimed %v)", outcomes, claimed)
			}
			continue
		}
		name := j.Spec.Name
		claimed[name] = true
		log := shotsLog(j.Spec.Name)
		e.appendLog(j, 0, log)
		switch st := outcomes[name]; st {
		case status.Running:
			running[name] = j
		case "":
			e.appendLog(j, int64(len(log)), "PASS\n")
			e.finish(j, status.Success)
		default:
			e.appendLog(j, int64(len(log)), "--- FAIL: TestRefund (0.02s)\n")
			e.finish(j, st)
		}
	}
}

// Screenshots of the main pages, light at 1280 and 390 px and the job page dark too, with
// projects as a team has them (docs/screenshots/ holds a chosen set; README.md shows them).
func TestBrowserScreenshots(t *testing.T) {
	t.Parallel()
	e := newEnv(t, shotsCI)
	if _, err := e.srv.BootstrapAdmin(t.Context(), uiAdminPassword); err != nil {
		t.Fatal(err)
	}
	grace := e.user("grace", uiOtherPassword, false)
	runner := e.mustRegister("browser-runner")
	all := map[string]status.Status{"build": "", "vet": "", "unit": "", "integration": ""}
	for _, name := range []string{"api", "docs"} {
		pid := e.project(name, "")
		e.trigger(pid, "main", nil)
		outcomes := all
		if name == "docs" {
			outcomes = map[string]status.Status{"build": "", "vet": "", "unit": status.Failed, "integration": ""}
		}
		e.runJobs(runner, outcomes)
	}
	shop := e.project("shop", "")
	e.member(shop, grace, "developer")
	e.commit(map[string]string{"README": "shop\n"}, "cart: round totals to the cent")
	e.trigger(shop, "main", nil)
	e.runJobs(runner, all)
	e.git("checkout", "-q", "-b", "feature/refunds")
	e.commit(map[string]string{"refund.go": "package shop\n"}, "refunds: partial refunds of an order")
	e.trigger(shop, "feature/refunds", nil)
	e.runJobs(runner, map[string]status.Status{"build": "", "vet": "", "unit": status.Failed, "integration": ""})
	e.git("checkout", "-q", "main")
	e.commit(map[string]string{"checkout.go": "package shop\n"}, "checkout: retry the payment provider once")
	p := e.trigger(shop, "main", nil)
	running := e.runJobs(runner, map[string]status.Status{"build": "", "vet": "", "unit": "", "integration": status.Running})
	integ := running["integration"]

	b := testenv.RequireBrowser(t)
	b.SignIn(e.url, AdminUsername, uiAdminPassword)
	shot := func(name, url, ready string) {
		t.Helper()
		if st := b.Open(url, ready); st != http.StatusOK {
			t.Fatalf("GET %s: %d", url, st)
		}
		b.Screenshot(name)
	}
	shot("dashboard", e.url+"/", "table.projects")
	shot("pipelines", e.url+"/slipway/shop", "table.pipelines")
	shot("pipeline", fmt.Sprintf("%s/slipway/shop/-/pipelines/%d", e.url, p.ID), ".graph")
	jobURL := fmt.Sprintf("%s/slipway/shop/-/jobs/%d", e.url, integ.ID)
	shot("job", jobURL, ".lv-log")
	// The log grows while the page is open.
	off := int64(len(shotsLog(integ.Spec.Name)))
	e.appendLog(integ, off, "--- PASS: TestRefund (0.31s)\n")
	b.WaitText(".lv-log", "TestRefund (0.31s)")
	b.Screenshot("job-live")
	b.ColorScheme("dark")
	b.Screenshot("job-dark")
	b.ColorScheme("light")
	shot("settings", e.url+"/slipway/shop/-/settings", "main")
	b.Open(e.url+"/-/lint", "form")
	b.Submit(`form[action="/-/lint"]`, map[string]string{"yaml": shotsCI, "ref": "main"})
	if got := b.Text("main"); !strings.Contains(got, "integration") {
		t.Errorf("the lint page does not list the jobs: %q", got)
	}
	b.Screenshot("lint")
}
