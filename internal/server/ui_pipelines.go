package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// The dashboard, a project's pipelines and a pipeline's page, with their forms and live
// streams. The forms do what the API does, through the same code: newProject, triggered,
// cancel, retry and the scheduler.

// pipelinesPerPage is how many pipelines a page of a project's pipelines lists (GitLab's 20);
// it also bounds the rows one live stream of that page follows.
const pipelinesPerPage = 20

// maxRefFilter bounds the ref filter of the pipelines page, in bytes (git refuses longer
// ref names on most file systems anyway).
const maxRefFilter = 1024

// livePoll is how often a live page's stream reads its pipelines when nothing woke it: for
// changes made by other servers sharing the database, and by scheduler loops that tell
// nobody (a delayed job's start).
const livePoll = time.Second

// pipelinePages are the pages of this file.
func (s *Server) pipelinePages() []page {
	const (
		reporter  = store.RoleReporter
		developer = store.RoleDeveloper
	)
	return []page{
		{"GET /{$}", pageSignedIn, store.RoleNone, s.dashboard},
		{"POST /-/projects", pageSignedIn, store.RoleNone, s.createProjectForm},
		{"GET /{namespace}/{project}", pageProject, reporter, s.pipelinesPage},
		{"POST /{namespace}/{project}/-/pipelines", pageProject, developer, s.runPipelineForm},
		{"GET /{namespace}/{project}/-/pipelines/events", pageProject, reporter, s.pipelinesEvents},
		{"GET /{namespace}/{project}/-/pipelines/{id}", pageProject, reporter, s.pipelinePage},
		{"GET /{namespace}/{project}/-/pipelines/{id}/events", pageProject, reporter, s.pipelineEvents},
		{"POST /{namespace}/{project}/-/pipelines/{id}/retry", pageProject, developer, s.retryPipelineForm},
		{"POST /{namespace}/{project}/-/pipelines/{id}/cancel", pageProject, developer, s.cancelPipelineForm},
		{"POST /{namespace}/{project}/-/jobs/{id}/play", pageProject, developer, s.playJobForm},
		{"POST /{namespace}/{project}/-/jobs/{id}/retry", pageProject, developer, s.retryJobForm},
		{"POST /{namespace}/{project}/-/jobs/{id}/cancel", pageProject, developer, s.cancelJobForm},
	}
}

// dashboard is GET /: the projects the viewer reads, each with its build flag.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.renderDashboard(w, r, pc, http.StatusOK, web.NewProject{DefaultBranch: "main"})
}

func (s *Server) renderDashboard(w http.ResponseWriter, r *http.Request, pc *pageCtx, code int, form web.NewProject) error {
	ctx := r.Context()
	ps, err := s.readableProjects(ctx, &caller{user: pc.user()})
	if err != nil {
		return err
	}
	d := web.Dashboard{Layout: pc.layout(), CanCreate: pc.user() != nil, New: form}
	for _, p := range ps {
		// The flag is the badge's: the newest pipeline of the default branch.
		last, err := s.store.Pipelines(ctx, p.ID, store.PipelineFilter{Ref: p.DefaultBranch, Limit: 1})
		if err != nil {
			return err
		}
		sum := web.ProjectSummary{Project: p}
		if len(last) > 0 {
			sum.Last = last[0]
		}
		d.Projects = append(d.Projects, sum)
	}
	return s.site.Render(w, code, d)
}

// createProjectForm is POST /-/projects: the API's project creation, with a new webhook
// secret, answered with the webhook URLs and the secret for each forge (shown this once).
// A refused form comes back with its values and the reason.
func (s *Server) createProjectForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	form := web.NewProject{
		Path:          strings.TrimSpace(r.PostFormValue("path")),
		CloneURL:      strings.TrimSpace(r.PostFormValue("clone_url")),
		DefaultBranch: strings.TrimSpace(r.PostFormValue("default_branch")),
	}
	secret := rand.Text()
	in := projectInput{Path: &form.Path, CloneURL: &form.CloneURL, DefaultBranch: &form.DefaultBranch, WebhookSecret: &secret}
	p, err := s.newProject(r.Context(), &in, &caller{user: pc.user()})
	if errors.Is(err, store.ErrConflict) {
		err = errStatus(http.StatusConflict, "project %s already exists", form.Path)
	}
	if code, msg, ok := refused(err); ok {
		form.Error = msg
		return s.renderDashboard(w, r, pc, code, form)
	}
	if err != nil {
		return err
	}
	l := pc.layout()
	l.Project, l.CanRun, l.CanManage = p, true, true // its creator maintains it
	return s.site.Render(w, http.StatusCreated, web.ProjectCreated{Layout: l, BaseURL: s.URL(), Secret: secret})
}

// pipelinesPage is GET /{namespace}/{project}: the project's pipelines, newest first, a page
// at a time (?before=ID), filtered by ?ref=, ?status= and ?source=.
func (s *Server) pipelinesPage(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	f, before, err := pipelinesQuery(r.URL.Query())
	if err != nil {
		return err
	}
	return s.renderPipelines(w, r, pc, http.StatusOK, f, before, web.RunForm{})
}

// pipelinesQuery reads the filter and page of the pipelines page; a value that is none of
// the filter's is a 400.
func pipelinesQuery(q url.Values) (web.PipelineFilter, int64, error) {
	f := web.PipelineFilter{Ref: q.Get("ref"), Status: q.Get("status"), Source: q.Get("source")}
	if len(f.Ref) > maxRefFilter {
		return f, 0, errStatus(http.StatusBadRequest, "The ref filter is longer than %d bytes.", maxRefFilter)
	}
	if f.Status != "" && !status.Status(f.Status).Known() {
		return f, 0, errStatus(http.StatusBadRequest, "Unknown status %q.", f.Status)
	}
	if f.Source != "" && !slices.Contains(web.Pipelines{}.Sources(), f.Source) {
		return f, 0, errStatus(http.StatusBadRequest, "Unknown pipeline source %q.", f.Source)
	}
	var before int64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return f, 0, errStatus(http.StatusBadRequest, "Bad page: before=%q is no pipeline ID.", b)
		}
		before = n
	}
	return f, before, nil
}

func (s *Server) renderPipelines(w http.ResponseWriter, r *http.Request, pc *pageCtx, code int, f web.PipelineFilter, before int64, run web.RunForm) error {
	sf := store.PipelineFilter{Ref: f.Ref, Source: f.Source, Before: before, Limit: pipelinesPerPage + 1}
	if f.Status != "" {
		sf.Status = []status.Status{status.Status(f.Status)}
	}
	ps, err := s.store.Pipelines(r.Context(), pc.project.ID, sf)
	if err != nil {
		return err
	}
	v := web.Pipelines{Layout: pc.layout(), Filter: f, Paged: before > 0, Run: run}
	if len(ps) > pipelinesPerPage {
		ps = ps[:pipelinesPerPage]
		v.Older = ps[len(ps)-1].ID
	}
	for _, pl := range ps {
		v.Rows = append(v.Rows, web.PipelineRow{Path: pc.project.Path, Pipeline: pl})
	}
	return s.site.Render(w, code, v)
}

// runPipelineForm is POST /{namespace}/{project}/-/pipelines: the API's trigger (the same
// checks, rate limit and protected refs), from the "Run pipeline" form (ref, var_key and
// var_value repeated; rows without a key are left out), then the new pipeline's page.
func (s *Server) runPipelineForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	run := web.RunForm{Ref: strings.TrimSpace(r.PostFormValue("ref"))}
	keys, values := r.PostForm["var_key"], r.PostForm["var_value"]
	vars := map[string]string{}
	var err error
	for i, k := range keys {
		k = strings.TrimSpace(k)
		v := ""
		if i < len(values) {
			v = values[i]
		}
		if k == "" {
			continue
		}
		run.Vars = append(run.Vars, web.KeyValue{Key: k, Value: v})
		if _, dup := vars[k]; dup && err == nil {
			err = errStatus(http.StatusBadRequest, "Variable %s is given twice.", k)
		}
		vars[k] = v
	}
	var pl *store.Pipeline
	if err == nil {
		pl, err = s.triggered(r.Context(), w, pc.project, trigger{Source: plan.SourceWeb, Ref: run.Ref, Vars: vars})
	}
	if code, msg, ok := refused(err); ok {
		run.Error = msg
		return s.renderPipelines(w, r, pc, code, web.PipelineFilter{}, 0, run)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, web.PipelineURL(pc.project.Path, pl.ID), http.StatusSeeOther)
	return nil
}

// pageID reads the {id} of a page's path: anything but a positive number is a page that
// does not exist.
func pageID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, store.ErrNotFound
	}
	return id, nil
}

// pagePipeline is the pipeline {id} of the page's project: one of another project does not
// exist here.
func (s *Server) pagePipeline(r *http.Request, pc *pageCtx) (*store.Pipeline, error) {
	id, err := pageID(r)
	if err != nil {
		return nil, err
	}
	pl, err := s.store.Pipeline(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if pl.ProjectID != pc.project.ID {
		return nil, store.ErrNotFound
	}
	return pl, nil
}

// pipelinePage is GET /{namespace}/{project}/-/pipelines/{id}.
func (s *Server) pipelinePage(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	pl, err := s.pagePipeline(r, pc)
	if err != nil {
		return err
	}
	v, _, err := s.pipelineView(r.Context(), pc, pl)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if pl.ParentID != 0 {
		// Only a parent of this project: the viewer may not read another.
		parent, err := s.store.Pipeline(ctx, pl.ParentID)
		switch {
		case err == nil && parent.ProjectID == pl.ProjectID:
			v.Parent = parent
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if v.Children, err = s.store.Pipelines(ctx, pl.ProjectID, store.PipelineFilter{ParentID: pl.ID}); err != nil {
		return err
	}
	if v.Variables, err = s.pipelineVars(ctx, pl); err != nil {
		return err
	}
	return s.site.Render(w, http.StatusOK, v)
}

// pipelineView is the live part of a pipeline page (its status, buttons and graph), read
// afresh, and a fingerprint of what it shows: equal fingerprints show the same.
func (s *Server) pipelineView(ctx context.Context, pc *pageCtx, pl *store.Pipeline) (web.Pipeline, string, error) {
	jobs, err := s.store.Jobs(ctx, pl.ID, store.JobFilter{})
	if err != nil {
		return web.Pipeline{}, "", err
	}
	var fp strings.Builder
	fingerprint(&fp, pl.ID, pl.Status, pl.Started, pl.Finished)
	for _, j := range jobs {
		fingerprint(&fp, j.ID, j.Status, j.Started, j.Finished)
	}
	return web.Pipeline{Layout: pc.layout(), Pipeline: pl, Graph: s.site.NewGraph(jobs)}, fp.String(), nil
}

// fingerprint adds what a live row or card shows of a pipeline or job to b.
func fingerprint(b *strings.Builder, id int64, st status.Status, started, finished time.Time) {
	fmt.Fprintf(b, "%d %s %d %d;", id, st, started.UnixNano(), finished.UnixNano())
}

// pipelineVars are the pipeline's variables as its page shows them: a variable is masked
// when the project masks a variable of that name, or one with that value.
func (s *Server) pipelineVars(ctx context.Context, pl *store.Pipeline) ([]web.PipelineVar, error) {
	if len(pl.Vars) == 0 {
		return nil, nil
	}
	pvs, err := s.store.Variables(ctx, pl.ProjectID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(pl.Vars))
	for k := range pl.Vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]web.PipelineVar, len(keys))
	for i, k := range keys {
		v := web.PipelineVar{Key: k, Value: pl.Vars[k]}
		for _, pv := range pvs {
			if pv.Masked && (pv.Key == k || pv.Value == v.Value) {
				v.Masked = true
			}
		}
		if v.Masked {
			v.Value = ""
		}
		out[i] = v
	}
	return out, nil
}

// startEvents answers a live stream (the pages' and the API's log stream): Server-Sent
// Events, a reconnection hint of 1 s, flushed, with the connection's deadlines moved.
func (s *Server) startEvents(w http.ResponseWriter) (*http.ResponseController, error) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	s.extend(w, streamKeepalive)
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\n")
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("start event stream: %w", err)
	}
	return rc, nil
}

// waitEvents waits for a wake-up of wake, the poll interval (livePoll: writes of other
// server replicas, and changes nothing wakes) or the client leaving (false); it sends a
// keepalive comment when the stream has been quiet for streamKeepalive. Every live page's
// stream waits with it.
func (s *Server) waitEvents(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, wake <-chan struct{}, quiet *time.Time) bool {
	s.extend(w, streamKeepalive) // the connection's deadlines cover the wait
	poll := time.NewTimer(livePoll)
	defer poll.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-poll.C:
	}
	if time.Since(*quiet) >= streamKeepalive {
		fmt.Fprintf(w, ": keepalive\n\n")
		if rc.Flush() != nil {
			return false
		}
		*quiet = time.Now()
	}
	s.extend(w, streamKeepalive)
	return true
}

// pipelineEvents is GET /{namespace}/{project}/-/pipelines/{id}/events: the pipeline page's
// live part each time it changes (the current one first), then the end event once the
// pipeline is final.
func (s *Server) pipelineEvents(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	pl, err := s.pagePipeline(r, pc)
	if err != nil {
		return err
	}
	release, err := s.streamSlot(w)
	if err != nil {
		return err
	}
	defer release()
	wake, unsubscribe := s.pipes.subscribe(pl.ID)
	defer unsubscribe()
	rc, err := s.startEvents(w)
	if err != nil {
		return nil // the client left
	}
	ctx := r.Context()
	last, quiet := "", time.Now()
	for {
		cur, err := s.store.Pipeline(ctx, pl.ID)
		if err != nil {
			return nil // the stream ends; the page reconnects
		}
		v, fp, err := s.pipelineView(ctx, pc, cur)
		if err != nil {
			return nil
		}
		if fp != last {
			if s.site.PipelineEvent(w, v) != nil {
				return nil
			}
			last, quiet = fp, time.Now()
		}
		if cur.Status.Final() {
			_ = web.EndEvent(w)
			_ = rc.Flush()
			return nil
		}
		if rc.Flush() != nil || !s.waitEvents(ctx, w, rc, wake, &quiet) {
			return nil
		}
	}
}

// pipelinesEvents is GET /{namespace}/{project}/-/pipelines/events?id=…: the rows of the
// pipelines page named by id (at most pipelinesPerPage, of this project; others are left
// out) each time they change (their current state first), then the end event once they
// are all final.
func (s *Server) pipelinesEvents(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	raw := r.URL.Query()["id"]
	if len(raw) > pipelinesPerPage {
		return errStatus(http.StatusBadRequest, "A live list follows at most %d pipelines.", pipelinesPerPage)
	}
	var ids []int64
	for _, x := range raw {
		id, err := strconv.ParseInt(x, 10, 64)
		if err != nil || id <= 0 {
			return errStatus(http.StatusBadRequest, "id=%q is no pipeline ID.", x)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	release, err := s.streamSlot(w)
	if err != nil {
		return err
	}
	defer release()
	wake, unsubscribe := s.pipes.subscribe(ids...)
	defer unsubscribe()
	rc, err := s.startEvents(w)
	if err != nil {
		return nil
	}
	ctx := r.Context()
	last, quiet := map[int64]string{}, time.Now()
	for len(ids) > 0 {
		var left []int64
		for _, id := range ids {
			pl, err := s.store.Pipeline(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue // deleted meanwhile
			case err != nil:
				return nil
			case pl.ProjectID != pc.project.ID:
				continue
			}
			var fp strings.Builder
			fingerprint(&fp, pl.ID, pl.Status, pl.Started, pl.Finished)
			if fp.String() != last[id] {
				if s.site.PipelineRowEvent(w, web.PipelineRow{Path: pc.project.Path, Pipeline: pl}) != nil {
					return nil
				}
				last[id], quiet = fp.String(), time.Now()
			}
			if !pl.Status.Final() {
				left = append(left, id)
			}
		}
		ids = left
		if len(ids) == 0 {
			break
		}
		if rc.Flush() != nil || !s.waitEvents(ctx, w, rc, wake, &quiet) {
			return nil
		}
	}
	_ = web.EndEvent(w)
	_ = rc.Flush()
	return nil
}

// retryPipelineForm is POST …/-/pipelines/{id}/retry: a new attempt of each failed job.
func (s *Server) retryPipelineForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	pl, err := s.pagePipeline(r, pc)
	if err != nil {
		return err
	}
	jobs, err := s.store.Jobs(r.Context(), pl.ID, store.JobFilter{})
	if err != nil {
		return err
	}
	n := 0
	for _, j := range jobs {
		if j.Retried || j.Status != status.Failed {
			continue
		}
		if _, err := s.retry(r.Context(), j); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errStatus(http.StatusConflict, "Pipeline #%d has no failed job to retry.", pl.ID)
	}
	http.Redirect(w, r, web.PipelineURL(pc.project.Path, pl.ID), http.StatusSeeOther)
	return nil
}

// cancelPipelineForm is POST …/-/pipelines/{id}/cancel.
func (s *Server) cancelPipelineForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	pl, err := s.pagePipeline(r, pc)
	if err != nil {
		return err
	}
	if err := s.cancel(r.Context(), pl.ID); err != nil {
		return err
	}
	http.Redirect(w, r, web.PipelineURL(pc.project.Path, pl.ID), http.StatusSeeOther)
	return nil
}

// playJobForm is POST …/-/jobs/{id}/play: back to the job's pipeline.
func (s *Server) playJobForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.jobForm(w, r, pc, s.sched.Play)
}

// cancelJobForm is POST …/-/jobs/{id}/cancel: back to the job's pipeline.
func (s *Server) cancelJobForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.jobForm(w, r, pc, s.sched.CancelJob)
}

func (s *Server) jobForm(w http.ResponseWriter, r *http.Request, pc *pageCtx, act func(context.Context, int64) error) error {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	if err := s.act(r.Context(), j, act); err != nil {
		return err
	}
	http.Redirect(w, r, web.PipelineURL(pc.project.Path, j.PipelineID), http.StatusSeeOther)
	return nil
}

// retryJobForm is POST …/-/jobs/{id}/retry: on to the new attempt's page.
func (s *Server) retryJobForm(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	n, err := s.retry(r.Context(), j)
	if err != nil {
		return err
	}
	http.Redirect(w, r, web.JobURL(pc.project.Path, n.ID), http.StatusSeeOther)
	return nil
}
