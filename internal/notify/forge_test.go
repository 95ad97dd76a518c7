package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/internal/status"
)

// forgeRequest is what the fake forge API saw.
type forgeRequest struct {
	method, path string // path as escaped on the wire
	header       http.Header
	body         map[string]string
}

// fakeForge answers every request with status and body, recording it.
func fakeForge(t *testing.T, status int, answer string) (*httptest.Server, func() []forgeRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []forgeRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %q is not a JSON object of strings: %v", b, err)
		}
		mu.Lock()
		reqs = append(reqs, forgeRequest{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []forgeRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]forgeRequest(nil), reqs...)
	}
}

const testSHA = "0123456789abcdef0123456789abcdef01234567"

func TestForgeStatus(t *testing.T) {
	t.Parallel()
	statuses := []status.Status{"created", "pending", "running", "manual", "success", "warning", "failed", "canceled", "skipped"}
	forges := []struct {
		name, kind, repo string
		path             string
		auth             func(h http.Header) bool
		nameField        string
		states           []string // by statuses
	}{
		{
			name: "github", kind: "github", repo: "octo/app",
			path: "/repos/octo/app/statuses/" + testSHA,
			auth: func(h http.Header) bool {
				return h.Get("Authorization") == "Bearer tok-123" && h.Get("Accept") == "application/vnd.github+json"
			},
			nameField: "context",
			states:    []string{"pending", "pending", "pending", "pending", "success", "success", "failure", "error", "error"},
		},
		{
			name: "gitlab path", kind: "gitlab", repo: "grp/sub/app",
			path:      "/api/v4/projects/grp%2Fsub%2Fapp/statuses/" + testSHA,
			auth:      func(h http.Header) bool { return h.Get("PRIVATE-TOKEN") == "tok-123" && h.Get("Authorization") == "" },
			nameField: "name",
			states:    []string{"pending", "pending", "running", "pending", "success", "success", "failed", "canceled", "canceled"},
		},
		{
			name: "gitlab escaped path", kind: "gitlab", repo: "grp%2Fapp",
			path:      "/api/v4/projects/grp%2Fapp/statuses/" + testSHA,
			auth:      func(h http.Header) bool { return h.Get("PRIVATE-TOKEN") == "tok-123" },
			nameField: "name",
			states:    []string{"pending", "pending", "running", "pending", "success", "success", "failed", "canceled", "canceled"},
		},
		{
			name: "gitlab id", kind: "gitlab", repo: "42",
			path:      "/api/v4/projects/42/statuses/" + testSHA,
			auth:      func(h http.Header) bool { return h.Get("PRIVATE-TOKEN") == "tok-123" },
			nameField: "name",
			states:    []string{"pending", "pending", "running", "pending", "success", "success", "failed", "canceled", "canceled"},
		},
		{
			name: "gitea", kind: "gitea", repo: "octo/app",
			path:      "/api/v1/repos/octo/app/statuses/" + testSHA,
			auth:      func(h http.Header) bool { return h.Get("Authorization") == "token tok-123" },
			nameField: "context",
			states:    []string{"pending", "pending", "pending", "pending", "success", "warning", "failure", "error", "error"},
		},
	}
	for _, fg := range forges {
		t.Run(fg.name, func(t *testing.T) {
			t.Parallel()
			srv, got := fakeForge(t, http.StatusCreated, `{"id":1}`)
			f := &Forge{Kind: fg.kind, URL: srv.URL + "/", Repo: fg.repo, Token: "tok-123", Client: srv.Client()}
			for _, st := range statuses {
				p := testPipeline()
				p.Status = st
				if err := f.Status(testCtx(t), p); err != nil {
					t.Fatalf("%s: %v", st, err)
				}
			}
			reqs := got()
			if len(reqs) != len(statuses) {
				t.Fatalf("%d requests, want %d", len(reqs), len(statuses))
			}
			for i, r := range reqs {
				st := statuses[i]
				if r.method != http.MethodPost || r.path != fg.path {
					t.Errorf("%s: %s %s, want POST %s", st, r.method, r.path, fg.path)
				}
				if !fg.auth(r.header) {
					t.Errorf("%s: wrong auth headers %v", st, r.header)
				}
				if r.header.Get("Content-Type") != "application/json" {
					t.Errorf("%s: Content-Type %q", st, r.header.Get("Content-Type"))
				}
				if r.body["state"] != fg.states[i] {
					t.Errorf("%s: state %q, want %q", st, r.body["state"], fg.states[i])
				}
				if r.body["target_url"] != "https://ci.example.com/grp/app/-/pipelines/1042" {
					t.Errorf("%s: target_url %q", st, r.body["target_url"])
				}
				if r.body[fg.nameField] != "slipway" {
					t.Errorf("%s: %s %q, want slipway", st, fg.nameField, r.body[fg.nameField])
				}
				if d := r.body["description"]; !strings.HasPrefix(d, "Pipeline #7 ") || len(d) > 140 {
					t.Errorf("%s: description %q", st, d)
				}
			}
			if reqs[6].body["description"] != "Pipeline #7 failed" {
				t.Errorf("description %q, want %q", reqs[6].body["description"], "Pipeline #7 failed")
			}
		})
	}
}

func TestForgeContext(t *testing.T) {
	t.Parallel()
	srv, got := fakeForge(t, http.StatusCreated, `{}`)
	f := &Forge{Kind: "github", URL: srv.URL, Repo: "octo/app", Token: "t", Context: "slipway/grp/app"}
	if err := f.Status(testCtx(t), testPipeline()); err != nil {
		t.Fatal(err)
	}
	if reqs := got(); len(reqs) != 1 || reqs[0].body["context"] != "slipway/grp/app" {
		t.Fatalf("requests %+v, want context slipway/grp/app", reqs)
	}
}

func TestForgeErrors(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"github", "gitlab", "gitea"} {
		for _, status := range []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusInternalServerError} {
			t.Run(kind+" "+http.StatusText(status), func(t *testing.T) {
				t.Parallel()
				srv, _ := fakeForge(t, status, `{"message":"Bad credentials"}`)
				f := &Forge{Kind: kind, URL: srv.URL, Repo: "octo/app", Token: "tok-secret-123"}
				err := f.Status(testCtx(t), testPipeline())
				if err == nil {
					t.Fatal("no error")
				}
				if strings.Contains(err.Error(), "tok-secret-123") {
					t.Errorf("the error shows the token: %v", err)
				}
				if !strings.Contains(err.Error(), "Bad credentials") {
					t.Errorf("the error %q does not quote the answer", err)
				}
			})
		}
	}

	t.Run("gitlab unchanged status", func(t *testing.T) {
		t.Parallel()
		srv, got := fakeForge(t, http.StatusBadRequest,
			`{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`)
		f := &Forge{Kind: "gitlab", URL: srv.URL, Repo: "42", Token: "t"}
		p := testPipeline()
		p.Status = "running"
		if err := f.Status(testCtx(t), p); err != nil {
			t.Fatalf("err %v, want none for a status GitLab already has", err)
		}
		if n := len(got()); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		srv, got := fakeForge(t, http.StatusCreated, `{}`)
		tests := []struct {
			name string
			f    Forge
			edit func(p *Pipeline)
		}{
			{name: "unknown kind", f: Forge{Kind: "bitbucket", Repo: "o/r"}},
			{name: "github repo without owner", f: Forge{Kind: "github", Repo: "app"}},
			{name: "gitea repo with two slashes", f: Forge{Kind: "gitea", Repo: "o/r/x"}},
			{name: "gitlab without project", f: Forge{Kind: "gitlab"}},
			{name: "no token", f: Forge{Kind: "github", Repo: "o/r", Token: "-"}},
			{name: "unknown status", f: Forge{Kind: "github", Repo: "o/r"}, edit: func(p *Pipeline) { p.Status = "exploded" }},
			{name: "SHA not hex", f: Forge{Kind: "github", Repo: "o/r"}, edit: func(p *Pipeline) { p.SHA = "../../x" }},
			{name: "no SHA", f: Forge{Kind: "github", Repo: "o/r"}, edit: func(p *Pipeline) { p.SHA = "" }},
		}
		for _, tt := range tests {
			f := tt.f
			f.URL = srv.URL
			switch f.Token {
			case "":
				f.Token = "t"
			case "-":
				f.Token = ""
			}
			p := testPipeline()
			if tt.edit != nil {
				tt.edit(&p)
			}
			if err := f.Status(testCtx(t), p); err == nil {
				t.Errorf("%s: no error", tt.name)
			}
		}
		if n := len(got()); n != 0 {
			t.Errorf("%d requests reached the forge, want none", n)
		}
	})
}
