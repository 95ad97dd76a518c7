package web

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (d discard) WriteHeader(int)             {}

// pipeline200 is the page of a 200-job pipeline: 10 stages of 20 jobs, each needing two jobs
// of the stage before.
func pipeline200(b *testing.B, s *Site) (Pipeline, []*store.Job) {
	pl := &store.Pipeline{ID: 1, Status: status.Running, Ref: "main", SHA: "0123456789abcdef", Message: "Commit", Source: "push",
		Created: now.Add(-time.Hour), Started: now.Add(-time.Hour)}
	var jobs []*store.Job
	for s := range 10 {
		for i := range 20 {
			p := &plan.Job{Name: fmt.Sprintf("job-%d-%d", s, i), Stage: fmt.Sprint("stage-", s), StageIndex: s}
			if s > 0 {
				p.Needs = []plan.Need{{Job: fmt.Sprintf("job-%d-%d", s-1, i)}, {Job: fmt.Sprintf("job-%d-%d", s-1, (i+1)%20)}}
			}
			st := status.Success
			if s >= 5 {
				st = status.Created
			}
			jobs = append(jobs, &store.Job{ID: int64(s*20 + i + 1), Name: p.Name, Stage: p.Stage, StageIndex: s, Status: st, Attempt: 1,
				Spec: spec(b, p), Started: now.Add(-time.Hour), Finished: now.Add(-50 * time.Minute)})
		}
	}
	l := Layout{User: "alice", CSRF: "token", CanRun: true, Project: &store.Project{ID: 1, Path: "acme/shop"}}
	return Pipeline{Layout: l, Pipeline: pl, Graph: s.NewGraph(jobs)}, jobs
}

// BenchmarkRenderPipeline200 is the server's time to lay out (NewGraph, which reads every
// job's spec) and render the page of a 200-job pipeline. Goal: well under 20 ms.
func BenchmarkRenderPipeline200(b *testing.B) {
	s := newSite(b)
	page, jobs := pipeline200(b, s)
	w := discard{http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		page.Graph = s.NewGraph(jobs)
		if err := s.Render(w, 200, page); err != nil {
			b.Fatal(err)
		}
	}
}
