package web

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/store"
)

// hostile is put in every string users, commits and jobs control: a script element, an
// attribute break with an event handler, and a javascript: URL.
const hostile = `<script>alert(1)</script>" onerror=alert(1) x="javascript:alert(1)`

var (
	rawScript = regexp.MustCompile(`(?i)<script>alert`)
	// An attribute break: a quote closing the attribute, then an on* handler.
	attrBreak = regexp.MustCompile(`(?i)"\s*on[a-z]+=`)
	jsURL     = regexp.MustCompile(`(?i)\b(href|src|action|formaction)\s*=\s*"\s*javascript:`)
)

// assertInert fails when html holds the hostile strings unescaped.
func assertInert(t *testing.T, what string, html []byte) {
	t.Helper()
	for _, re := range []*regexp.Regexp{rawScript, attrBreak, jsURL} {
		if m := re.Find(html); m != nil {
			i := bytes.Index(html, m)
			t.Errorf("%s: unescaped %q in …%s…", what, m, html[max(i-80, 0):min(i+80, len(html))])
		}
	}
}

// TestAttackHostileStringsEscaped renders every page with a script element, an attribute
// break and a javascript: URL in branch names, commit titles, job names, usernames,
// variable keys and values, file names and URLs, and checks every one comes out inert.
func TestAttackHostileStringsEscaped(t *testing.T) {
	s := newSite(t)
	for _, f := range fixtures(t, hostile) {
		t.Run(f.name, func(t *testing.T) {
			body := render(t, s, f.page).Body.Bytes()
			assertInert(t, f.name, body)
			if f.name != "error" && !bytes.Contains(body, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) {
				t.Errorf("%s: the hostile string is not shown escaped (the fixture does not reach the page?)", f.name)
			}
		})
	}
}

// TestAttackHostileStringsInLiveEvents does the same for the SSE fragments: their HTML
// travels as JSON and is inserted with innerHTML, so it must be as escaped as the page.
func TestAttackHostileStringsInLiveEvents(t *testing.T) {
	s := newSite(t)
	var pipelines Pipelines
	var pipeline Pipeline
	var job Job
	for _, f := range fixtures(t, hostile) {
		switch p := f.page.(type) {
		case Pipelines:
			pipelines = p
		case Pipeline:
			pipeline = p
		case Job:
			job = p
		}
	}
	var b bytes.Buffer
	if err := s.PipelineRowEvent(&b, pipelines.Rows[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.PipelineEvent(&b, pipeline); err != nil {
		t.Fatal(err)
	}
	if err := s.JobEvent(&b, job); err != nil {
		t.Fatal(err)
	}
	// JSON escapes < > & as \u003c…; undo that to see the HTML the browser inserts.
	html := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\"`, `"`).Replace(b.String())
	assertInert(t, "events", []byte(html))
	if !strings.Contains(html, "&lt;script&gt;") {
		t.Error("the hostile job or branch name is not in the events")
	}
}

// TestAttackMaskedValuesNeverRendered checks that masked values (of pipeline variables,
// project variables and the variables a rule read) are not in any page.
func TestAttackMaskedValuesNeverRendered(t *testing.T) {
	s := newSite(t)
	for _, f := range fixtures(t, "") {
		body := render(t, s, f.page).Body.String()
		if strings.Contains(body, "hunter2") {
			t.Errorf("%s shows a masked value", f.name)
		}
	}
}

// TestAttackCloneURLCredentialsHidden checks the credentials of a clone URL stay off pages.
func TestAttackCloneURLCredentialsHidden(t *testing.T) {
	s := newSite(t)
	for _, f := range fixtures(t, "") {
		body := render(t, s, f.page).Body.String()
		if strings.Contains(body, "s3cret") {
			t.Errorf("%s shows the clone URL's password", f.name)
		}
	}
	// The project-created page shows the clone URL: redacted.
	p := ProjectCreated{Layout: Layout{CSRF: "x", Project: &store.Project{ID: 1, Path: "a/b", CloneURL: "https://u:pw@h/r.git"}}}
	if body := render(t, s, p).Body.String(); strings.Contains(body, "pw@") || !strings.Contains(body, "xxxxx") {
		t.Errorf("clone URL not redacted:\n%s", body)
	}
}
