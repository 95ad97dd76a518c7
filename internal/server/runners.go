package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/flow"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// registerRunner is POST /api/v1/runners: a runner shows the registration token and gets its
// own token, shown once. A runner older than jobapi.MinVersion is told to upgrade.
func (s *Server) registerRunner(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var in jobapi.RegisterRequest
	if err := readRunnerJSON(w, r, &in); err != nil {
		return err
	}
	t, err := s.store.TokenByHash(r.Context(), hashToken(in.Token))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || t.Kind != "registration" || t.Revoked {
		return errStatus(http.StatusUnauthorized, "invalid registration token")
	}
	version, err := jobapi.Negotiate(in.Version)
	if err != nil {
		return errStatus(http.StatusBadRequest, "%v", err)
	}
	if in.Executor != "" && in.Executor != "shell" && in.Executor != "docker" {
		return errStatus(http.StatusBadRequest, "executor %q: want shell or docker", in.Executor)
	}
	if err := checkRunnerVersion(in.RunnerVersion); err != nil {
		return err
	}
	rn := &store.Runner{Name: in.Name, Tags: in.Tags, RunUntagged: in.RunUntagged || len(in.Tags) == 0, Executor: in.Executor, Version: in.RunnerVersion}
	tok, err := s.addRunner(r.Context(), rn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, jobapi.RegisterResponse{Version: version, ID: rn.ID, Token: tok})
	return nil
}

// checkRunnerVersion refuses (400) a runner version longer than jobapi.MaxRunnerVersion.
func checkRunnerVersion(v string) error {
	if len(v) > jobapi.MaxRunnerVersion {
		return errStatus(http.StatusBadRequest, "runner_version: at most %d bytes", jobapi.MaxRunnerVersion)
	}
	return nil
}

// RegisterRunner registers a runner and returns its id and token (the built-in runner is
// registered this way; remote ones through POST /api/v1/runners).
func (s *Server) RegisterRunner(ctx context.Context, name string, tags []string, untagged bool, executor string) (int64, string, error) {
	rn := &store.Runner{Name: name, Tags: tags, RunUntagged: untagged, Executor: executor}
	tok, err := s.addRunner(ctx, rn)
	return rn.ID, tok, err
}

// addRunner stores rn (named "runner" when it has no name) with a new token, and returns
// the token.
func (s *Server) addRunner(ctx context.Context, rn *store.Runner) (string, error) {
	if rn.Name == "" {
		rn.Name = "runner"
	}
	tok, hash := newToken("slt_")
	rn.TokenHash = hash
	if err := s.store.CreateRunner(ctx, rn); err != nil {
		return "", err
	}
	s.log.Info("runner registered", "runner_id", rn.ID, "name", rn.Name, "tags", rn.Tags, "version", rn.Version)
	return tok, nil
}

// requestJob is the runners' long poll: a claimed job, in the runner's protocol version, or
// 204 when none came in time. A runner older than jobapi.MinVersion is told to upgrade.
func (s *Server) requestJob(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in jobapi.JobRequest
	if err := readRunnerJSON(w, r, &in); err != nil {
		return err
	}
	version, err := jobapi.Negotiate(in.Version)
	if err != nil {
		return errStatus(http.StatusBadRequest, "%v", err)
	}
	if err := checkRunnerVersion(in.RunnerVersion); err != nil {
		return err
	}
	asked, err := jobapi.Duration(in.WaitSeconds)
	if err != nil {
		return errStatus(http.StatusBadRequest, "wait_seconds: %v", err)
	}
	wait := s.o.LongPoll
	if asked > 0 && asked < wait {
		wait = asked
	}
	s.extend(w, wait)
	ctx := r.Context()
	// The contact time says whether the runner is online (metrics, the runner list): a write
	// every few seconds is precise enough, one per request would cost a commit per job.
	if s.now().Sub(c.runner.LastSeen) >= 5*time.Second {
		if err := s.store.TouchRunner(ctx, c.runner.ID, s.now()); err != nil {
			return err
		}
	}
	if in.RunnerVersion != "" && in.RunnerVersion != c.runner.Version {
		// The runner was upgraded (or downgraded) in place.
		if err := s.store.SetRunnerVersion(ctx, c.runner.ID, in.RunnerVersion); err != nil {
			return err
		}
	}
	// A paused runner waits out its poll: the claim gives it no job (see store.ClaimJob).
	timer := time.NewTimer(wait)
	defer timer.Stop()
	// Other servers sharing the database queue jobs too: look again now and then.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for ctx.Err() == nil {
		ready := s.sched.Ready()
		tok, hash := newToken("slj_")
		now := s.now()
		j, err := s.store.ClaimJob(ctx, store.Claim{Runner: c.runner, Key: in.Key, TokenHash: hash, LeaseUntil: now.Add(s.sched.Lease()), Now: now})
		switch {
		case err == nil:
			if j.TokenHash != hash {
				// The same key resumed an earlier claim, whose token the runner never got.
				err = s.resumeClaim(ctx, j, c.runner.ID, hash)
			}
			var payload *jobapi.Job
			var pipelineStatus status.Status
			if err == nil {
				payload, pipelineStatus, err = s.payload(r, j, c.runner, tok, version)
			}
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			if err != nil {
				// Nobody will run it: back to the queue for the next request.
				if rerr := s.sched.Requeue(context.WithoutCancel(ctx), j.ID, c.runner.ID); rerr != nil {
					s.log.Error("requeue job", "job_id", j.ID, "err", rerr)
				}
				return err
			}
			s.metrics.jobStarted(j, now)
			s.pipes.publish(j.PipelineID)
			writeJSON(w, http.StatusCreated, payload)
			if pipelineStatus == status.Pending {
				s.sched.Started(j.PipelineID)
			}
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		select {
		case <-ready:
		case <-poll.C:
		case <-timer.C:
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-ctx.Done():
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resumeClaim gives a job claimed again with the same key (its runner repeated a request
// whose answer was lost) the hash of the token in the new answer: the store keeps the first
// claim's, which nobody holds.
func (s *Server) resumeClaim(ctx context.Context, j *store.Job, runnerID int64, hash string) error {
	err := s.store.UpdatePipeline(ctx, j.PipelineID, func(_ *store.Pipeline, jobs *[]*store.Job) error {
		for _, x := range *jobs {
			if x.ID == j.ID {
				if x.Status != status.Running || x.RunnerID != runnerID {
					return store.ErrLeaseLost
				}
				x.TokenHash = hash
				return nil
			}
		}
		return store.ErrNotFound
	})
	if err != nil {
		return fmt.Errorf("resume claim of job %d: %w", j.ID, err)
	}
	j.TokenHash = hash
	return nil
}

// payload is what the runner needs to run j, in protocol version: the spec with every
// variable, the git source, the jobs whose artifacts it gets; and the status of j's pipeline.
func (s *Server) payload(r *http.Request, j *store.Job, rn *store.Runner, token string, version int) (*jobapi.Job, status.Status, error) {
	ctx := r.Context()
	p, err := s.store.Project(ctx, j.ProjectID)
	if err != nil {
		return nil, "", err
	}
	pl, err := s.store.Pipeline(ctx, j.PipelineID)
	if err != nil {
		return nil, "", err
	}
	self := s.sched.Spec(j)
	spec := *self
	spec.Variables = append([]plan.Var(nil), spec.Variables...)
	// The jobs whose artifacts it may get: those its needs or dependencies name, else those
	// of earlier stages (none before the first).
	named := self.Needs != nil || self.Dependencies != nil
	var all []*store.Job
	if named || self.StageIndex > 0 {
		f := store.JobFilter{BeforeStage: self.StageIndex}
		if named {
			f = store.JobFilter{}
		}
		if all, err = s.store.Jobs(ctx, j.PipelineID, f); err != nil {
			return nil, "", err
		}
	}
	var cur []*store.Job
	var specs []*plan.Job
	for _, x := range all {
		if !x.Retried {
			cur = append(cur, x)
			specs = append(specs, s.sched.Spec(x))
		}
	}
	out := &jobapi.Job{
		Version: version, ID: j.ID, Token: token, Project: jobapi.Project{ID: p.ID, Path: p.Path},
		Git:              jobapi.Git{URL: s.URL() + "/api/v1/git/" + itoa(p.ID) + ".git", Ref: pl.Ref, SHA: pl.SHA, Depth: 20},
		HeartbeatSeconds: jobapi.Seconds(s.sched.Heartbeat()),
	}
	if d := varValue(spec.Variables, "GIT_DEPTH"); d != "" {
		fmt.Sscan(d, &out.Git.Depth)
	}
	var dotenv []plan.Var
	for _, i := range flow.ArtifactSources(self, specs) {
		src := cur[i]
		if !src.Status.Final() {
			continue
		}
		arts, err := s.store.ListArtifacts(ctx, src.ID)
		if err != nil {
			return nil, "", err
		}
		has := false
		for _, a := range arts {
			has = has || a.Kind == "archive"
		}
		out.Dependencies = append(out.Dependencies, jobapi.Dependency{JobID: src.ID, Name: src.Name, HasArtifacts: has})
		if len(src.Dotenv) > 0 {
			var vs []jobapi.Var
			if err := json.Unmarshal(src.Dotenv, &vs); err == nil {
				dotenv = append(dotenv, jobapi.PlanVars(vs)...)
			}
		}
	}
	// Environment-scoped project variables, for the job's environment.
	if spec.Environment != nil && spec.Environment.Name != "" {
		vars, err := s.store.Variables(ctx, p.ID)
		if err != nil {
			return nil, "", err
		}
		for _, v := range vars {
			if v.Environment == "*" || v.Environment == "" || (v.Protected && !pl.Protected) || !scopeMatches(v.Environment, spec.Environment.Name) {
				continue
			}
			spec.Variables = setVar(spec.Variables, plan.Var{Key: v.Key, Value: v.Value, Masked: v.Masked, File: v.File})
		}
	}
	jobURL := s.URL() + "/api/v1/jobs/" + itoa(j.ID)
	for _, v := range []plan.Var{
		{Key: "CI_JOB_ID", Value: itoa(j.ID), Public: true},
		{Key: "CI_JOB_URL", Value: jobURL, Public: true},
		{Key: "CI_JOB_STARTED_AT", Value: j.Started.UTC().Format(time.RFC3339), Public: true},
		{Key: "CI_PIPELINE_ID", Value: itoa(pl.ID), Public: true},
		{Key: "CI_PIPELINE_IID", Value: itoa(pl.IID), Public: true},
		{Key: "CI_PIPELINE_URL", Value: s.pipelineURL(p, pl.ID), Public: true},
		{Key: "CI_PROJECT_ID", Value: itoa(p.ID), Public: true},
		{Key: "CI_RUNNER_ID", Value: itoa(rn.ID), Public: true},
		{Key: "CI_RUNNER_DESCRIPTION", Value: rn.Name, Public: true},
		{Key: "CI_RUNNER_TAGS", Value: tagsJSON(rn.Tags), Public: true},
		{Key: "CI_JOB_TOKEN", Value: token, Masked: true},
		{Key: "CI_REPOSITORY_URL", Value: strings.Replace(out.Git.URL, "://", "://"+jobapi.GitUser+":"+token+"@", 1), Masked: false},
		{Key: "CI_API_V4_URL", Value: s.URL() + "/api/v1", Public: true},
	} {
		spec.Variables = setVar(spec.Variables, v)
	}
	spec.Variables = append(spec.Variables, dotenv...)
	// Version 1 is the only one a server serves yet: a later version writes the Spec of
	// the version asked for here.
	out.Spec = jobapi.NewSpec(&spec)
	return out, pl.Status, nil
}

// scopeMatches reports whether a variable's environment scope matches an environment name:
// exact, or with * as a wildcard.
func scopeMatches(scope, env string) bool {
	ok, err := path.Match(scope, env)
	return err == nil && ok || scope == env
}

// setVar replaces the variable with v's key, or appends v.
func setVar(vars []plan.Var, v plan.Var) []plan.Var {
	for i := range vars {
		if vars[i].Key == v.Key {
			vars[i] = v
			return vars
		}
	}
	return append(vars, v)
}

func varValue(vars []plan.Var, key string) string {
	for _, v := range vars {
		if v.Key == key {
			return v.Value
		}
	}
	return ""
}

func tagsJSON(tags []string) string {
	b, _ := json.Marshal(nonNil(tags))
	return string(b)
}

// jobOfToken checks that the job token's job is the one in the path.
func jobOfToken(r *http.Request, c *caller) (*store.Job, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if c.job == nil || c.job.ID != id {
		return nil, errStatus(http.StatusForbidden, "the job token is not this job's")
	}
	return c.job, nil
}

// appendLog is PATCH /api/v1/jobs/{id}/log: a chunk of the log at a byte offset. The log
// is kept up to Limits.LogSize bytes, then cut: the bytes past the limit are dropped, the log
// ends with a line that says so, and the answer carries jobapi.HeaderLogCut.
func (s *Server) appendLog(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := jobOfToken(r, c)
	if err != nil {
		return err
	}
	start, n, err := jobapi.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return errStatus(http.StatusBadRequest, "%v", err)
	}
	if n > 8<<20 {
		return errStatus(http.StatusRequestEntityTooLarge, "log chunks are at most 8 MiB")
	}
	buf, err := io.ReadAll(http.MaxBytesReader(w, r.Body, n))
	if err != nil {
		return err
	}
	if int64(len(buf)) != n {
		return errStatus(http.StatusBadRequest, "body has %d bytes, Content-Range says %d", len(buf), n)
	}
	// Past the limit, the chunk is stored up to it, then the notice at the limit: the same
	// bytes at the same offsets whoever sends them, so that the appends stay idempotent.
	limit := s.o.Limits.LogSize
	cut := start+n > limit
	at := start
	if cut {
		at, buf = min(start, limit), buf[:max(0, limit-start)]
	}
	size, err := s.store.AppendLog(r.Context(), j.ID, at, buf)
	if err == nil && cut {
		size, err = s.store.AppendLog(r.Context(), j.ID, limit, logCutNotice(limit))
	}
	w.Header().Set(jobapi.HeaderLogSize, itoa(size))
	if errors.Is(err, store.ErrLogOffset) {
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return nil
	}
	if err != nil {
		return err
	}
	if cut {
		// The runner's log goes on after what it sent; the server keeps none of it.
		w.Header().Set(jobapi.HeaderLogSize, itoa(start+n))
		w.Header().Set(jobapi.HeaderLogCut, itoa(limit))
	}
	s.logs.publish(j.ID)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// logCutNotice ends a log cut at limit bytes.
func logCutNotice(limit int64) []byte {
	return fmt.Appendf(nil, "\n\nThe log reached its limit of %d bytes and was cut here: the job goes on, but no more of its output is kept.\n", limit)
}

// updateJob is PUT /api/v1/jobs/{id}: a heartbeat, or the job's end.
func (s *Server) updateJob(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := jobOfToken(r, c)
	if err != nil {
		return err
	}
	var u jobapi.Update
	if err := readRunnerJSON(w, r, &u); err != nil {
		return err
	}
	switch u.State {
	case status.Running, status.Success, status.Failed, status.Canceled:
	default:
		return errStatus(http.StatusBadRequest, "state %q: want running, success, failed or canceled", u.State)
	}
	if u.FailureReason != "" && !u.FailureReason.Known() {
		u.FailureReason = status.UnknownFailure // a newer runner's reason
	}
	if u.State == status.Running {
		cancel, err := s.store.Heartbeat(r.Context(), j.ID, j.RunnerID, s.now().Add(s.sched.Lease()))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, jobapi.UpdateResponse{Cancel: cancel})
		return nil
	}
	size, err := s.logSize(r.Context(), j.ID)
	if err != nil {
		return err
	}
	if size < u.LogSize && size < s.o.Limits.LogSize { // a cut log has all it will have
		w.Header().Set(jobapi.HeaderLogSize, itoa(size))
		return errStatus(http.StatusConflict, "the log has %d of %d bytes: send the rest first", size, u.LogSize)
	}
	boundJUnit(u.JUnit)
	if err := s.sched.Finish(r.Context(), j.ID, j.RunnerID, u); err != nil {
		return err
	}
	s.logs.publish(j.ID)
	writeJSON(w, http.StatusOK, jobapi.UpdateResponse{})
	return nil
}

// allowGit lets a running job's token fetch its own project's mirror. A store that fails is
// an error (a 503), not a refusal.
func (s *Server) allowGit(r *http.Request, projectID int64) (bool, error) {
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(jobapi.GitUser)) != 1 {
		return false, nil
	}
	j, err := s.store.JobByTokenHash(r.Context(), hashToken(pass))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return j.Status == status.Running && j.ProjectID == projectID, nil
}
