package server

import (
	"context"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/notify"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// pipelineChanged wakes the pipeline's live pages, and tells the forge, the project's hooks and (on failure, fix and tags) the
// commit author that a pipeline changed status. It runs after the change was committed, in
// the background, with a few retries; a failure is logged, never fatal. The changes of one
// pipeline go out one after the other, in the order they came (a forge must not get
// "running" after "success").
func (s *Server) pipelineChanged(p *store.Pipeline, jobs []*store.Job) {
	s.pipes.publish(p.ID)
	s.outbox.Lock()
	defer s.outbox.Unlock()
	q, busy := s.outbox.queues[p.ID]
	s.outbox.queues[p.ID] = append(q, change{p, jobs})
	if busy {
		return // its sender takes this one in turn
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for {
			s.outbox.Lock()
			q := s.outbox.queues[p.ID]
			if len(q) == 0 {
				delete(s.outbox.queues, p.ID)
				s.outbox.Unlock()
				return
			}
			c := q[0]
			s.outbox.queues[p.ID] = q[1:]
			s.outbox.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			s.notify(ctx, c.pipeline, c.jobs)
			cancel()
		}
	}()
}

// change is a pipeline's status change waiting to be told.
type change struct {
	pipeline *store.Pipeline
	jobs     []*store.Job
}

// outbox holds, per pipeline, the changes its sender has still to tell; a pipeline is in
// queues while its sender runs.
type outbox struct {
	sync.Mutex
	queues map[int64][]change
}

func (s *Server) notify(ctx context.Context, p *store.Pipeline, jobs []*store.Job) {
	proj, err := s.store.Project(ctx, p.ProjectID)
	if err != nil {
		s.log.Error("notify: read project", "pipeline_id", p.ID, "err", err)
		return
	}
	log := s.log.With("pipeline_id", p.ID, "project", proj.Path)
	ev := notify.Pipeline{
		Project: proj.Path, ID: p.ID, IID: p.IID, Status: p.Status, Ref: p.Ref, Tag: p.Tag, SHA: p.SHA,
		URL: s.pipelineURL(proj, p.ID), Message: p.Message, AuthorName: p.AuthorName, AuthorEmail: p.AuthorEmail,
	}
	if !p.Started.IsZero() && !p.Finished.IsZero() {
		ev.Duration = p.Finished.Sub(p.Started)
	}
	for _, j := range jobs {
		ev.Jobs = append(ev.Jobs, notify.Job{Name: j.Name, Stage: j.Stage, Status: j.Status, FailureReason: j.FailureReason,
			URL: s.URL() + "/api/v1/jobs/" + itoa(j.ID) + "/log"})
	}
	if p.Status.Final() {
		prev, err := s.store.Pipelines(ctx, p.ProjectID, store.PipelineFilter{Ref: p.Ref, Before: p.ID, Limit: 1,
			Status: []status.Status{status.Success, status.Failed, status.Warning, status.Canceled}})
		if err == nil && len(prev) > 0 {
			ev.Previous = prev[0].Status
		}
	}
	if proj.Forge != "" && proj.ForgeToken != "" {
		f := &notify.Forge{Kind: proj.Forge, URL: proj.ForgeURL, Repo: proj.ForgeRepo, Token: proj.ForgeToken, Client: s.o.HTTPClient}
		retry(ctx, func() error { return f.Status(ctx, ev) }, func(err error) { log.Warn("commit status", "err", err) })
	}
	for _, h := range proj.Hooks {
		retry(ctx, func() error { return notify.Hook(ctx, s.o.HTTPClient, h, proj.WebhookSecret, ev) },
			func(err error) { log.Warn("outgoing webhook", "err", err) })
	}
	if s.o.Mailer != nil {
		if subject, body, ok := notify.Mail(ev); ok {
			retry(ctx, func() error { return s.o.Mailer.Send(ctx, []string{ev.AuthorEmail}, subject, body) },
				func(err error) { log.Warn("mail", "err", err) })
		}
	}
}

// retry calls fn up to 3 times with growing pauses, reporting the last error.
func retry(ctx context.Context, fn func() error, report func(error)) {
	var err error
	for i := range 3 {
		if err = fn(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			report(err)
			return
		case <-time.After(time.Duration(i+1) * time.Second):
		}
	}
	report(err)
}
