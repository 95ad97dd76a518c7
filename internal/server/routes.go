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
	"time"

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
// refuses anonymous calls. A route of one project (its path starts with
// /api/v1/projects/{id}, /api/v1/pipelines/{id} or /api/v1/jobs/{id}) names the role its
// API callers need in that project (see authorize); job, runner and public routes, and routes
// of no project, have store.RoleNone.
type route struct {
	pattern string
	auth    string
	role    store.Role
	handle  func(w http.ResponseWriter, r *http.Request, c *caller) error
}

// caller is who made a request: an API token (with its user for a personal token, or a
// signed-in user of a session for safe API requests), a runner or a job.
type caller struct {
	token  *store.Token
	user   *store.User
	runner *store.Runner
	job    *store.Job
}

// full reports whether the caller may do everything the API does: the admin token, a "user"
// token (made by an admin; the API's access of before users existed), or an admin user.
func (c *caller) full() bool {
	return c.token != nil && (c.token.Kind == "admin" || c.token.Kind == "user") || c.user != nil && c.user.Admin
}

// admin reports whether the caller may use admin routes: the admin token or an admin user.
func (c *caller) admin() bool {
	return c.token != nil && c.token.Kind == "admin" || c.user != nil && c.user.Admin
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
	const (
		none       = store.RoleNone
		reporter   = store.RoleReporter
		developer  = store.RoleDeveloper
		maintainer = store.RoleMaintainer
	)
	s.routes = []route{
		{"GET /healthz", authPublic, none, s.healthz},
		{"GET /metrics", authPublic, none, s.serveMetrics},
		{"GET /{namespace}/{project}/badge.svg", authPublic, none, s.statusBadge},
		{"GET /{namespace}/{project}/coverage.svg", authPublic, none, s.coverageBadge},
		{"POST /hooks/{forge}/{project}", authPublic, none, s.hook},

		{"POST /api/v1/projects", authAPI, none, s.createProject},
		{"GET /api/v1/projects", authAPI, none, s.listProjects},
		{"GET /api/v1/projects/{id}", authAPI, reporter, s.getProject},
		{"PATCH /api/v1/projects/{id}", authAPI, maintainer, s.updateProject},
		{"GET /api/v1/projects/{id}/variables", authAPI, maintainer, s.listVariables},
		{"PUT /api/v1/projects/{id}/variables/{key}", authAPI, maintainer, s.setVariable},
		{"DELETE /api/v1/projects/{id}/variables/{key}", authAPI, maintainer, s.deleteVariable},
		{"GET /api/v1/projects/{id}/schedules", authAPI, maintainer, s.listSchedules},
		{"POST /api/v1/projects/{id}/schedules", authAPI, maintainer, s.createSchedule},
		{"DELETE /api/v1/projects/{id}/schedules/{sid}", authAPI, maintainer, s.deleteSchedule},
		{"GET /api/v1/projects/{id}/hooks", authAPI, maintainer, s.listDeliveries},
		{"GET /api/v1/projects/{id}/members", authAPI, maintainer, s.listMembers},
		{"PUT /api/v1/projects/{id}/members/{uid}", authAPI, maintainer, s.setMember},
		{"DELETE /api/v1/projects/{id}/members/{uid}", authAPI, maintainer, s.deleteMember},
		{"GET /api/v1/projects/{id}/pipelines", authAPI, reporter, s.listPipelines},
		{"POST /api/v1/projects/{id}/pipelines", authAPIOrJob, developer, s.triggerPipeline},
		{"GET /api/v1/pipelines/{id}", authAPI, reporter, s.getPipeline},
		{"POST /api/v1/pipelines/{id}/cancel", authAPI, developer, s.cancelPipeline},
		{"GET /api/v1/jobs/{id}", authAPI, reporter, s.getJob},
		{"GET /api/v1/jobs/{id}/log", authAPI, reporter, s.jobLog},
		{"GET /api/v1/jobs/{id}/log/stream", authAPI, reporter, s.jobLogStream},
		{"POST /api/v1/jobs/{id}/retry", authAPI, developer, s.retryJob},
		{"POST /api/v1/jobs/{id}/cancel", authAPI, developer, s.cancelJob},
		{"POST /api/v1/jobs/{id}/play", authAPI, developer, s.playJob},
		{"GET /api/v1/jobs/{id}/artifacts", authAPIOrJob, reporter, s.downloadArtifacts},
		{"GET /api/v1/runners", authAPI, none, s.listRunners},
		{"DELETE /api/v1/runners/{id}", authAdmin, none, s.deleteRunner},
		{"POST /api/v1/tokens", authAdmin, none, s.createToken},

		{"GET /api/v1/user", authAPI, none, s.currentUser},
		{"PUT /api/v1/user/password", authAPI, none, s.changePassword},
		{"GET /api/v1/user/tokens", authAPI, none, s.listPersonalTokens},
		{"POST /api/v1/user/tokens", authAPI, none, s.createPersonalToken},
		{"DELETE /api/v1/user/tokens/{tid}", authAPI, none, s.revokePersonalToken},
		{"GET /api/v1/users", authAdmin, none, s.listUsers},
		{"POST /api/v1/users", authAdmin, none, s.createUser},
		{"PATCH /api/v1/users/{uid}", authAdmin, none, s.updateUser},
		{"POST /api/v1/users/{uid}/tokens", authAdmin, none, s.createUserToken},

		{"POST /api/v1/runners", authRegister, none, s.registerRunner},
		{"POST /api/v1/jobs/request", authRunner, none, s.requestJob},
		{"PATCH /api/v1/jobs/{id}/log", authJob, none, s.appendLog},
		{"PUT /api/v1/jobs/{id}", authJob, none, s.updateJob},
		{"POST /api/v1/jobs/{id}/artifacts", authJob, none, s.uploadArtifacts},
		{"GET /api/v1/projects/{id}/cache/{key}", authJob, none, s.getCache},
		{"PUT /api/v1/projects/{id}/cache/{key}", authJob, none, s.putCache},
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.pattern, s.adapt(rt))
	}
	// Git over HTTP for runners (job tokens, basic auth), under /api/v1 so that it cannot
	// overlap the badge routes.
	mux.Handle("/api/v1/git/", http.StripPrefix("/api/v1", s.progressHandler(s.mirrors.Handler(s.allowGit))))
	return s.mountPages(mux)
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
		if err == nil && rt.role != store.RoleNone {
			err = s.authorizeRoute(r, rt, c)
		}
		if err == nil {
			if rt.auth != authPublic && rt.auth != authRegister {
				w, r = s.progress(w, r) // transfers of authenticated callers may be long
			}
			err = s.serve(rt, w, r, c)
		}
		if err == nil {
			return
		}
		status, msg := s.errorAnswer(rt.pattern, err)
		switch status {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", retryAfter)
		}
		writeJSON(w, status, map[string]string{"error": msg})
	})
}

// errorAnswer is the status and message a failed request gets, for the API (JSON) and the
// pages alike; unexpected errors are logged with the route.
func (s *Server) errorAnswer(route string, err error) (status int, msg string) {
	status, msg = http.StatusInternalServerError, "internal error"
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
		s.log.Error("request failed: internal error", "route", route, "err", err)
		s.log.Debug("internal error", "route", route, "stack", string(ie.Stack))
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, "request body too large"
	case errors.Is(err, store.ErrUnavailable):
		// Never an answer about what was asked: the client tries again.
		status, msg = http.StatusServiceUnavailable, msgUnavailable
		s.log.Debug("request failed: store unavailable", "route", route, "err", err)
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
		s.log.Error("request failed", "route", route, "err", err)
	}
	return status, msg
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
		if r.Header.Get("Authorization") == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && takesAPIToken(rule) {
			// A page of a signed-in user reads through the API (log streams, artifacts);
			// only reads: a change needs a Bearer token, which no other site can send.
			v, err := s.viewerOf(r)
			if err != nil {
				return nil, err
			}
			if v != nil {
				if rule == authAdmin && !v.user.Admin {
					return nil, errStatus(http.StatusForbidden, "this is for admins")
				}
				c.user = v.user
				return c, nil
			}
		}
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
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, err
			case t.Kind == "personal":
				u, err := s.tokenUser(ctx, t)
				if err != nil {
					return nil, err
				}
				if u == nil {
					break // revoked, expired, or its user disabled: as unknown
				}
				if kind == authAdmin && !u.Admin {
					deny = errStatus(http.StatusForbidden, "this token may not do that")
					break
				}
				c.token, c.user = t, u
				return c, nil
			case t.Kind == "admin" || kind == authAPI && t.Kind == "user":
				c.token = t
				return c, nil
			default:
				deny = errStatus(http.StatusForbidden, "this token may not do that")
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

// takesAPIToken reports whether a route's rule takes API tokens.
func takesAPIToken(rule string) bool {
	for _, kind := range strings.Split(rule, "|") {
		if kind == authAPI || kind == authAdmin {
			return true
		}
	}
	return false
}

// tokenUseTouch is how stale a personal token's LastUsed may get before a request writes it
// again.
const tokenUseTouch = time.Minute

// tokenUser is the user of personal token t, or nil when t is revoked or expired or its user
// is disabled or gone. It records the token's use (at most once per tokenUseTouch).
func (s *Server) tokenUser(ctx context.Context, t *store.Token) (*store.User, error) {
	now := s.now()
	if t.Revoked || !t.Expires.IsZero() && !now.Before(t.Expires) {
		return nil, nil
	}
	u, err := s.activeUser(ctx, t.UserID)
	if u == nil || err != nil {
		return nil, err
	}
	if now.Sub(t.LastUsed) >= tokenUseTouch {
		if err := s.store.TouchToken(ctx, t.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return u, nil
}

// authorizeRoute checks that an API caller has the route's role in the project of the
// request's path. Job tokens are not checked here: their handlers check what the project
// allows them.
func (s *Server) authorizeRoute(r *http.Request, rt route, c *caller) error {
	if c.job != nil || c.runner != nil {
		return nil
	}
	p, err := s.routeProject(r, rt)
	if err != nil {
		return err
	}
	return s.authorize(r.Context(), c, p, rt.role)
}

// routeProject is the project of a request to a project's route: the project, pipeline or
// job {id} of its path names it.
func (s *Server) routeProject(r *http.Request, rt route) (*store.Project, error) {
	_, path, _ := strings.Cut(rt.pattern, " ")
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	switch {
	case strings.HasPrefix(path, "/api/v1/projects/{id}"):
		return s.store.Project(ctx, id)
	case strings.HasPrefix(path, "/api/v1/pipelines/{id}"):
		pl, err := s.store.Pipeline(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.store.Project(ctx, pl.ProjectID)
	case strings.HasPrefix(path, "/api/v1/jobs/{id}"):
		j, err := s.store.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.store.Project(ctx, j.ProjectID)
	}
	return nil, fmt.Errorf("route %q names a role but no project", rt.pattern)
}

// callerRole is an API caller's role in p: maintainer for full access (callers.full), a
// user's role (projectRole) for a personal token or a session, else none.
func (s *Server) callerRole(ctx context.Context, c *caller, p *store.Project) (store.Role, error) {
	switch {
	case c.full():
		return store.RoleMaintainer, nil
	case c.user != nil:
		return s.projectRole(ctx, c.user, p)
	}
	return store.RoleNone, nil
}

// authorize checks that c may do what needs role need in p: errHidden (404, as for a project
// that does not exist) when c cannot read p, 403 when it reads p but its role is lower.
func (s *Server) authorize(ctx context.Context, c *caller, p *store.Project, need store.Role) error {
	role, err := s.callerRole(ctx, c, p)
	if err != nil {
		return err
	}
	if role < store.RoleReporter {
		return errHidden
	}
	if role < need {
		return errStatus(http.StatusForbidden, "a %s of project %s may not do this: it takes a %s", role, p.Path, need)
	}
	return nil
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
