package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pagePath is a page pattern's method and path with sample values, in project demo.
func pagePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{project}", "demo")
	path = strings.ReplaceAll(path, "{path...}", "a.txt")
	path = strings.ReplaceAll(path, "{$}", "")
	return method, fillPath(path)
}

// TestPagesNeedSignIn walks the page table: every page but the sign-in form sends a signed-out
// viewer to /login (back to the page after), every POST needs the session's CSRF token, and
// every page of a private project is 404 to a signed-in user who is not a member, with the
// same body as for a project that does not exist.
func TestPagesNeedSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	e.project("demo", "")
	e.user("outsider", "outsider password", false)
	outsider := e.login("outsider", "outsider password")
	csrf := e.viewer(outsider).csrf
	pages := e.srv.pageTable()
	if len(pages) < 3 {
		t.Fatalf("%d pages", len(pages))
	}
	for _, pg := range pages {
		if pg.access == pageAnyone {
			continue
		}
		method, path := pagePath(pg.pattern)
		t.Run(pg.pattern, func(t *testing.T) {
			var r *reply
			if method == http.MethodPost {
				r = e.form(path, "", url.Values{}, nil)
			} else {
				r = e.getWithCookie(path, "")
			}
			loc := r.header.Get("Location")
			if method == http.MethodGet && (r.status != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(path)) {
				t.Errorf("signed out: %d to %q, want 303 to the sign-in form", r.status, loc)
			}
			if method == http.MethodPost && r.status != http.StatusForbidden && !(r.status == http.StatusSeeOther && strings.HasPrefix(loc, "/login")) {
				t.Errorf("signed out POST: %d to %q, want 403 or the sign-in form", r.status, loc)
			}
			if method == http.MethodPost {
				if r := e.form(path, outsider, url.Values{}, nil); r.status != http.StatusForbidden {
					t.Errorf("POST without the CSRF token: %d, want 403", r.status)
				}
			}
			if pg.access != pageProject {
				return
			}
			send := func(path string) *reply {
				if method == http.MethodPost {
					return e.form(path, outsider, url.Values{"csrf": {csrf}}, nil)
				}
				return e.getWithCookie(path, outsider)
			}
			r = send(path)
			missing := send(strings.Replace(path, "/slipway/demo", "/slipway/nope", 1))
			if r.status != http.StatusNotFound || missing.status != http.StatusNotFound || string(r.body) != string(missing.body) {
				t.Errorf("a private project to a non-member: %d, a missing one: %d (bodies equal: %v); want 404 alike",
					r.status, missing.status, string(r.body) == string(missing.body))
			}
		})
	}
}

// TestPageHeaders: pages carry the CSP and the other security headers, and the sign-in form
// renders with the inputs scripts and browsers fill.
func TestPageHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	r := e.getWithCookie("/login", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /login: %s", r)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"Referrer-Policy":         "same-origin",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := r.header.Get(k); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q in it", k, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	for _, want := range []string{`name="username"`, `name="password"`, `name="next"`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("the sign-in form lacks %s", want)
		}
	}
	if r := e.getWithCookie("/-/assets/nope.css", ""); r.status != http.StatusNotFound {
		t.Errorf("a missing asset: %d", r.status)
	}
	// The job log's script: kept for good at its hashed URL, revalidated at another.
	u := logAssetURL("log.js")
	if r := e.getWithCookie(u, ""); r.status != http.StatusOK || !strings.Contains(r.header.Get("Cache-Control"), "immutable") ||
		r.header.Get("ETag") == "" || !strings.Contains(r.header.Get("Content-Type"), "javascript") {
		t.Errorf("GET %s: %d %v", u, r.status, r.header)
	}
	if r := e.getWithCookie(logAssetPrefix+"log.js?v=old", ""); r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("log.js at an old hash: %d %q", r.status, r.header.Get("Cache-Control"))
	}
	if r := e.getWithCookie(logAssetPrefix+"nope.js", ""); r.status != http.StatusNotFound {
		t.Errorf("a missing log asset: %d", r.status)
	}
}
