package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// Browser tests (TestBrowser*) drive the server's pages in headless Chromium through
// testenv.RequireBrowser; BrowserMain stops the browser when the package's tests end.
func TestMain(m *testing.M) { os.Exit(testenv.BrowserMain(m)) }

// The public status badge, as a README embeds it, renders in the browser and follows the
// default branch's last pipeline.
func TestBrowserBadge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: echo\n")
	pid := e.project("demo", "")
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"visibility": "public"}, http.StatusOK, nil)
	b := testenv.RequireBrowser(t)
	badge := e.url + "/slipway/demo/badge.svg"
	// An SVG element has no innerText, which b.Text reads: read its textContent.
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(b.Context(), chromedp.TextContent(chromedp.CSS("svg")))
		if err != nil {
			t.Fatalf("badge text: %v", err)
		}
		return s
	}

	if status := b.Open(badge, "svg"); status != http.StatusOK {
		t.Fatalf("GET badge.svg: %d", status)
	}
	if got := text(); !strings.Contains(got, "pipeline") || !strings.Contains(got, "unknown") {
		t.Errorf("badge before any pipeline reads %q", got)
	}

	e.trigger(pid, "main", nil)
	e.finish(e.claim(e.mustRegister("r1"), "build"), status.Success)
	b.Open(badge, "svg")
	if got := text(); !strings.Contains(got, "passed") {
		t.Errorf("badge after a green pipeline reads %q", got)
	}
	b.Screenshot("badge")
}

// An API page opened in the browser with a token shows the project; without one the
// browser gets 401 and the server says nothing about the project.
func TestBrowserAPIPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: echo\n")
	e.project("demo", "")
	b := testenv.RequireBrowser(t)

	if status := b.Open(e.url+"/api/v1/projects", "body"); status != http.StatusUnauthorized {
		t.Errorf("anonymous GET /api/v1/projects: %d, want 401", status)
	}
	if got := b.Text("body"); strings.Contains(got, "demo") {
		t.Errorf("anonymous answer names the project: %q", got)
	}

	b.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": "Bearer " + adminToken},
		})
		return err
	}))
	if status := b.Open(e.url+"/api/v1/projects", "pre"); status != http.StatusOK {
		t.Fatalf("GET /api/v1/projects with the token: %d", status)
	}
	var projects []struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal([]byte(b.Text("pre")), &projects); err != nil {
		t.Fatalf("the page is not the JSON list: %v", err)
	}
	if len(projects) != 1 || projects[0].Path != "slipway/demo" {
		t.Errorf("projects %+v", projects)
	}
	b.Screenshot("api-projects")
}
