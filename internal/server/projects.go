package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/slipway/slipway/internal/gitcmd"
	"github.com/slipway/slipway/internal/store"
)

// projectInput is the body of POST and PATCH /api/v1/projects.
type projectInput struct {
	Name          *string   `json:"name"`
	Path          *string   `json:"path"`
	CloneURL      *string   `json:"clone_url"`
	DefaultBranch *string   `json:"default_branch"`
	WebhookSecret *string   `json:"webhook_secret"`
	Forge         *string   `json:"forge"`
	ForgeURL      *string   `json:"forge_url"`
	ForgeRepo     *string   `json:"forge_repo"`
	ForgeToken    *string   `json:"forge_token"`
	Hooks         *[]string `json:"hooks"`
	Tags          *[]string `json:"tags"`
	// ProtectedBranches and JobTokenAllowlist: see store.Project.
	ProtectedBranches *[]string `json:"protected_branches"`
	JobTokenAllowlist *[]string `json:"job_token_allowlist"`
	// Visibility: see store.Project ("" keeps it; a new project is private).
	Visibility *string `json:"visibility"`
}

var (
	projectPath = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// projectPattern is an entry of a job token allowlist: a project path, * wildcards allowed.
	projectPattern = regexp.MustCompile(`^[A-Za-z0-9._*-]+/[A-Za-z0-9._*-]+$`)
	// branchPattern is an entry of protected branches: a branch name, * wildcards allowed. It
	// is compiled on first use: its {1,255} makes it the costliest of the program's regexps to
	// compile (about a millisecond), which commands that serve nothing should not pay.
	branchPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^\x00-\x20\x7f~^:?\[\\]{1,255}$`) })
)

// trimAll trims every string of list.
func trimAll(list []string) []string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = strings.TrimSpace(x)
	}
	return out
}

// apply sets the given fields on p.
func (in *projectInput) apply(p *store.Project) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&p.Path, in.Path)
	// The API shows clone URLs with their credentials hidden: given back unchanged, such a
	// URL keeps the credentials it hides.
	if in.CloneURL == nil || p.CloneURL == "" || strings.TrimSpace(*in.CloneURL) != gitcmd.Redact(p.CloneURL) {
		set(&p.CloneURL, in.CloneURL)
	}
	set(&p.DefaultBranch, in.DefaultBranch)
	set(&p.Forge, in.Forge)
	set(&p.ForgeURL, in.ForgeURL)
	set(&p.ForgeRepo, in.ForgeRepo)
	if in.WebhookSecret != nil {
		p.WebhookSecret = *in.WebhookSecret
	}
	if in.ForgeToken != nil {
		p.ForgeToken = *in.ForgeToken
	}
	if in.Hooks != nil {
		p.Hooks = *in.Hooks
	}
	if in.Tags != nil {
		p.Tags = *in.Tags
	}
	if in.ProtectedBranches != nil {
		p.ProtectedBranches = trimAll(*in.ProtectedBranches)
	}
	if in.JobTokenAllowlist != nil {
		p.JobTokenAllowlist = trimAll(*in.JobTokenAllowlist)
	}
	set(&p.Visibility, in.Visibility)
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if in.Path == nil && p.Path == "" {
			// A bare name lives in the default namespace.
			if strings.Contains(name, "/") {
				p.Path = name
			} else {
				p.Path = "slipway/" + name
			}
		}
	}
	p.Name = path.Base(p.Path)
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	if p.Visibility == "" {
		p.Visibility = store.VisibilityPrivate
	}
}

func validProject(p *store.Project) error {
	switch {
	case !projectPath.MatchString(p.Path):
		return errStatus(http.StatusBadRequest, "project path %q: want namespace/name of letters, digits, '.', '-' and '_'", p.Path)
	case p.CloneURL == "":
		return errStatus(http.StatusBadRequest, "clone_url is required")
	case strings.HasPrefix(p.CloneURL, "-"):
		return errStatus(http.StatusBadRequest, "clone_url may not start with '-'")
	case p.Forge != "" && p.Forge != "github" && p.Forge != "gitlab" && p.Forge != "gitea":
		return errStatus(http.StatusBadRequest, "forge %q: want github, gitlab or gitea", p.Forge)
	case p.Visibility != store.VisibilityPrivate && p.Visibility != store.VisibilityInternal && p.Visibility != store.VisibilityPublic:
		return errStatus(http.StatusBadRequest, "visibility %q: want private, internal or public", p.Visibility)
	}
	for _, b := range p.ProtectedBranches {
		if !branchPattern().MatchString(b) {
			return errStatus(http.StatusBadRequest, "protected_branches: %q is no branch name or pattern (* is the wildcard)", b)
		}
	}
	for _, a := range p.JobTokenAllowlist {
		if !projectPattern.MatchString(a) {
			return errStatus(http.StatusBadRequest, "job_token_allowlist: %q is no project path or pattern such as group/* (* is the wildcard)", a)
		}
	}
	return nil
}

// scpLike is git's scp-like syntax of an ssh URL, [user@]host:path: a host of letters,
// digits, '.' and '-' that starts with neither '-' nor '.', and a path that does not start with
// ':' (git reads host::address as the remote helper "host") nor, for the URL to be no URL,
// with "//".
var scpLike = regexp.MustCompile(`^(?:[A-Za-z0-9._%+-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:[^:]`)

// checkCloneURL lets only admins (the admin token, admin users) set a clone URL that git reads on the server's
// host: a path or a file:// URL would make the server mirror, and serve to the project's jobs,
// any repository the server can read — another project's mirror under DATA/git, a repository
// of the host. Other tokens give a remote URL: http://, https://, ssh:// or scp-like
// user@host:path (not git's other transports, such as ext:: which runs a command).
func checkCloneURL(u string, c *caller) error {
	if c.admin() {
		return nil
	}
	if scpLike.MatchString(u) && !strings.Contains(u, "://") {
		return nil
	}
	if parsed, err := url.Parse(u); err == nil && parsed.Host != "" && !strings.HasPrefix(parsed.Host, "-") {
		switch strings.ToLower(parsed.Scheme) {
		case "http", "https", "ssh":
			return nil
		}
	}
	return errStatus(http.StatusBadRequest, "clone_url %q: want an http://, https:// or ssh:// URL or user@host:path; a path or file:// URL on the server's host is for admins only", gitcmd.Redact(u))
}

// projectView is a project as the API shows it: the credentials of its clone URL hidden.
type projectView struct {
	*store.Project
	CloneURL string `json:"clone_url"`
}

func viewProject(p *store.Project) projectView {
	return projectView{Project: p, CloneURL: gitcmd.Redact(p.CloneURL)}
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in projectInput
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.newProject(r.Context(), &in, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewProject(p))
	return nil
}

// newProject creates the project in describes for c (the API's and the dashboard's form):
// checked, stored, and its creator made its maintainer.
func (s *Server) newProject(ctx context.Context, in *projectInput, c *caller) (*store.Project, error) {
	if in.Name == nil && in.Path == nil {
		return nil, errStatus(http.StatusBadRequest, "name is required")
	}
	p := &store.Project{}
	in.apply(p)
	if err := validProject(p); err != nil {
		return nil, err
	}
	if err := checkCloneURL(p.CloneURL, c); err != nil {
		return nil, err
	}
	if err := s.store.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	if c.user != nil && !c.user.Admin {
		// The creator maintains it (admins maintain every project anyway).
		if err := s.store.SetMember(ctx, &store.Member{ProjectID: p.ID, UserID: c.user.ID, Role: store.RoleMaintainer}); err != nil {
			return nil, fmt.Errorf("make the creator of project %s its maintainer: %w", p.Path, err)
		}
	}
	return p, nil
}

// listProjects is GET /api/v1/projects: the projects the caller can read.
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, c *caller) error {
	ps, err := s.readableProjects(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]projectView, 0, len(ps))
	for _, p := range ps {
		out = append(out, viewProject(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readableProjects lists the projects c may read (the API's list, the dashboard), ordered
// by path.
func (s *Server) readableProjects(ctx context.Context, c *caller) ([]*store.Project, error) {
	ps, err := s.store.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		role, err := s.callerRole(ctx, c, p)
		if err != nil {
			return nil, err
		}
		if role >= store.RoleReporter {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *Server) project(r *http.Request) (*store.Project, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.store.Project(r.Context(), id)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewProject(p))
	return nil
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	var in projectInput
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.changeProject(r.Context(), p, in, c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewProject(p))
	return nil
}

// changeProject applies in to p, checks the result and stores it: the API's PATCH and the
// settings page's forms.
func (s *Server) changeProject(ctx context.Context, p *store.Project, in projectInput, c *caller) error {
	before := p.CloneURL
	in.apply(p)
	if err := validProject(p); err != nil {
		return err
	}
	if p.CloneURL != before {
		if err := checkCloneURL(p.CloneURL, c); err != nil {
			return err
		}
	}
	return s.store.UpdateProject(ctx, p)
}

// variableView hides the values of masked variables.
type variableView struct {
	*store.Variable
	Value string `json:"value"`
}

func (s *Server) listVariables(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	vs, err := s.store.Variables(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]variableView, len(vs))
	for i, v := range vs {
		out[i] = variableView{Variable: v, Value: v.Value}
		if v.Masked {
			out[i].Value = "[MASKED]"
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var variableKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maskable is what a masked variable's value may be, as GitLab's rule for masked variables:
// one line of at least 8 characters of the Base64 alphabet (RFC 4648, both flavours) and
// '@', ':', '.', '~' — a value the job log can be searched for and hidden in reliably.
var maskable = regexp.MustCompile(`^[A-Za-z0-9_+=/@:.~-]{8,}$`)

func (s *Server) setVariable(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	v := &store.Variable{}
	if err := readJSON(w, r, v); err != nil {
		return err
	}
	v.ProjectID, v.Key = p.ID, r.PathValue("key")
	if err := s.saveVariable(r.Context(), v); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// saveVariable checks v (its key, a masked value's form, the size limit) and stores it,
// replacing the variable of the same key and environment scope ("" means "*"): the API's
// PUT and the settings page's form.
func (s *Server) saveVariable(ctx context.Context, v *store.Variable) error {
	if !variableKey.MatchString(v.Key) {
		return errStatus(http.StatusBadRequest, "variable key %q: letters, digits and _ only, not starting with a digit", v.Key)
	}
	if v.Environment == "" {
		v.Environment = "*"
	}
	if v.Masked && !maskable.MatchString(v.Value) {
		return errStatus(http.StatusBadRequest, "variable %s: a masked value must be one line of at least 8 characters, letters, digits and + / = @ : . ~ - _ only", v.Key)
	}
	if err := s.checkVariables(map[string]string{v.Key: v.Value}); err != nil {
		return err
	}
	return s.store.SetVariable(ctx, v)
}

func (s *Server) deleteVariable(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	env := r.URL.Query().Get("environment_scope")
	if env == "" {
		env = "*"
	}
	if err := s.store.DeleteVariable(r.Context(), p.ID, r.PathValue("key"), env); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	ss, err := s.store.Schedules(r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ss))
	return nil
}

// nextRun is when a cron expression fires next after t, in its time zone (an IANA name; ""
// is UTC). The expression is 5 fields, minute hour day-of-month month day-of-week, as GitLab
// takes them; descriptors such as @daily or @every, and time zones written into the
// expression, are refused. One that no time in the next five years matches (0 0 30 2 *) is
// refused too: it would never fire.
func nextRun(expr, tz string, t time.Time) (time.Time, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return time.Time{}, errStatus(http.StatusBadRequest, "cron_timezone %q: not a time zone (want an IANA name such as Europe/Paris)", tz)
		}
		loc = l
	}
	if n := len(strings.Fields(expr)); n != 5 {
		return time.Time{}, errStatus(http.StatusBadRequest,
			"cron %q: want 5 fields, minute hour day-of-month month day-of-week (e.g. \"0 3 * * *\": every day at 03:00); descriptors such as @every are not taken", expr)
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return time.Time{}, errStatus(http.StatusBadRequest, "cron %q: %v", expr, err)
	}
	next := sched.Next(t.In(loc))
	if next.IsZero() {
		return time.Time{}, errStatus(http.StatusBadRequest, "cron %q never fires: no time in the next five years matches it", expr)
	}
	return next.UTC(), nil
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	sc := &store.Schedule{Active: true}
	if err := readJSON(w, r, sc); err != nil {
		return err
	}
	if err := s.addSchedule(r.Context(), p, sc); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sc)
	return nil
}

// addSchedule checks sc (its cron expression and time zone, its variables' sizes) and stores
// it as a new schedule of p; an empty ref is p's default branch. The API's POST and the
// settings page's form.
func (s *Server) addSchedule(ctx context.Context, p *store.Project, sc *store.Schedule) error {
	sc.ID, sc.ProjectID = 0, p.ID
	sc.Description, sc.Ref, sc.Timezone = strings.TrimSpace(sc.Description), strings.TrimSpace(sc.Ref), strings.TrimSpace(sc.Timezone)
	if err := s.checkVariables(sc.Vars); err != nil {
		return err
	}
	if sc.Ref == "" {
		sc.Ref = p.DefaultBranch
	}
	next, err := nextRun(sc.Cron, sc.Timezone, s.now())
	if err != nil {
		return err
	}
	sc.NextRun = next
	return s.store.CreateSchedule(ctx, sc)
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "sid")
	if err != nil {
		return err
	}
	if err := s.removeSchedule(r.Context(), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeSchedule deletes p's schedule id; a schedule of another project is not found here
// (a maintainer of one project deletes no other project's schedules).
func (s *Server) removeSchedule(ctx context.Context, p *store.Project, id int64) error {
	ss, err := s.store.Schedules(ctx, p.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ss, func(sc *store.Schedule) bool { return sc.ID == id }) {
		return errStatus(http.StatusNotFound, "no schedule %d in project %s", id, p.Path)
	}
	return s.store.DeleteSchedule(ctx, id)
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	ds, err := s.store.ListDeliveries(r.Context(), p.ID, 100)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ds))
	return nil
}

// listRunners is GET /api/v1/runners: for callers with full access (not personal tokens of
// users who are no admins: runners are the server's, not a project's).
func (s *Server) listRunners(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.full() {
		return errStatus(http.StatusForbidden, "runners are listed to admins only")
	}
	rs, err := s.store.ListRunners(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(rs))
	return nil
}

func (s *Server) deleteRunner(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteRunner(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createToken makes a user API token (admin only) and shows it once.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var in struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if in.Kind == "" {
		in.Kind = "user"
	}
	if in.Kind != "user" && in.Kind != "admin" && in.Kind != "registration" {
		return errStatus(http.StatusBadRequest, "kind %q: want user, admin or registration", in.Kind)
	}
	tok, hash := newToken(map[string]string{"user": "slu_", "admin": "slp_", "registration": "slr_"}[in.Kind])
	t := &store.Token{Name: in.Name, Kind: in.Kind, Hash: hash}
	if err := s.store.CreateToken(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "kind": t.Kind, "token": tok})
	return nil
}

// nonNil makes nil slices encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
