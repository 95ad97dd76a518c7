package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// panicStore is a store with a bug: once armed, the methods it names panic.
type panicStore struct {
	store.Store
	armed atomic.Bool
	on    string
}

func (s *panicStore) check(method string) {
	if s.armed.Load() && s.on == method {
		_ = []int{}[len(method)] // a runtime error, as a bug would make
	}
}

func (s *panicStore) ProjectByPath(ctx context.Context, path string) (*store.Project, error) {
	s.check("ProjectByPath")
	return s.Store.ProjectByPath(ctx, path)
}

func (s *panicStore) ListProjects(ctx context.Context) ([]*store.Project, error) {
	s.check("ListProjects")
	return s.Store.ListProjects(ctx)
}

func (s *panicStore) Variables(ctx context.Context, projectID int64) ([]*store.Variable, error) {
	s.check("Variables")
	return s.Store.Variables(ctx, projectID)
}

// syncBuffer is a bytes.Buffer for a logger written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newPanicEnv is a server whose store panics in method once armed, logging at debug level
// into the returned buffer.
func newPanicEnv(t *testing.T, ci, method string, opt ...func(*Options)) (*env, *panicStore, *syncBuffer) {
	t.Helper()
	ps := &panicStore{on: method}
	logs := &syncBuffer{}
	e := newEnv(t, ci, append([]func(*Options){func(o *Options) {
		ps.Store = o.Store
		o.Store = ps
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}, opt...)...)
	return e, ps, logs
}

// TestAttackPanicInPipelineCreation: a panic while the configuration is loaded (injected in
// the store that include:project reads) answers 500 naming the configuration's file and line
// being read, keeps the stack for the debug log only, and leaves the server serving.
func TestAttackPanicInPipelineCreation(t *testing.T) {
	e, ps, logs := newPanicEnv(t, "include:\n  - project: group/lib\n    file: lib.yml\njob:\n  script: [\"true\"]\n", "ProjectByPath")
	id := e.project("app", "")
	ps.armed.Store(true)
	r := e.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, http.StatusInternalServerError, nil)
	body := string(r.body)
	if !strings.Contains(body, ".gitlab-ci.yml:2:5: internal error while reading this") || strings.Contains(body, "goroutine") {
		t.Errorf("answer %s, want the file and line being read and no stack", r)
	}
	if !strings.Contains(logs.String(), "goroutine") {
		t.Error("the stack is not in the debug log")
	}
	ps.armed.Store(false)
	e.api("GET", "/api/v1/projects", nil, http.StatusOK, nil)
}

// TestAttackPanicInHandler: a panic in a handler (injected in the store it reads) answers
// 500 "internal error" — its value and stack go to the log — and the server goes on.
func TestAttackPanicInHandler(t *testing.T) {
	e, ps, logs := newPanicEnv(t, "job:\n  script: [\"true\"]\n", "ListProjects")
	ps.armed.Store(true)
	r := e.api("GET", "/api/v1/projects", nil, http.StatusInternalServerError, nil)
	if got := strings.TrimSpace(string(r.body)); got != `{"error":"internal error"}` {
		t.Errorf("answer %s", got)
	}
	if l := logs.String(); !strings.Contains(l, "index out of range") || !strings.Contains(l, "goroutine") {
		t.Errorf("log lacks the panic or its stack:\n%s", l)
	}
	ps.armed.Store(false)
	e.api("GET", "/api/v1/projects", nil, http.StatusOK, nil)
}

// TestAttackPanicInScheduledPipeline: a panic while a schedule creates its pipeline (no HTTP
// handler around it) is logged, and the schedule loop goes on.
func TestAttackPanicInScheduledPipeline(t *testing.T) {
	now := time.Date(2026, 11, 24, 5, 30, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, ps, logs := newPanicEnv(t, "job:\n  script: [\"true\"]\n", "Variables", func(o *Options) { o.Now = clock })
	id := e.project("cron", "")
	e.api("POST", fmt.Sprintf("/api/v1/projects/%d/schedules", id), map[string]any{"cron": "0 6 * * *"}, http.StatusCreated, nil)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	ps.armed.Store(true)
	e.srv.dueSchedules(t.Context())
	if l := logs.String(); !strings.Contains(l, "internal error (a bug in Slipway): runtime error: index out of range") {
		t.Errorf("log lacks the internal error:\n%s", l)
	}
	if n := len(e.pipelines(id)); n != 0 {
		t.Errorf("%d pipelines", n)
	}
}
