package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// The pages of settings: a project's settings (maintainers), the admin pages of runners and
// users, the signed-in user's personal tokens, and the CI lint page. Every change goes through
// the code the API uses for it (saveVariable, addSchedule, setMemberRole, changeProject,
// addUser, changeUser, newPersonalToken…), so that the pages and the API check the same.

// settingsPages are the pages of this file, ui_admin.go and ui_lint.go.
func (s *Server) settingsPages() []page {
	const (
		none       = store.RoleNone
		maintainer = store.RoleMaintainer
		settings   = "/{namespace}/{project}/-/settings"
	)
	return []page{
		{"GET " + settings, pageProject, maintainer, s.settingsGet},
		{"POST " + settings + "/variables", pageProject, maintainer, s.settingsForm(s.formVariable)},
		{"POST " + settings + "/variables/delete", pageProject, maintainer, s.settingsForm(s.formDeleteVariable)},
		{"POST " + settings + "/webhook-secret", pageProject, maintainer, s.regenerateSecret},
		{"POST " + settings + "/schedules", pageProject, maintainer, s.settingsForm(s.formSchedule)},
		{"POST " + settings + "/schedules/{sid}/delete", pageProject, maintainer, s.settingsForm(s.formDeleteSchedule)},
		{"POST " + settings + "/members", pageProject, maintainer, s.settingsForm(s.formMember)},
		{"POST " + settings + "/members/delete", pageProject, maintainer, s.settingsForm(s.formDeleteMember)},
		{"POST " + settings + "/general", pageProject, maintainer, s.settingsForm(s.formGeneral)},

		{"GET /-/admin/users", pageAdmin, none, s.adminUsersGet},
		{"POST /-/admin/users", pageAdmin, none, s.adminUserCreate},
		{"POST /-/admin/users/{username}/disable", pageAdmin, none, s.adminUserDisable},
		{"GET /-/admin/runners", pageAdmin, none, s.adminRunnersGet},
		{"POST /-/admin/runners/{id}/pause", pageAdmin, none, s.adminRunnerPause},
		{"POST /-/admin/runners/{id}/delete", pageAdmin, none, s.adminRunnerDelete},
		{"POST /-/admin/runners/token", pageAdmin, none, s.adminRegistrationToken},

		{"GET /-/profile/tokens", pageSignedIn, none, s.profileTokensGet},
		{"POST /-/profile/tokens", pageSignedIn, none, s.profileTokenCreate},
		{"POST /-/profile/tokens/{tid}/revoke", pageSignedIn, none, s.profileTokenRevoke},

		{"GET /-/lint", pageSignedIn, none, s.lintGet},
		{"POST /-/lint", pageSignedIn, none, s.lintPost},
	}
}

// settingsGet is a project's settings page.
func (s *Server) settingsGet(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.renderSettings(w, r.Context(), pc, http.StatusOK, "")
}

// renderSettings renders the settings page with status and, when a change was refused, its
// message. The values of masked variables are left out: they are never sent back.
func (s *Server) renderSettings(w http.ResponseWriter, ctx context.Context, pc *pageCtx, status int, msg string) error {
	p := pc.project
	vars, err := s.store.Variables(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, v := range vars {
		if v.Masked {
			v.Value = ""
		}
	}
	schedules, err := s.store.Schedules(ctx, p.ID)
	if err != nil {
		return err
	}
	ms, err := s.store.Members(ctx, p.ID)
	if err != nil {
		return err
	}
	members := make([]web.Member, 0, len(ms))
	for _, m := range ms {
		u, err := s.store.User(ctx, m.UserID)
		if err != nil {
			return err
		}
		members = append(members, web.Member{Username: u.Username, Role: m.Role.String()})
	}
	return s.site.Render(w, status, web.Settings{
		Layout: pc.layout(), BaseURL: s.URL(), Variables: vars, Schedules: schedules, Members: members,
		Visibility: p.Visibility, Retention: s.o.Retention, Error: msg,
	})
}

// settingsForm is the handler of a settings form that change makes: back to the settings
// page (303) when it is done, the page with the reason (and the status the API would
// answer) when it was refused.
func (s *Server) settingsForm(change func(r *http.Request, pc *pageCtx) error) func(http.ResponseWriter, *http.Request, *pageCtx) error {
	return func(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
		if err := change(r, pc); err != nil {
			status, msg, ok := refused(err)
			if !ok {
				return err
			}
			return s.renderSettings(w, r.Context(), pc, status, msg)
		}
		http.Redirect(w, r, web.SettingsURL(pc.project.Path), http.StatusSeeOther)
		return nil
	}
}

// checked reports whether a checkbox of the form was ticked.
func checked(r *http.Request, name string) bool { return r.PostForm.Get(name) == "1" }

// formVariable adds or replaces a variable: key, value, masked, protected, file, environment.
// A masked variable's value is never shown, so a masked variable given again without a value
// keeps the one it has; unmasking it takes its value anew (else the page would show it).
func (s *Server) formVariable(r *http.Request, pc *pageCtx) error {
	v := &store.Variable{
		ProjectID: pc.project.ID, Key: strings.TrimSpace(r.PostForm.Get("key")), Value: r.PostForm.Get("value"),
		Masked: checked(r, "masked"), Protected: checked(r, "protected"), File: checked(r, "file"),
		Environment: strings.TrimSpace(r.PostForm.Get("environment")),
	}
	if v.Environment == "" {
		v.Environment = "*"
	}
	if v.Value == "" {
		old, err := s.variable(r.Context(), pc.project.ID, v.Key, v.Environment)
		if err != nil {
			return err
		}
		if old != nil && old.Masked {
			if !v.Masked {
				return errStatus(http.StatusBadRequest, "variable %s is masked: give its value to unmask it", v.Key)
			}
			v.Value = old.Value
		}
	}
	return s.saveVariable(r.Context(), v)
}

// variable is the project's variable (key, environment), or nil.
func (s *Server) variable(ctx context.Context, projectID int64, key, env string) (*store.Variable, error) {
	vars, err := s.store.Variables(ctx, projectID)
	if err != nil {
		return nil, err
	}
	for _, v := range vars {
		if v.Key == key && v.Environment == env {
			return v, nil
		}
	}
	return nil, nil
}

// formDeleteVariable deletes a variable: key, environment.
func (s *Server) formDeleteVariable(r *http.Request, pc *pageCtx) error {
	key, env := r.PostForm.Get("key"), r.PostForm.Get("environment")
	if env == "" {
		env = "*"
	}
	err := s.store.DeleteVariable(r.Context(), pc.project.ID, key, env)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "no variable %s (environments %s)", key, env)
	}
	return err
}

// regenerateSecret gives the project a new webhook secret and shows it, this once, with the
// webhook URLs. The old secret stops working at once.
func (s *Server) regenerateSecret(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	secret, _ := newToken("")
	p := pc.project
	if err := s.changeProject(r.Context(), p, projectInput{WebhookSecret: &secret}, &caller{user: pc.user()}); err != nil {
		return err
	}
	return s.site.Render(w, http.StatusOK, web.ProjectCreated{Layout: pc.layout(), BaseURL: s.URL(), Secret: secret, Regenerated: true})
}

// formSchedule adds a schedule: description, cron, timezone, ref, active, and variables as
// var_key / var_value pairs.
func (s *Server) formSchedule(r *http.Request, pc *pageCtx) error {
	sc := &store.Schedule{
		Description: r.PostForm.Get("description"), Cron: strings.TrimSpace(r.PostForm.Get("cron")),
		Timezone: r.PostForm.Get("timezone"), Ref: r.PostForm.Get("ref"), Active: checked(r, "active"),
	}
	vars, err := formVars(r)
	if err != nil {
		return err
	}
	sc.Vars = vars
	return s.addSchedule(r.Context(), pc.project, sc)
}

// formVars reads the var_key / var_value pairs of a form; rows without a key are skipped.
func formVars(r *http.Request) (map[string]string, error) {
	keys, values := r.PostForm["var_key"], r.PostForm["var_value"]
	if len(keys) != len(values) {
		return nil, errStatus(http.StatusBadRequest, "variables: %d keys but %d values", len(keys), len(values))
	}
	var out map[string]string
	for i, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !variableKey.MatchString(k) {
			return nil, errStatus(http.StatusBadRequest, "variable key %q: letters, digits and _ only, not starting with a digit", k)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = values[i]
	}
	return out, nil
}

// formDeleteSchedule deletes the schedule {sid} of the project.
func (s *Server) formDeleteSchedule(r *http.Request, pc *pageCtx) error {
	id, err := pathID(r, "sid")
	if err != nil {
		return err
	}
	return s.removeSchedule(r.Context(), pc.project, id)
}

// formUser is the user the form's username names; 400 when there is none.
func (s *Server) formUser(ctx context.Context, username string) (*store.User, error) {
	username = strings.TrimSpace(username)
	u, err := s.store.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errStatus(http.StatusBadRequest, "no user %q", username)
	}
	return u, err
}

// formMember adds a member or changes a role: username, role.
func (s *Server) formMember(r *http.Request, pc *pageCtx) error {
	u, err := s.formUser(r.Context(), r.PostForm.Get("username"))
	if err != nil {
		return err
	}
	given := r.PostForm.Get("role")
	role, ok := store.ParseRole(given)
	if !ok {
		return errStatus(http.StatusBadRequest, "role %q: want reporter, developer or maintainer", given)
	}
	_, err = s.setMemberRole(r.Context(), pc.project, u, role)
	return err
}

// formDeleteMember removes a member: username.
func (s *Server) formDeleteMember(r *http.Request, pc *pageCtx) error {
	u, err := s.formUser(r.Context(), r.PostForm.Get("username"))
	if err != nil {
		return err
	}
	err = s.removeMember(r.Context(), pc.project, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusBadRequest, "%s is no member of %s", u.Username, pc.project.Path)
	}
	return err
}

// formGeneral changes the project's visibility.
func (s *Server) formGeneral(r *http.Request, pc *pageCtx) error {
	vis := r.PostForm.Get("visibility")
	if vis == "" {
		return errStatus(http.StatusBadRequest, "visibility: want private, internal or public")
	}
	return s.changeProject(r.Context(), pc.project, projectInput{Visibility: &vis}, &caller{user: pc.user()})
}
