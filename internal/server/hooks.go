package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/slipway/slipway/internal/gitmirror"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/webhook"
)

// hook receives a forge's webhook delivery: verified, recorded, and turned into a pipeline
// unless it asks for none (a deletion, [skip ci], an ignored event, a redelivery).
func (s *Server) hook(w http.ResponseWriter, r *http.Request, _ *caller) error {
	forge := r.PathValue("forge")
	switch forge {
	case "github", "gitlab", "gitea":
	default:
		return errStatus(http.StatusNotFound, "no webhook for forge %q (github, gitlab, gitea)", forge)
	}
	id, err := pathID(r, "project")
	if err != nil {
		return err
	}
	p, err := s.store.Project(r.Context(), id)
	if err != nil {
		return err
	}
	d := &store.Delivery{ProjectID: p.ID, Forge: forge}
	// A delivery refused before it is authenticated is only counted: anyone can send them.
	reject := func(status int, reason, outcome string) error {
		s.metrics.delivery(forge, status)
		s.metrics.rejected(p.ID, reason)
		writeJSON(w, status, map[string]any{"outcome": outcome})
		return nil
	}
	answer := func(status int, outcome string, pipelineID int64) error {
		d.Status, d.Outcome, d.PipelineID = status, outcome, pipelineID
		var err error
		if d.ID == 0 {
			err = s.recordDelivery(r.Context(), d)
		} else {
			err = s.store.UpdateDelivery(r.Context(), d)
		}
		if err != nil && !errors.Is(err, store.ErrConflict) {
			s.log.Error("record webhook delivery", "project_id", p.ID, "err", err)
		}
		s.metrics.delivery(forge, status)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		body := map[string]any{"outcome": outcome}
		if pipelineID != 0 {
			body["pipeline_id"] = pipelineID
		}
		writeJSON(w, status, body)
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return reject(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body larger than %d bytes", webhook.MaxBody))
		}
		return errStatus(http.StatusBadRequest, "read body: %v", err)
	}
	ev, err := webhook.Parse(forge, r.Header, body, p.WebhookSecret)
	switch {
	case errors.Is(err, webhook.ErrSignature):
		return reject(http.StatusUnauthorized, "signature", "signature or token does not match the project's webhook secret")
	case err != nil:
		return answer(http.StatusBadRequest, err.Error(), 0)
	}
	d.Event = ev.EventName
	switch {
	case ev.Ignored != "":
		return answer(http.StatusAccepted, "ignored: "+ev.Ignored, 0)
	case ev.Deleted:
		return answer(http.StatusAccepted, "ignored: "+ev.Ref+" was deleted", 0)
	case webhook.SkipCI(ev.Message):
		return answer(http.StatusAccepted, "ignored: the commit message asks to [skip ci]", 0)
	}
	// Record first: the unique delivery id makes a redelivery answer without a second
	// pipeline, even when two arrive at once.
	d.GUID, d.Status, d.Outcome = ev.DeliveryID, http.StatusAccepted, "creating pipeline"
	if err := s.recordDelivery(r.Context(), d); errors.Is(err, store.ErrConflict) {
		// Logged and counted like any delivery, without the id that the first one holds.
		d.ID, d.GUID = 0, ""
		return answer(http.StatusOK, "duplicate delivery "+ev.DeliveryID+": already handled", 0)
	} else if err != nil {
		return err
	}
	t := trigger{Source: plan.SourcePush, Ref: ev.Ref, Tag: ev.Tag, SHA: ev.After, Before: ev.Before,
		Message: ev.Message, AuthorName: ev.AuthorName, AuthorEmail: ev.AuthorEmail}
	if ev.Kind == webhook.KindMergeRequest {
		t.Source, t.MR = plan.SourceMergeRequest, ev.MergeRequest
	}
	pl, err := s.createPipeline(r.Context(), p, t)
	var none *errNoPipeline
	var cfgErr pipeline.Errors
	switch {
	case errors.As(err, &none):
		return answer(http.StatusOK, none.Error(), 0)
	case errors.Is(err, store.ErrUnavailable):
		// The forge may deliver again; recorded (if the store lets it), this delivery's id
		// makes that a duplicate, but the outcome says what happened.
		return answer(http.StatusServiceUnavailable, msgUnavailable, 0)
	case errors.As(err, &cfgErr):
		return answer(http.StatusOK, "configuration error: "+firstLines(err.Error(), 5), 0)
	case err != nil:
		s.log.Error("create pipeline from webhook", "project_id", p.ID, "err", err)
		return answer(http.StatusInternalServerError, "could not create the pipeline: "+err.Error(), 0)
	}
	return answer(http.StatusCreated, "pipeline created", pl.ID)
}

// recordDelivery stores d and prunes the project's deliveries to Limits.Deliveries and
// Limits.DeliveryAge.
func (s *Server) recordDelivery(ctx context.Context, d *store.Delivery) error {
	d.Created = s.now()
	if err := s.store.RecordDelivery(ctx, d); err != nil {
		return err
	}
	if _, err := s.store.PruneDeliveries(ctx, d.ProjectID, s.o.Limits.Deliveries, s.now().Add(-s.o.Limits.DeliveryAge)); err != nil {
		s.log.Warn("prune webhook deliveries", "project_id", d.ProjectID, "err", err)
	}
	return nil
}

// triggerPipeline is POST /api/v1/projects/{id}/pipelines: a pipeline for the head of a ref,
// with variables, from an API token or a job token of a project p allows (see allows); to
// any other job token, p does not exist. As GitLab's API, it takes a ref and no commit: a
// pipeline runs what its ref holds. A job token gives no more than its own pipeline had: from
// a pipeline without protected variables, the new one gets none either (as on GitLab, where
// the job's user must be allowed to run pipelines of the protected ref), or the token's holder
// would run the protected ref with variables of their choosing (BASH_ENV, LD_PRELOAD, …).
// Pipelines cannot multiply themselves: one made by a job token is one deeper than the job's,
// up to Limits.PipelineDepth, and a project's triggers make at most Limits.PipelineRate
// pipelines a minute (429 past it; webhooks and schedules are not counted).
func (s *Server) triggerPipeline(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	t := trigger{Source: plan.SourceAPI}
	if c.job != nil {
		if err := s.jobReaches(r.Context(), c.job, p); err != nil {
			return err
		}
		from, err := s.store.Pipeline(r.Context(), c.job.PipelineID)
		if err != nil {
			return fmt.Errorf("pipeline of the job token: %w", err)
		}
		if limit := s.o.Limits.PipelineDepth; from.Depth >= limit {
			return errStatus(http.StatusBadRequest, "pipeline %d is at depth %d, the limit of pipelines made by job tokens (the server's --max-pipeline-depth): its jobs' tokens make no more pipelines",
				from.ID, from.Depth)
		}
		t.Source, t.Parent = plan.SourcePipeline, from
	}
	var in struct {
		Ref       string         `json:"ref"`
		Tag       bool           `json:"tag"`
		SHA       string         `json:"sha"`
		Variables map[string]any `json:"variables"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if in.SHA != "" {
		return errStatus(http.StatusBadRequest, "sha is not accepted: a pipeline runs the head of its ref; give the ref alone")
	}
	vars := map[string]string{}
	for k, v := range in.Variables {
		switch v := v.(type) {
		case string:
			vars[k] = v
		case float64, bool:
			vars[k] = fmt.Sprint(v)
		default:
			return errStatus(http.StatusBadRequest, "variable %s: want a string", k)
		}
	}
	t.Ref, t.Tag, t.Vars = in.Ref, in.Tag, vars
	pl, err := s.triggered(r.Context(), w, p, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.pipelineJSON(p, pl))
	return nil
}

// triggered makes the pipeline a trigger asks for, from the API or the "Run pipeline" form:
// the ref's head (the default branch when t.Ref is empty), with t.Vars, within the project's
// Limits.PipelineRate (429 with Retry-After on w past it). What the configuration or the ref
// refuses is a 400 that says why.
func (s *Server) triggered(ctx context.Context, w http.ResponseWriter, p *store.Project, t trigger) (*store.Pipeline, error) {
	if t.Ref == "" {
		t.Ref = p.DefaultBranch
	}
	for k := range t.Vars {
		if !variableKey.MatchString(k) {
			return nil, errStatus(http.StatusBadRequest, "variable key %q: letters, digits and _ only", k)
		}
	}
	if ok, wait := s.triggers.take(p.ID); !ok {
		w.Header().Set("Retry-After", retryAfterSeconds(wait))
		return nil, errStatus(http.StatusTooManyRequests, "project %d made its %d pipelines a minute through the API and the Run pipeline form (the server's --max-pipeline-rate): try again later",
			p.ID, s.o.Limits.PipelineRate)
	}
	pl, err := s.createPipeline(ctx, p, t)
	var none *errNoPipeline
	var cfgErr pipeline.Errors
	switch {
	case errors.As(err, &none):
		return nil, errStatus(http.StatusBadRequest, "%s", none.Error())
	case errors.As(err, &cfgErr):
		return nil, errStatus(http.StatusBadRequest, "configuration error: %s", err.Error())
	case errors.Is(err, gitmirror.ErrUnknownRevision):
		what := "branch or tag"
		if t.Tag {
			what = "tag"
		}
		return nil, errStatus(http.StatusBadRequest, "ref %q: no such %s", t.Ref, what)
	case err != nil:
		return nil, err
	}
	return pl, nil
}

// firstLines keeps the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}
