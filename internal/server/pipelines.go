package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// pipelineView is a pipeline with its current jobs (retried attempts left out unless asked).
type pipelineView struct {
	*store.Pipeline
	Project string     `json:"project,omitempty"`
	WebURL  string     `json:"web_url"`
	Jobs    []*jobView `json:"jobs"`
	Retried []*jobView `json:"retried,omitempty"`
}

// jobView is a job as the API shows it.
type jobView struct {
	*store.Job
	WebURL string `json:"web_url"`
	LogURL string `json:"log_url"`
}

func (s *Server) pipelineURL(p *store.Project, id int64) string {
	if p == nil {
		return s.URL() + "/api/v1/pipelines/" + itoa(id)
	}
	return s.URL() + "/" + p.Path + "/-/pipelines/" + itoa(id)
}

func (s *Server) jobView(j *store.Job) *jobView {
	return &jobView{Job: j, WebURL: s.URL() + "/api/v1/jobs/" + itoa(j.ID), LogURL: s.URL() + "/api/v1/jobs/" + itoa(j.ID) + "/log"}
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
	writeJSON(w, http.StatusOK, nonNil(ps))
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
			v.Retried = append(v.Retried, s.jobView(j))
			continue
		}
		v.Jobs = append(v.Jobs, s.jobView(j))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) cancelPipeline(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	release, err := s.heavy(r.Context())
	if err != nil {
		return err
	}
	err = s.sched.Cancel(r.Context(), id)
	release()
	if err != nil {
		return err
	}
	pl, err := s.store.Pipeline(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pl)
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
	writeJSON(w, http.StatusOK, s.jobView(j))
	return nil
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request, _ *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	n, err := s.sched.Retry(r.Context(), j.ID)
	if err != nil {
		return err
	}
	if got, err := s.store.Jobs(r.Context(), j.PipelineID, store.JobFilter{}); err == nil {
		for _, x := range got {
			if x.Name == n.Name && !x.Retried {
				n = x
			}
		}
	}
	writeJSON(w, http.StatusCreated, s.jobView(n))
	return nil
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
	if err := act(r.Context(), j.ID); err != nil {
		return err
	}
	if j, err = s.store.Job(r.Context(), j.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.jobView(j))
	return nil
}
