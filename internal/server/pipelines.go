package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// pipelineView is a pipeline with its current jobs (retried attempts left out unless asked).
type pipelineView struct {
	*store.Pipeline
	Project string     `json:"project,omitempty"`
	WebURL  string     `json:"web_url"`
	Jobs    []*jobView `json:"jobs"`
	Retried []*jobView `json:"retried,omitempty"`
}

// pipelineLink is a pipeline as the API lists it: with web_url, its page.
type pipelineLink struct {
	*store.Pipeline
	WebURL string `json:"web_url"`
}

// jobView is a job as the API shows it: web_url is its page.
type jobView struct {
	*store.Job
	WebURL string `json:"web_url"`
	LogURL string `json:"log_url"`
}

// pipelineURL is the address of a pipeline's page (p nil: of the API's pipeline).
func (s *Server) pipelineURL(p *store.Project, id int64) string {
	if p == nil {
		return s.URL() + "/api/v1/pipelines/" + itoa(id)
	}
	return s.URL() + web.PipelineURL(p.Path, id)
}

func (s *Server) pipelineJSON(p *store.Project, pl *store.Pipeline) pipelineLink {
	return pipelineLink{Pipeline: pl, WebURL: s.pipelineURL(p, pl.ID)}
}

// jobView is j of project p as the API shows it.
func (s *Server) jobView(p *store.Project, j *store.Job) *jobView {
	return &jobView{Job: j, WebURL: s.URL() + web.JobURL(p.Path, j.ID), LogURL: s.URL() + "/api/v1/jobs/" + itoa(j.ID) + "/log"}
}

// jobOf is the API's view of a job, read with its project.
func (s *Server) jobOf(ctx context.Context, j *store.Job) (*jobView, error) {
	p, err := s.store.Project(ctx, j.ProjectID)
	if err != nil {
		return nil, err
	}
	return s.jobView(p, j), nil
}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.PipelineFilter{Ref: q.Get("ref")}
	if st := status.Status(q.Get("status")); st != "" {
		if !st.Known() {
			return errStatus(http.StatusBadRequest, "status %q: not a pipeline status", st)
		}
		f.Status = []status.Status{st}
	}
	f.Limit, _ = strconv.Atoi(q.Get("per_page"))
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	ps, err := s.store.Pipelines(r.Context(), p.ID, f)
	if err != nil {
		return err
	}
	out := make([]pipelineLink, len(ps))
	for i, pl := range ps {
		out[i] = s.pipelineJSON(p, pl)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	pl, err := s.store.Pipeline(r.Context(), id)
	if err != nil {
		return err
	}
	jobs, err := s.store.Jobs(r.Context(), id, store.JobFilter{})
	if err != nil {
		return err
	}
	p, err := s.store.Project(r.Context(), pl.ProjectID)
	if err != nil {
		return err
	}
	v := &pipelineView{Pipeline: pl, Project: p.Path, WebURL: s.pipelineURL(p, pl.ID), Jobs: []*jobView{}}
	for _, j := range jobs {
		if j.Retried {
			v.Retried = append(v.Retried, s.jobView(p, j))
			continue
		}
		v.Jobs = append(v.Jobs, s.jobView(p, j))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) cancelPipeline(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cancel(r.Context(), id); err != nil {
		return err
	}
	pl, err := s.store.Pipeline(r.Context(), id)
	if err != nil {
		return err
	}
	p, err := s.store.Project(r.Context(), pl.ProjectID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.pipelineJSON(p, pl))
	return nil
}

// cancel cancels a pipeline, in its turn of Limits.Pipelines.
func (s *Server) cancel(ctx context.Context, id int64) error {
	release, err := s.heavy(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := s.sched.Cancel(ctx, id); err != nil {
		return err
	}
	s.pipes.publish(id)
	return nil
}

func (s *Server) job(r *http.Request) (*store.Job, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.store.Job(r.Context(), id)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, _ *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	v, err := s.jobOf(r.Context(), j)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request, _ *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	n, err := s.retry(r.Context(), j)
	if err != nil {
		return err
	}
	v, err := s.jobOf(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// act does act (the scheduler's Play or CancelJob) to job j and wakes its pipeline's live
// pages.
func (s *Server) act(ctx context.Context, j *store.Job, act func(context.Context, int64) error) error {
	if err := act(ctx, j.ID); err != nil {
		return err
	}
	s.pipes.publish(j.PipelineID)
	return nil
}

// retry makes a new attempt of job j and returns it as stored.
func (s *Server) retry(ctx context.Context, j *store.Job) (*store.Job, error) {
	n, err := s.sched.Retry(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	s.pipes.publish(j.PipelineID)
	if got, err := s.store.Jobs(ctx, j.PipelineID, store.JobFilter{}); err == nil {
		for _, x := range got {
			if x.Name == n.Name && !x.Retried {
				n = x
			}
		}
	}
	return n, nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return s.jobAction(w, r, s.sched.CancelJob)
}

func (s *Server) playJob(w http.ResponseWriter, r *http.Request, _ *caller) error {
	return s.jobAction(w, r, s.sched.Play)
}

func (s *Server) jobAction(w http.ResponseWriter, r *http.Request, act func(context.Context, int64) error) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	if err := s.act(r.Context(), j, act); err != nil {
		return err
	}
	if j, err = s.store.Job(r.Context(), j.ID); err != nil {
		return err
	}
	v, err := s.jobOf(r.Context(), j)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
