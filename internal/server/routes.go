package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/scheduler"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// Who may call a route.
const (
	authPublic   = "public"   // webhooks (signed), badges, health, metrics
	authAPI      = "api"      // an API token (admin or user)
	authAdmin    = "admin"    // the admin token
	authRunner   = "runner"   // a runner token
	authJob      = "job"      // the token of a running job
	authAPIOrJob = "api|job"  // either; a job token only for projects that allow its own
	authRegister = "register" // the registration token, in the body
)

// route is one entry of the route table: the test walks it to check every /api/ route
// refuses anonymous calls.
type route struct {
	pattern string
	auth    string
	handle  func(w http.ResponseWriter, r *http.Request, c *caller) error
}

// caller is who made a request.
type caller struct {
	token  *store.Token
	runner *store.Runner
	job    *store.Job
}

// Routes lists the route patterns with who may call them ("public", "api", "admin",
// "runner", "job", "api|job", "register").
func (s *Server) Routes() map[string]string {
	out := map[string]string{}
	for _, rt := range s.routes {
		out[rt.pattern] = rt.auth
	}
	return out
}

func (s *Server) routeTable() http.Handler {
	s.routes = []route{
		{"GET /healthz", authPublic, s.healthz},
		{"GET /metrics", authPublic, s.serveMetrics},
		{"GET /{namespace}/{project}/badge.svg", authPublic, s.statusBadge},
		{"GET /{namespace}/{project}/coverage.svg", authPublic, s.coverageBadge},
		{"POST /hooks/{forge}/{project}", authPublic, s.hook},

		{"POST /api/v1/projects", authAPI, s.createProject},
		{"GET /api/v1/projects", authAPI, s.listProjects},
		{"GET /api/v1/projects/{id}", authAPI, s.getProject},
		{"PATCH /api/v1/projects/{id}", authAPI, s.updateProject},
		{"GET /api/v1/projects/{id}/variables", authAPI, s.listVariables},
		{"PUT /api/v1/projects/{id}/variables/{key}", authAPI, s.setVariable},
		{"DELETE /api/v1/projects/{id}/variables/{key}", authAPI, s.deleteVariable},
		{"GET /api/v1/projects/{id}/schedules", authAPI, s.listSchedules},
		{"POST /api/v1/projects/{id}/schedules", authAPI, s.createSchedule},
		{"DELETE /api/v1/projects/{id}/schedules/{sid}", authAPI, s.deleteSchedule},
		{"GET /api/v1/projects/{id}/hooks", authAPI, s.listDeliveries},
		{"GET /api/v1/projects/{id}/pipelines", authAPI, s.listPipelines},
		{"POST /api/v1/projects/{id}/pipelines", authAPIOrJob, s.triggerPipeline},
		{"GET /api/v1/pipelines/{id}", authAPI, s.getPipeline},
		{"POST /api/v1/pipelines/{id}/cancel", authAPI, s.cancelPipeline},
		{"GET /api/v1/jobs/{id}", authAPI, s.getJob},
		{"GET /api/v1/jobs/{id}/log", authAPI, s.jobLog},
		{"GET /api/v1/jobs/{id}/log/stream", authAPI, s.jobLogStream},
		{"POST /api/v1/jobs/{id}/retry", authAPI, s.retryJob},
		{"POST /api/v1/jobs/{id}/cancel", authAPI, s.cancelJob},
		{"POST /api/v1/jobs/{id}/play", authAPI, s.playJob},
		{"GET /api/v1/jobs/{id}/artifacts", authAPIOrJob, s.downloadArtifacts},
		{"GET /api/v1/runners", authAPI, s.listRunners},
		{"DELETE /api/v1/runners/{id}", authAdmin, s.deleteRunner},
		{"POST /api/v1/tokens", authAdmin, s.createToken},

		{"POST /api/v1/runners", authRegister, s.registerRunner},
		{"POST /api/v1/jobs/request", authRunner, s.requestJob},
		{"PATCH /api/v1/jobs/{id}/log", authJob, s.appendLog},
		{"PUT /api/v1/jobs/{id}", authJob, s.updateJob},
		{"POST /api/v1/jobs/{id}/artifacts", authJob, s.uploadArtifacts},
		{"GET /api/v1/projects/{id}/cache/{key}", authJob, s.getCache},
		{"PUT /api/v1/projects/{id}/cache/{key}", authJob, s.putCache},
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.pattern, s.adapt(rt))
	}
	// Git over HTTP for runners (job tokens, basic auth), under /api/v1 so that it cannot
	// overlap the badge routes.
	mux.Handle("/api/v1/git/", http.StripPrefix("/api/v1", s.progressHandler(s.mirrors.Handler(s.allowGit))))
	return mux
}

// httpError is an error with the status to answer.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// adapt authenticates the caller, runs the handler and turns its error into a status and a
// JSON body; unexpected errors are logged with the request's route.
func (s *Server) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r, rt.auth)
		if err == nil {
			if rt.auth != authPublic && rt.auth != authRegister {
				w, r = s.progress(w, r) // transfers of authenticated callers may be long
			}
			err = s.serve(rt, w, r, c)
		}
		if err == nil {
			return
		}
		status := http.StatusInternalServerError
		msg := "internal error"
		var he *httpError
		var mbe *http.MaxBytesError
		var ie *pipeline.InternalError
		switch {
		case errors.As(err, &ie):
			// A bug: the answer names the configuration file and line being read, if any;
			// the stack goes to the debug log.
			if ie.Pos.File != "" {
				msg = ie.Error()
			}
			s.log.Error("request failed: internal error", "route", rt.pattern, "err", err)
			s.log.Debug("internal error", "route", rt.pattern, "stack", string(ie.Stack))
		case errors.As(err, &he):
			status, msg = he.status, he.msg
		case errors.As(err, &mbe):
			status, msg = http.StatusRequestEntityTooLarge, "request body too large"
		case errors.Is(err, store.ErrUnavailable):
			// Never an answer about what was asked: the client tries again.
			status, msg = http.StatusServiceUnavailable, msgUnavailable
			s.log.Debug("request failed: store unavailable", "route", rt.pattern, "err", err)
		case errors.Is(err, store.ErrNotFound):
			status, msg = http.StatusNotFound, "not found"
		case errors.Is(err, store.ErrConflict):
			status, msg = http.StatusConflict, err.Error()
		case errors.Is(err, scheduler.ErrState):
			status, msg = http.StatusConflict, err.Error()
		case errors.Is(err, store.ErrLeaseLost):
			status, msg = http.StatusForbidden, "job is not running for this runner"
		case errors.Is(err, context.Canceled):
			status, msg = 499, "canceled"
		default:
			s.log.Error("request failed", "route", rt.pattern, "err", err)
		}
		switch status {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, map[string]string{"error": msg})
	})
}

// serve runs the route's handler. A panic in it (a bug) is returned as a
// *pipeline.InternalError, for adapt to answer 500 and log, and the server goes on;
// http.ErrAbortHandler, the deliberate way to abort a response, is not caught.
func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request, c *caller) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err = pipeline.Recovered(pipeline.Pos{}, v)
		}
	}()
	return rt.handle(w, r, c)
}

// retryAfter is the Retry-After (seconds) of a 503: how long clients are asked to wait when
// the server cannot answer for now, its store being unavailable.
const retryAfter = "5"

// msgUnavailable is the error of a 503.
const msgUnavailable = "the server's database is unavailable; try again later"

// authenticate finds who calls, per the route's rule. Only store.ErrNotFound makes a token
// unknown: another store error is returned (a 503 for an outage), never a 401.
func (s *Server) authenticate(r *http.Request, rule string) (*caller, error) {
	c := &caller{}
	if rule == authPublic || rule == authRegister {
		return c, nil
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, errStatus(http.StatusUnauthorized, "missing bearer token")
	}
	hash := hashToken(tok)
	ctx := r.Context()
	deny := errStatus(http.StatusUnauthorized, "invalid token")
	for _, kind := range strings.Split(rule, "|") {
		switch kind {
		case authAPI, authAdmin:
			t, err := s.store.TokenByHash(ctx, hash)
			switch {
			case err == nil && (t.Kind == "admin" || kind == authAPI && t.Kind == "user"):
				c.token = t
				return c, nil
			case err == nil:
				deny = errStatus(http.StatusForbidden, "this token may not do that")
			case !errors.Is(err, store.ErrNotFound):
				return nil, err
			}
		case authRunner:
			rn, err := s.store.RunnerByTokenHash(ctx, hash)
			if err == nil {
				c.runner = rn
				return c, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		case authJob:
			j, err := s.store.JobByTokenHash(ctx, hash)
			if err == nil && j.Status == status.Running {
				c.job = j
				return c, nil
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			if kind == rule {
				ended, err := s.endedJob(r, hash)
				if err != nil {
					return nil, err
				}
				if ended {
					deny = errStatus(http.StatusForbidden, "job is not running for this runner")
				}
			}
		}
	}
	return nil, deny
}

// endedJob reports whether hash is the token of the job in a /api/v1/jobs/{id}/… path that
// is no longer running (finished, failed after missed heartbeats, canceled): the runner lost
// its lease, which the runner protocol answers with 403, not with the 401 of a bad token.
func (s *Server) endedJob(r *http.Request, hash string) (bool, error) {
	if !strings.HasPrefix(r.URL.Path, "/api/v1/jobs/") {
		return false, nil
	}
	id, err := pathID(r, "id")
	if err != nil {
		return false, nil
	}
	j, err := s.store.Job(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return j.Status != status.Running && j.TokenHash != "" &&
		subtle.ConstantTimeCompare([]byte(j.TokenHash), []byte(hash)) == 1, nil
}

// healthz answers "ok", or "unavailable" (503) when the store does not answer; the reason
// goes to the log only.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *caller) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := s.store.CountTokens(r.Context(), "admin"); err != nil {
		s.log.Debug("health check: store", "err", err)
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unavailable\n"))
		return nil
	}
	_, _ = w.Write([]byte("ok\n"))
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a JSON body of at most 1 MiB into v; unknown fields are refused (the
// public API).
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, v, true)
}

// readRunnerJSON decodes a runner protocol body of at most 1 MiB into v, skipping the
// fields it does not know: a newer runner may send more (see package jobapi).
func readRunnerJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, v, false)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any, strict bool) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errStatus(http.StatusBadRequest, "bad JSON body: %v", err)
	}
	return nil
}

// pathID reads a numeric path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errStatus(http.StatusNotFound, "no %s %q", name, r.PathValue(name))
	}
	return id, nil
}
