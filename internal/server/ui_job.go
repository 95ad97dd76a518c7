package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// The job page, /{namespace}/{project}/-/jobs/{id}, and what it links to: the log (its tail
// first, earlier parts and a live stream: ui_joblog.go), the raw log, the live summary and
// the artifacts (ui_artifacts.go). Every one needs the reporter role, and a job of another
// project is not found.

// jobPages are the job page's routes.
func (s *Server) jobPages() []page {
	const job = "/{namespace}/{project}/-/jobs/{id}"
	return []page{
		{"GET " + job, pageProject, store.RoleReporter, s.jobPage},
		{"GET " + job + "/events", pageProject, store.RoleReporter, s.jobEvents},
		{"GET " + job + "/raw", pageProject, store.RoleReporter, s.jobRaw},
		{"GET " + job + "/log", pageProject, store.RoleReporter, s.jobLogEarlier},
		{"GET " + job + "/log/events", pageProject, store.RoleReporter, s.jobLogEvents},
		{"GET " + job + "/artifacts/download", pageProject, store.RoleReporter, s.jobArtifactsDownload},
		{"GET " + job + "/artifacts/file/{path...}", pageProject, store.RoleReporter, s.jobArtifactFile},
	}
}

// pageJob is the job of a job page's path; not found when it is of another project.
func (s *Server) pageJob(r *http.Request, pc *pageCtx) (*store.Job, error) {
	j, err := s.job(r)
	if err != nil {
		return nil, err
	}
	if j.ProjectID != pc.project.ID {
		return nil, store.ErrNotFound
	}
	return j, nil
}

// jobSummary is the part of the job page its live stream replaces: the job, its pipeline,
// its spec and its runner.
func (s *Server) jobSummary(ctx context.Context, pc *pageCtx, j *store.Job) (web.Job, error) {
	v := web.Job{Layout: pc.layout(), Job: j}
	p, err := s.store.Pipeline(ctx, j.PipelineID)
	if err != nil {
		return v, err
	}
	v.Pipeline = p
	if spec, err := jobapi.DecodeSpec(j.Spec); err == nil {
		v.Spec = spec
	}
	if j.RunnerID != 0 {
		rs, err := s.store.ListRunners(ctx)
		if err != nil {
			return v, err
		}
		for _, rn := range rs {
			if rn.ID == j.RunnerID {
				v.Runner = rn
			}
		}
	}
	return v, nil
}

// jobPage is GET /{namespace}/{project}/-/jobs/{id}.
func (s *Server) jobPage(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	ctx := r.Context()
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	v, err := s.jobSummary(ctx, pc, j)
	if err != nil {
		return err
	}
	jobs, err := s.store.Jobs(ctx, j.PipelineID, store.JobFilter{})
	if err != nil {
		return err
	}
	for _, x := range jobs {
		if x.Name == j.Name && x.ID != j.ID {
			v.Attempts = append(v.Attempts, x)
		}
	}
	v.JUnit = jobJUnit(j)
	if reason, err := jobapi.DecodeReason(j.Spec); err == nil && reason != nil {
		pr, hidden := reason.Plan()
		v.Reason = web.NewReason(pr, func(name string) bool { return hidden[name] })
	}
	if v.Archive, v.ArtifactsExpired, err = s.jobArchive(ctx, pc, j); err != nil {
		return err
	}
	if v.Archive != nil {
		if v.Files, v.MoreFiles, err = s.archiveFiles(v.Archive); err != nil {
			s.log.Warn("job page: artifacts cannot be listed", "job_id", j.ID, "err", err)
		}
	}
	path := web.JobURL(pc.project.Path, j.ID)
	if v.Log, err = s.logHTML(ctx, path, j.ID, j.Status); err != nil {
		return err
	}
	v.LogStyles = []string{logAssetURL("log.css")}
	v.LogScripts = []string{logAssetURL("log.js")}
	return s.site.Render(w, http.StatusOK, v)
}

// jobRaw is GET …/-/jobs/{id}/raw: the log as plain text (?download=1: as an attachment),
// read from the store a block at a time; Range requests are served.
func (s *Server) jobRaw(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	size, err := s.logSize(r.Context(), j.ID)
	if err != nil {
		return err
	}
	w, r = s.progress(w, r) // a long log takes long to send
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("download") != "" {
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="job-%d.log"`, j.ID))
	}
	http.ServeContent(w, r, "", time.Time{}, &logReader{ctx: r.Context(), logs: s.store, job: j.ID, size: size})
	return nil
}

// jobEvents is GET …/-/jobs/{id}/events: the job page's summary, live (web.JobEvent each
// time the job changes, then the end event once it is final).
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	release, err := s.streamSlot(w)
	if err != nil {
		return err
	}
	defer release()
	ctx := r.Context()
	wake, unsubscribe := s.logs.subscribe(j.ID)
	defer unsubscribe()
	rc, err := s.startEvents(w)
	if err != nil {
		return err
	}
	last, quiet := "", time.Now()
	for {
		cur, err := s.store.Job(ctx, j.ID)
		if err != nil {
			return nil // the page reconnects
		}
		if key := summaryKey(cur); key != last {
			v, err := s.jobSummary(ctx, pc, cur)
			if err != nil {
				return nil
			}
			if err := s.site.JobEvent(w, v); err != nil {
				return nil
			}
			last, quiet = key, time.Now()
		}
		if cur.Status.Final() {
			_ = web.EndEvent(w)
			_ = rc.Flush()
			return nil
		}
		// Claims and status changes do not wake the log hub: waitEvents polls too.
		if rc.Flush() != nil || !s.waitEvents(ctx, w, rc, wake, &quiet) {
			return nil
		}
	}
}

// summaryKey is what the job page's summary shows of a job that changes while it runs.
func summaryKey(j *store.Job) string {
	return fmt.Sprint(j.Status, j.RunnerID, j.Queued.UnixNano(), j.Started.UnixNano(), j.Finished.UnixNano(),
		j.FailureReason, j.ExitCode, j.Coverage != nil)
}

// boundJUnit cuts a JUnit summary a runner sent to what a runner of this release sends at
// most (artifact's bounds): a runner is not trusted to keep them.
func boundJUnit(u *jobapi.JUnit) {
	if u == nil {
		return
	}
	u.Failed = u.Failed[:min(len(u.Failed), artifact.MaxFailed)]
	for i := range u.Failed {
		f := &u.Failed[i]
		f.Name, f.Class = artifact.Cut(f.Name, artifact.MaxFailureName), artifact.Cut(f.Class, artifact.MaxFailureName)
		f.Message = artifact.Cut(f.Message, artifact.MaxFailureMessage)
	}
}

// jobJUnit is the job page's view of a job's JUnit summary; nil when it has none.
func jobJUnit(j *store.Job) *web.JUnit {
	if len(j.JUnit) == 0 {
		return nil
	}
	var u jobapi.JUnit
	if err := json.Unmarshal(j.JUnit, &u); err != nil {
		return nil
	}
	out := &web.JUnit{Tests: u.Tests, Failures: u.Failures, Errors: u.Errors, Skipped: u.Skipped}
	for _, f := range u.Failed {
		out.Failed = append(out.Failed, web.TestFailure{Name: f.Name, Message: f.Message})
	}
	return out
}
