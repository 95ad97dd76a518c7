package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// BenchmarkPipelinePage200 is the server's time to answer GET of the page of a 200-job
// pipeline (10 stages of 20 jobs, each needing two of the stage before, with variables and
// a child pipeline) for a signed-in developer: the session, the role, the store's reads
// (SQLite) and the rendering, through the handler. Goal: under 20 ms.
func BenchmarkPipelinePage200(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "slipway.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Store: st, Data: filepath.Join(dir, "data"), URL: "http://ci.example.com", BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	p := &store.Project{Path: "acme/shop", Name: "shop", CloneURL: "https://git.example.com/acme/shop.git", DefaultBranch: "main",
		Visibility: store.VisibilityPrivate}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(st.CreateProject(ctx, p))
	must(st.SetVariable(ctx, &store.Variable{ProjectID: p.ID, Key: "TOKEN", Value: "secret-value", Masked: true, Environment: "*"}))
	u := &store.User{Username: "alice"}
	must(st.CreateUser(ctx, u))
	must(st.SetMember(ctx, &store.Member{ProjectID: p.ID, UserID: u.ID, Role: store.RoleDeveloper}))
	tok, hash := newToken("")
	now := time.Now()
	must(st.CreateSession(ctx, &store.Session{Hash: hash, UserID: u.ID, CSRF: "csrf", Expires: now.Add(time.Hour), LastSeen: now}))
	pl := &store.Pipeline{ProjectID: p.ID, Status: status.Running, Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567",
		Source: "push", Message: "Commit", AuthorName: "Ada", Vars: map[string]string{"TOKEN": "x", "MODE": "fast"}, Started: now}
	var jobs []*store.Job
	for s := range 10 {
		for i := range 20 {
			j := &plan.Job{Name: fmt.Sprintf("job-%d-%d", s, i), Stage: fmt.Sprint("stage-", s), StageIndex: s,
				Script: []string{"make test"}}
			if s > 0 {
				j.Needs = []plan.Need{{Job: fmt.Sprintf("job-%d-%d", s-1, i)}, {Job: fmt.Sprintf("job-%d-%d", s-1, (i+1)%20)}}
			}
			spec, err := json.Marshal(jobapi.NewSpec(j))
			must(err)
			row := &store.Job{Name: j.Name, Stage: j.Stage, StageIndex: s, Position: len(jobs), Status: status.Created, Attempt: 1, Spec: spec}
			if s < 5 {
				row.Status, row.Started, row.Finished = status.Success, now, now.Add(time.Minute)
			}
			jobs = append(jobs, row)
		}
	}
	must(st.CreatePipeline(ctx, pl, jobs))
	must(st.CreatePipeline(ctx, &store.Pipeline{ProjectID: p.ID, Status: status.Running, Ref: "main", Source: "pipeline", ParentID: pl.ID, Depth: 1}, nil))
	h := srv.Handler()
	path := fmt.Sprintf("/acme/shop/-/pipelines/%d", pl.ID)
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := get(); w.Code != http.StatusOK || w.Body.Len() < 100_000 {
		b.Fatalf("GET %s: %d, %d bytes", path, w.Code, w.Body.Len())
	}
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
