package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

const (
	adminToken = "serverbench-admin-token-0123456789abcdef"
	regToken   = "serverbench-registration-token-0123456789"
	hookSecret = "serverbench-webhook-secret"
)

// server is one `slipway server` process on 127.0.0.1 with a fresh data dir (and, for
// Postgres, a fresh schema).
type server struct {
	cmd    *exec.Cmd
	done   chan struct{}
	url    string
	data   string
	logf   string
	client *http.Client
	dropDB func() // drops the Postgres schema; nil for SQLite
}

// startServer starts the binary with `server --runners N` and waits for /healthz. db is
// "sqlite" or "postgres" (then pgDSN is the database, and a schema of its own is made).
func startServer(ctx context.Context, o *opts, dir, db string, runners int, client *http.Client) (*server, error) {
	data := filepath.Join(dir, "data")
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The dispatch benchmark triggers its pipelines through the API as fast as it can: past
	// the default trigger rate of a project.
	args := []string{"server", "--data", data, "--addr", addr, "--runners", strconv.Itoa(runners), "--max-pipeline-rate", "1000000"}
	if o.heartbeat > 0 {
		args = append(args, "--heartbeat", o.heartbeat.String())
	}
	s := &server{url: "http://" + addr, data: data, logf: filepath.Join(dir, "server.log"), client: client, done: make(chan struct{})}
	switch db {
	case "sqlite":
	case "postgres":
		dsn, drop, err := freshSchema(ctx, o.pgDSN)
		if err != nil {
			return nil, err
		}
		s.dropDB = drop
		args = append(args, "--db", dsn)
	default:
		return nil, fmt.Errorf("-db %q: want sqlite or postgres", db)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.stop()
		return nil, err
	}
	logFile, err := os.Create(s.logf)
	if err != nil {
		s.stop()
		return nil, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(o.bin, args...)
	s.cmd.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN="+adminToken, "SLIPWAY_REGISTRATION_TOKEN="+regToken)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.stop()
		return nil, fmt.Errorf("start %s: %w", o.bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitHealthy(ctx, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) waitHealthy(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/healthz", nil)
		resp, err := s.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("server exited:\n%s", s.logTail())
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("server did not answer /healthz in %s:\n%s", d, s.logTail())
}

// stop kills the server's process group, waits for it and drops its schema. Idempotent.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
			}
		}
	}
	if s.dropDB != nil {
		s.dropDB()
		s.dropDB = nil
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logf)
	lines := strings.Split(string(b), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// procStatus reads a field such as VmRSS (in kB) of the server process.
func (s *server) procStatus(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", s.cmd.Process.Pid, field)
}

// call sends a JSON request with a bearer token and decodes a JSON answer into out when
// the status is want; any other status is an error carrying the body.
func (s *server) call(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return nil
}

// createProject makes a project for the git repository at dir and returns its id.
func (s *server) createProject(ctx context.Context, name, dir string) (int64, error) {
	var p struct {
		ID int64 `json:"id"`
	}
	err := s.call(ctx, http.MethodPost, "/api/v1/projects", adminToken, map[string]string{
		"name": name, "clone_url": dir, "default_branch": "main", "webhook_secret": hookSecret,
	}, &p, http.StatusCreated)
	return p.ID, err
}

// registerRunner registers a runner and returns its token.
func (s *server) registerRunner(ctx context.Context, name string) (string, error) {
	var r struct {
		Token string `json:"token"`
	}
	err := s.call(ctx, http.MethodPost, "/api/v1/runners", "", map[string]any{
		"token": regToken, "name": name, "executor": "shell", "run_untagged": true,
	}, &r, http.StatusCreated)
	return r.Token, err
}

// pendingJobs reads slipway_jobs{status="pending"} from /metrics.
func (s *server) pendingJobs(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `slipway_jobs{status="pending"} `); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, nil // no pending job: the series is absent
}

// freshSchema creates a schema of its own in the database at dsn and returns a DSN whose
// search_path names it, and a function that drops it.
func freshSchema(ctx context.Context, dsn string) (string, func(), error) {
	if dsn == "" {
		return "", nil, errors.New("-pg-dsn is required for -db postgres")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("-pg-dsn: %w", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("serverbench_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(dctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "serverbench: drop schema %s: %v\n", schema, err)
		}
		db.Close()
	}
	return u.String(), drop, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// gitRepo is a local git repository on branch main.
type gitRepo struct{ dir string }

func (g gitRepo) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.test",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.test", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// newRepo makes a repository at dir with .gitlab-ci.yml committed on main.
func newRepo(ctx context.Context, dir, ciYAML string) (gitRepo, error) {
	g := gitRepo{dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return g, err
	}
	if _, err := g.git(ctx, "init", "-q", "-b", "main"); err != nil {
		return g, err
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ciYAML), 0o644); err != nil {
		return g, err
	}
	if _, err := g.git(ctx, "add", "."); err != nil {
		return g, err
	}
	_, err := g.git(ctx, "commit", "-qm", "first commit")
	return g, err
}

// commit makes an empty commit on main and returns its SHA.
func (g gitRepo) commit(ctx context.Context, msg string) (string, error) {
	if _, err := g.git(ctx, "commit", "-q", "--allow-empty", "-m", msg); err != nil {
		return "", err
	}
	return g.git(ctx, "rev-parse", "HEAD")
}
