package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/store"
)

const oneJob = `
build:
  script: echo hi
`

// wildcard matches a path wildcard of a route pattern.
var wildcard = regexp.MustCompile(`\{([a-z]+)(\.\.\.)?\}`)

// fillPath puts sample values in a pattern's path wildcards.
func fillPath(path string) string {
	return wildcard.ReplaceAllStringFunc(path, func(w string) string {
		switch name := wildcard.FindStringSubmatch(w)[1]; name {
		case "key":
			return "k"
		case "forge":
			return "github"
		case "namespace":
			return "slipway"
		default:
			return "1"
		}
	})
}

func TestRoutesNeedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	e.project("demo", "")
	routes := e.srv.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes")
	}

	var public []string
	for pattern, auth := range routes {
		if auth == authPublic {
			public = append(public, pattern)
		}
	}
	sort.Strings(public)
	wantPublic := []string{
		"GET /healthz",
		"GET /metrics",
		"GET /{namespace}/{project}/badge.svg",
		"GET /{namespace}/{project}/coverage.svg",
		"POST /hooks/{forge}/{project}",
	}
	if strings.Join(public, "\n") != strings.Join(wantPublic, "\n") {
		t.Errorf("public routes:\n%s\nwant exactly:\n%s", strings.Join(public, "\n"), strings.Join(wantPublic, "\n"))
	}

	for pattern, auth := range routes {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Errorf("route %q has no method", pattern)
			continue
		}
		if !strings.HasPrefix(path, "/api/") {
			if auth != authPublic {
				t.Errorf("route %q outside /api/ has auth %q", pattern, auth)
			}
			continue
		}
		if auth == authPublic {
			t.Errorf("route %q under /api/ is public", pattern)
		}
		t.Run(pattern, func(t *testing.T) {
			t.Parallel()
			url := fillPath(path)
			if pattern == "POST /api/v1/runners" {
				r := e.do(method, url, "", map[string]string{"token": "wrong"}, nil)
				if r.status != http.StatusUnauthorized {
					t.Errorf("wrong registration token: got %s, want 401", r)
				}
				return
			}
			for _, tc := range []struct {
				name   string
				header http.Header
			}{
				{"no token", nil},
				{"bogus bearer", http.Header{"Authorization": {"Bearer slp_bogus"}}},
				{"not bearer", http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}},
			} {
				r := e.do(method, url, "", "{}", tc.header)
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s: got %s, want 401", tc.name, r)
				}
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
				}
			}
		})
	}

	// Every API route of one project names the role it takes there (reading at least), so
	// that no project route forgets to check its callers.
	for _, rt := range e.srv.routes {
		_, path, _ := strings.Cut(rt.pattern, " ")
		scoped := strings.HasPrefix(path, "/api/v1/projects/{id}") || strings.HasPrefix(path, "/api/v1/pipelines/{id}") ||
			strings.HasPrefix(path, "/api/v1/jobs/{id}")
		if scoped && takesAPIToken(rt.auth) && rt.role < store.RoleReporter {
			t.Errorf("route %q of a project takes API tokens and checks no role", rt.pattern)
		}
		if !scoped && rt.role != store.RoleNone {
			t.Errorf("route %q names a role but no project", rt.pattern)
		}
	}

	t.Run("git without a job token", func(t *testing.T) {
		t.Parallel()
		for _, h := range []http.Header{nil, {"Authorization": {"Bearer " + adminToken}}} {
			r := e.do("GET", "/api/v1/git/1.git/info/refs?service=git-upload-pack", "", nil, h)
			if r.status != http.StatusUnauthorized {
				t.Errorf("git info/refs with %v: got %s, want 401", h, r)
			}
		}
	})
}

func TestTokenKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	var tok struct {
		Token string `json:"token"`
		Kind  string `json:"kind"`
	}
	e.api("POST", "/api/v1/tokens", map[string]string{"name": "ci"}, http.StatusCreated, &tok)
	if tok.Kind != "user" || !strings.HasPrefix(tok.Token, "slu_") {
		t.Fatalf("new token %+v", tok)
	}
	runner := e.mustRegister("r")
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"user token reads the API", "GET", "/api/v1/projects", tok.Token, nil, http.StatusOK},
		{"user token may not make tokens", "POST", "/api/v1/tokens", tok.Token, map[string]string{"name": "x"}, http.StatusForbidden},
		{"user token may not delete runners", "DELETE", "/api/v1/runners/1", tok.Token, nil, http.StatusForbidden},
		{"registration token is no API token", "GET", "/api/v1/projects", regToken, nil, http.StatusForbidden},
		{"runner token is no API token", "GET", "/api/v1/projects", runner, nil, http.StatusUnauthorized},
		{"API token is no runner token", "POST", "/api/v1/jobs/request", adminToken, map[string]any{}, http.StatusUnauthorized},
		{"bogus job token", "PUT", "/api/v1/jobs/1", "slj_0000", map[string]string{"state": "running"}, http.StatusUnauthorized},
		{"healthz is public", "GET", "/healthz", "", nil, http.StatusOK},
		{"unknown forge", "POST", "/hooks/bitbucket/1", "", "{}", http.StatusNotFound},
		{"unknown project hook", "POST", "/hooks/github/99", "", "{}", http.StatusNotFound},
		{"unknown project", "GET", "/api/v1/projects/99", adminToken, nil, http.StatusNotFound},
		{"bad id", "GET", "/api/v1/projects/x", adminToken, nil, http.StatusNotFound},
		{"unknown JSON field", "POST", "/api/v1/projects", adminToken, map[string]string{"nmae": "x"}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(tc.method, tc.path, tc.token, tc.body, nil)
			if r.status != tc.want {
				t.Errorf("got %s, want %d", r, tc.want)
			}
			if r.status >= 400 && r.header.Get("Content-Type") == "application/json" {
				var body struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
					t.Errorf("error body %s: want {\"error\": …}", r.body)
				}
			}
		})
	}
}
