// Package e2e tests Slipway as users run it: the slipway binary, built once, started as
// `slipway server` and `slipway runner` processes against a real git repository, driven
// through the HTTP API and signed webhooks, and killed with SIGKILL to prove that nothing is
// lost.
package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/runner"
)

const (
	adminToken = "slp_e2e-admin-token-0123456789abcdef"
	regToken   = "slr_e2e-registration-token-0123456789"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// slipwayBinary builds cmd/slipway once per test process; SLIPWAY_E2E_BINARY names another
// binary to test instead, such as a build of an older commit, to see an attack test fail
// where that commit lacked the fix.
func slipwayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if b := os.Getenv("SLIPWAY_E2E_BINARY"); b != "" {
			binary = b
			return
		}
		dir, err := os.MkdirTemp("", "slipway-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "slipway")
		out, err := exec.Command("go", "build", "-o", binary, "../cmd/slipway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// proc is a slipway process whose output is kept for failure reports.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(slipwayBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, tail(p.out.String(), 60))
		}
	})
	return p
}

// kill sends SIGKILL to the process group (the process and what it started) and waits.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server is a `slipway server` with its data dir and address, restartable.
type server struct {
	t    *testing.T
	addr string
	args []string
	env  []string // more of its environment, beside the tokens
	p    *proc
}

func newServer(t *testing.T, db string, extra ...string) *server {
	s := &server{t: t, addr: freeAddr(t)}
	s.args = append([]string{"server", "--data", filepath.Join(t.TempDir(), "data"), "--addr", s.addr, "--runners", "0"}, extra...)
	if db != "" {
		s.args = append(s.args, "--db", db)
	}
	s.start()
	return s
}

func (s *server) url() string { return "http://" + s.addr }

// in returns s for use by test t (a subtest of the one that started it): its helpers then
// fail t.
func (s *server) in(t *testing.T) *server {
	c := *s
	c.t = t
	return &c
}

func (s *server) start() {
	s.t.Helper()
	s.p = start(s.t, "server", append([]string{"SLIPWAY_ADMIN_TOKEN=" + adminToken, "SLIPWAY_REGISTRATION_TOKEN=" + regToken}, s.env...), s.args...)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.p.done:
			s.t.Fatalf("server exited:\n%s", s.p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.t.Fatalf("server did not answer /healthz:\n%s", s.p.out.String())
}

// api calls the API with the admin token and decodes a JSON answer into out (when not nil).
func (s *server) api(method, path string, body any, out any) int {
	s.t.Helper()
	code, data := s.call(method, path, body)
	if out != nil && code < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			if b, ok := out.(*[]byte); ok {
				*b = data
			} else {
				s.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
			}
		}
	}
	return code
}

// call calls the API with the admin token and returns the answer's status and body.
func (s *server) call(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url()+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// raw GETs a path with the admin token and returns the body.
func (s *server) raw(path string) []byte {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url()+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
	}
	return data
}

// runner registers a `slipway runner` (shell executor, unless flags say otherwise) and
// returns what starts it.
func (s *server) runner(t *testing.T, flags ...string) func() *proc {
	t.Helper()
	cfg, _ := s.registerRunner(t, flags...)
	return func() *proc { return start(t, "runner", nil, "runner", "run", "--config", cfg) }
}

// registerRunner runs `slipway runner register` with flags (default --executor shell) and
// gives the runner builds and cache dirs of its own (a root runner's default builds dir is
// shared with other tests' runners). It returns the configuration's path and content.
func (s *server) registerRunner(t *testing.T, flags ...string) (string, *runner.Config) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "runner.yml")
	args := append([]string{"runner", "register", "--url", s.url(), "--token", regToken,
		"--executor", "shell", "--name", "e2e", "--config", cfg}, flags...)
	out, err := exec.Command(slipwayBinary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("runner register: %v\n%s", err, out)
	}
	c, err := runner.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.BuildsDir = filepath.Join(reachableTempDir(t), "builds")
	c.CacheDir = filepath.Join(t.TempDir(), "cache")
	if err := runner.SaveConfig(cfg, c); err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// gitIn runs git in dir as Ada and returns its trimmed output.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.test",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeFiles writes files (name → content) below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// repo makes a git repository with files, committed on main, and returns its path and the
// commit's SHA.
func repo(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main")
	writeFiles(t, dir, files)
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-qm", "first commit")
	return dir, gitIn(t, dir, "rev-parse", "HEAD")
}

// project creates a project for a repository and returns its id.
func (s *server) project(name, dir, secret string) int64 {
	var p struct{ ID int64 }
	if code := s.api("POST", "/api/v1/projects", map[string]string{
		"name": name, "clone_url": dir, "default_branch": "main", "webhook_secret": secret,
	}, &p); code != http.StatusCreated {
		s.t.Fatalf("create project: %d", code)
	}
	return p.ID
}

// githubPush delivers a signed GitHub push webhook and returns the status and body.
func (s *server) githubPush(projectID int64, secret, delivery, sha string) (int, string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha, "deleted": false,
		"head_commit": map[string]any{"id": sha, "message": "first commit",
			"author": map[string]string{"name": "Ada", "email": "ada@example.test"}},
		"repository": map[string]any{"full_name": "acme/app", "clone_url": "https://example.test/acme/app.git"},
		"pusher":     map[string]string{"name": "ada"},
	})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/hooks/github/%d", s.url(), projectID), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("webhook: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type job struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Stage         string `json:"stage"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
	Attempt       int    `json:"attempt"`
}

type pipelineView struct {
	ID      int64  `json:"id"`
	Status  string `json:"status"`
	Ref     string `json:"ref"`
	SHA     string `json:"sha"`
	Source  string `json:"source"`
	Jobs    []job  `json:"jobs"`
	Retried []job  `json:"retried"`
}

func final(status string) bool {
	switch status {
	case "success", "failed", "canceled", "skipped", "warning":
		return true
	}
	return false
}

// wait polls the pipeline until cond holds or the deadline passes.
func (s *server) wait(id int64, d time.Duration, cond func(p pipelineView) bool) pipelineView {
	s.t.Helper()
	deadline := time.Now().Add(d)
	var p pipelineView
	for {
		s.api("GET", fmt.Sprintf("/api/v1/pipelines/%d", id), nil, &p)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pipeline %d: condition not met in %s; now %+v", id, d, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitUp polls f until it returns true.
func waitUp(t *testing.T, ctx context.Context, what string, f func() bool) {
	t.Helper()
	for !f() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
