package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// Browser tests of the job page, on the fixture of browser_ui_test.go.

// jobURL is the URL of the page of the fixture's job named name.
func (f *uiFixture) jobURL(name string) string { return f.jobPage(f.jobs[name]) }

// jobPage is the URL of the page of job id.
func (f *uiFixture) jobPage(id int64) string {
	return fmt.Sprintf("%s/%s/-/jobs/%d", f.url, f.path, id)
}

// count is the number of elements matching selector in the page.
func count(t *testing.T, b *testenv.Browser, selector string) int {
	t.Helper()
	return evaluate[int](t, b, fmt.Sprintf(`document.querySelectorAll(%q).length`, selector))
}

// A running job's log grows in the open page as the runner sends it, without a reload;
// when the job ends, the page says so.
func TestBrowserLiveLog(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	if st := b.Open(f.jobURL("long"), ".lv-log"); st != http.StatusOK {
		t.Fatalf("GET job: %d", st)
	}
	b.WaitText(".lv-log", "step 1 of many")
	evaluate[bool](t, b, `window.__notReloaded = true`)
	for i := 2; i <= 4; i++ {
		f.log(f.long, fmt.Sprintf("step %d of many\n", i))
		b.WaitText(".lv-log", fmt.Sprintf("step %d of many", i))
	}
	f.log(f.long, "\x1b[1;31mred and bold\x1b[0m\n")
	b.WaitText(".lv-log", "red and bold")
	if n := count(t, b, `.lv-log .term-fg31, .lv-log .term-fgr`); n == 0 {
		t.Errorf("the live ANSI line has no colour class")
	}
	b.Screenshot("job-live")
	b.ColorScheme("dark")
	b.Screenshot("job-live-dark")
	b.ColorScheme("light")
	f.finish(f.long, status.Success)
	b.WaitText("#job-summary h1", "passed")
	if !evaluate[bool](t, b, `window.__notReloaded === true`) {
		t.Error("the page reloaded")
	}
}

// A [collapsed=true] section shows closed, with its header and duration, and opens on a
// click.
func TestBrowserCollapsedSection(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	b := f.signIn(t)
	b.Open(f.jobURL("compile"), ".lv-log")
	const sec = `details.lv-sec[data-name="prepare"]`
	if open := evaluate[bool](t, b, `document.querySelector('`+sec+`').open`); open {
		t.Fatal("the collapsed section is open")
	}
	if got := b.Text(sec + " > summary"); !strings.Contains(got, "Prepare the build") || !strings.Contains(got, "00:03") {
		t.Errorf("section header %q, want its title and duration 00:03", got)
	}
	if got := b.Text(".lv-log"); strings.Contains(got, "hidden inside the collapsed section") {
		t.Error("the collapsed section's lines are shown")
	}
	b.Click(sec + " > summary")
	b.WaitText(sec, "hidden inside the collapsed section")
}
