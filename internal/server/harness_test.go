package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// Tokens every test server is bootstrapped with.
const (
	adminToken = "slp_test-admin-token-0123456789abcdef"
	regToken   = "slr_test-registration-token-0123456789"
)

// env is one server under test: a SQLite store in a temporary directory, a git repository
// to build, the HTTP API on an httptest.Server and the background loops running.
type env struct {
	t    *testing.T
	srv  *Server
	url  string
	repo string // the work tree of the project's repository
	hc   *http.Client
	keys atomic.Int64 // request keys
}

// newEnv starts a server whose project repository has ci as its .gitlab-ci.yml; opt
// adjusts the Options (URL, Store and Data are set first).
func newEnv(t *testing.T, ci string, opt ...func(*Options)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "slipway.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ts := httptest.NewUnstartedServer(nil)
	o := Options{
		Store: st, Data: filepath.Join(dir, "data"), URL: "http://" + ts.Listener.Addr().String(),
		// Long leases, so that a slow test run never loses a job; heartbeat tests shorten it.
		Heartbeat: 10 * time.Second,
		// Cheap password hashes: tests sign in often.
		BcryptCost: bcrypt.MinCost,
	}
	for _, f := range opt {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if _, _, err := srv.Bootstrap(ctx, adminToken, regToken); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	e := &env{t: t, srv: srv, url: ts.URL, hc: ts.Client(), repo: filepath.Join(dir, "repo")}
	e.git("init", "-q", "-b", "main", e.repo)
	e.commit(map[string]string{".gitlab-ci.yml": ci}, "first commit")
	return e
}

// git runs git in the repository and returns its trimmed output.
func (e *env) git(args ...string) string {
	e.t.Helper()
	if args[0] != "init" {
		args = append([]string{"-C", e.repo}, args...)
	}
	cmd := exec.Command("git", append([]string{"-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com",
		"-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files, commits them with message and returns the new HEAD.
func (e *env) commit(files map[string]string, message string) string {
	e.t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(e.repo, name), []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.git("add", "-A")
	e.git("commit", "-q", "--allow-empty", "-m", message)
	return e.head()
}

func (e *env) head() string { e.t.Helper(); return e.git("rev-parse", "HEAD") }

// reply is an HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r *reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// send makes a request. body is nil (none), []byte or string (as is), or a value sent as
// JSON; token, when set, goes in a Bearer Authorization header. It is safe to call from
// any goroutine.
func (e *env) send(method, path, token string, body any, header http.Header) (*reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// do is send that fails the test on a transport error.
func (e *env) do(method, path, token string, body any, header http.Header) *reply {
	e.t.Helper()
	r, err := e.send(method, path, token, body, header)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// api calls the API with the admin token, expects status and decodes the answer into out
// (when not nil).
func (e *env) api(method, path string, body any, status int, out any) *reply {
	e.t.Helper()
	r := e.do(method, path, adminToken, body, nil)
	if r.status != status {
		e.t.Fatalf("%s %s: got %s, want %d", method, path, r, status)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// project creates a project building the test repository and returns its ID.
func (e *env) project(name, secret string) int64 {
	e.t.Helper()
	var p struct {
		ID   int64  `json:"id"`
		Path string `json:"path"`
	}
	e.api("POST", "/api/v1/projects", map[string]any{"name": name, "clone_url": e.repo, "webhook_secret": secret}, http.StatusCreated, &p)
	if p.ID == 0 || p.Path != "slipway/"+name {
		e.t.Fatalf("created project %+v", p)
	}
	return p.ID
}

// pipelineJSON and jobJSON are the API's pipeline and job, as far as the tests read them.
type pipelineJSON struct {
	ID       int64         `json:"id"`
	Status   status.Status `json:"status"`
	Ref      string        `json:"ref"`
	SHA      string        `json:"sha"`
	Source   string        `json:"source"`
	Coverage *float64      `json:"coverage"`
	Jobs     []jobJSON     `json:"jobs"`
	Retried  []jobJSON     `json:"retried"`
}

type jobJSON struct {
	ID            int64         `json:"id"`
	Name          string        `json:"name"`
	Stage         string        `json:"stage"`
	Status        status.Status `json:"status"`
	FailureReason status.Reason `json:"failure_reason"`
	Attempt       int           `json:"attempt"`
	Retried       bool          `json:"retried"`
}

// trigger starts a pipeline of ref through the API.
func (e *env) trigger(projectID int64, ref string, vars map[string]string) pipelineJSON {
	e.t.Helper()
	var p pipelineJSON
	e.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", projectID), map[string]any{"ref": ref, "variables": vars}, http.StatusCreated, &p)
	return p
}

func (e *env) pipeline(id int64) pipelineJSON {
	e.t.Helper()
	var p pipelineJSON
	e.api("GET", fmt.Sprintf("/api/v1/pipelines/%d", id), nil, http.StatusOK, &p)
	return p
}

func (e *env) pipelines(projectID int64) []pipelineJSON {
	e.t.Helper()
	var ps []pipelineJSON
	e.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", projectID), nil, http.StatusOK, &ps)
	return ps
}

// statuses maps a pipeline's current jobs' names to their statuses.
func (p pipelineJSON) statuses() map[string]status.Status {
	m := map[string]status.Status{}
	for _, j := range p.Jobs {
		m[j.Name] = j.Status
	}
	return m
}

func (p pipelineJSON) job(name string) jobJSON {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return jobJSON{}
}

// register registers a runner with the registration token and returns its token.
func (e *env) register(name string) (string, error) {
	r, err := e.send("POST", "/api/v1/runners", "", jobapi.RegisterRequest{Version: jobapi.Version, Token: regToken, Name: name}, nil)
	if err != nil {
		return "", err
	}
	var out jobapi.RegisterResponse
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &out) != nil || out.Token == "" {
		return "", fmt.Errorf("register runner: %s", r)
	}
	return out.Token, nil
}

func (e *env) mustRegister(name string) string {
	e.t.Helper()
	tok, err := e.register(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// request asks for a job with a short long poll: nil when none came (204).
func (e *env) request(runnerToken string) (*jobapi.Job, error) {
	key := fmt.Sprintf("req-%d", e.keys.Add(1))
	r, err := e.send("POST", jobapi.PathRequest, runnerToken, jobapi.JobRequest{Version: jobapi.Version, Key: key, WaitSeconds: 0.2}, nil)
	if err != nil {
		return nil, err
	}
	switch r.status {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusCreated:
		var j jobapi.Job
		if err := json.Unmarshal(r.body, &j); err != nil {
			return nil, fmt.Errorf("decode job: %w", err)
		}
		return &j, nil
	}
	return nil, fmt.Errorf("request job: %s", r)
}

// claim requests jobs until one named name comes, within the deadline.
func (e *env) claim(runnerToken, name string) *jobapi.Job {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		j, err := e.request(runnerToken)
		if err != nil {
			e.t.Fatal(err)
		}
		if j == nil {
			continue
		}
		if j.Spec == nil || j.Spec.Name != name {
			e.t.Fatalf("claimed job %d %q, want %q", j.ID, j.Spec.Name, name)
		}
		return j
	}
	e.t.Fatalf("no job %q came within 10 s", name)
	return nil
}

// appendLog sends a log chunk at offset with the job's token.
func (e *env) appendLog(j *jobapi.Job, offset int64, data string) *reply {
	e.t.Helper()
	h := http.Header{"Content-Range": {jobapi.ContentRange(offset, len(data))}, "Content-Type": {"text/plain"}}
	return e.do("PATCH", jobapi.PathLog(j.ID), j.Token, data, h)
}

// update sends a job update with the job's token.
func (e *env) update(j *jobapi.Job, u jobapi.Update) *reply {
	e.t.Helper()
	return e.do("PUT", jobapi.PathJob(j.ID), j.Token, u, nil)
}

// finish ends a job with state and no log, expecting 200.
func (e *env) finish(j *jobapi.Job, state status.Status) {
	e.t.Helper()
	u := jobapi.Update{State: state}
	if state == status.Failed {
		u.FailureReason, u.ExitCode = status.ScriptFailure, 1
	}
	if r := e.update(j, u); r.status != http.StatusOK {
		e.t.Fatalf("finish job %d %s: %s", j.ID, state, r)
	}
}

// eventually polls cond until it holds, or fails the test after a deadline with what cond
// said last.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not after %v: %s", timeout, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPipeline polls a pipeline until it has status.
func (e *env) waitPipeline(id int64, want status.Status) {
	e.t.Helper()
	eventually(e.t, 10*time.Second, func() (bool, string) {
		st := e.pipeline(id).Status
		return st == want, fmt.Sprintf("pipeline %d: want %s, have %s", id, want, st)
	})
}
