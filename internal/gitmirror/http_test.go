package gitmirror

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// serve serves m with a handler that lets in the password "token" for project 1 only, and
// fails to check the password "outage".
func serve(t *testing.T, m *Mirrors) *httptest.Server {
	t.Helper()
	h := m.Handler(func(r *http.Request, projectID int64) (bool, error) {
		_, pass, ok := r.BasicAuth()
		if pass == "outage" {
			return false, errors.New("store down")
		}
		return ok && pass == "token" && projectID == 1, nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// client runs git as a runner would, with no credential helper and no prompt.
func client(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), testEnv...)
	cmd.Env = append(cmd.Env, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func repoURL(srv *httptest.Server, user, pass string, id string) string {
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword(user, pass)
	u.Path = "/git/" + id + ".git"
	return u.String()
}

func TestHandler(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	old := src.commit("one", map[string]string{"a.txt": "1"})
	src.commit("two", map[string]string{"a.txt": "2"})
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	mustSync(t, m, 2, src.dir)
	srv := serve(t, m)
	work := t.TempDir()

	// A full clone checks out the default branch.
	if out, err := client(t, work, "clone", "-q", repoURL(srv, "gitlab-ci-token", "token", "1"), "full"); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if data, err := os.ReadFile(filepath.Join(work, "full", "a.txt")); err != nil || string(data) != "2" {
		t.Errorf("cloned a.txt = %q, %v", data, err)
	}

	// What a runner does: fetch one commit, shallow, by SHA (here one no branch points at).
	shallow := filepath.Join(work, "shallow")
	if out, err := client(t, work, "init", "-q", shallow); err != nil {
		t.Fatal(err, out)
	}
	for _, args := range [][]string{
		{"remote", "add", "origin", repoURL(srv, "gitlab-ci-token", "token", "1")},
		{"-c", "protocol.version=2", "fetch", "-q", "--depth", "1", "origin", old},
		{"-c", "protocol.version=0", "fetch", "-q", "--depth", "1", "origin", old},
		{"checkout", "-q", old},
	} {
		if out, err := client(t, shallow, args...); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, _ := client(t, shallow, "rev-list", "--count", "HEAD"); strings.TrimSpace(out) != "1" {
		t.Errorf("shallow fetch has %s commits; want 1", out)
	}

	// Refused: a wrong password, another project's mirror, a push.
	for _, tt := range []struct {
		name string
		args []string
		dir  string
		want string
	}{
		{"wrong password", []string{"ls-remote", repoURL(srv, "gitlab-ci-token", "wrong", "1")}, work, "401"},
		{"other project", []string{"ls-remote", repoURL(srv, "gitlab-ci-token", "token", "2")}, work, "401"},
		{"missing mirror", []string{"ls-remote", repoURL(srv, "gitlab-ci-token", "token", "01")}, work, "not found"},
		{"push", []string{"push", "origin", "HEAD:refs/heads/pushed"}, filepath.Join(work, "full"), "403"},
	} {
		out, err := client(t, tt.dir, tt.args...)
		if err == nil {
			t.Errorf("%s: git %s succeeded\n%s", tt.name, tt.args[0], out)
		} else if !strings.Contains(out, tt.want) && !strings.Contains(out, "Authentication failed") {
			t.Errorf("%s: git said %q; want it to mention %q", tt.name, out, tt.want)
		}
	}
	if _, err := m.Resolve(t.Context(), 1, "pushed"); err == nil {
		t.Error("the push reached the mirror")
	}
}

func TestHandlerRequests(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	src.commit("one", nil)
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	srv := serve(t, m)
	for _, tt := range []struct {
		name, method, path string
		auth               string
		want               int
	}{
		{"refs", "GET", "/git/1.git/info/refs?service=git-upload-pack", "token", 200},
		{"no auth", "GET", "/git/1.git/info/refs?service=git-upload-pack", "", 401},
		{"credentials not checked", "GET", "/git/1.git/info/refs?service=git-upload-pack", "outage", 503},
		{"receive-pack refs", "GET", "/git/1.git/info/refs?service=git-receive-pack", "token", 403},
		{"receive-pack", "POST", "/git/1.git/git-receive-pack", "token", 403},
		{"dumb", "GET", "/git/1.git/info/refs", "token", 403},
		{"objects", "GET", "/git/1.git/HEAD", "token", 403},
		{"config", "GET", "/git/1.git/config", "token", 403},
		{"traversal", "GET", "/git/1.git/../../etc/passwd", "token", 403},
		{"not a number", "GET", "/git/x.git/info/refs?service=git-upload-pack", "token", 404},
		{"outside", "GET", "/other", "token", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.SetBasicAuth("x", tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.want == 503 && (resp.Header.Get("Retry-After") == "" || resp.Header.Get("WWW-Authenticate") != "") {
				t.Errorf("503 with Retry-After %q, WWW-Authenticate %q", resp.Header.Get("Retry-After"), resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
