package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// The admin pages of users and runners, and the signed-in user's page of personal tokens.

// adminUsersGet is /-/admin/users.
func (s *Server) adminUsersGet(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.renderUsers(w, r.Context(), pc, http.StatusOK, web.AdminUsers{})
}

// renderUsers renders the users page: page's form values and error, with status.
func (s *Server) renderUsers(w http.ResponseWriter, ctx context.Context, pc *pageCtx, status int, page web.AdminUsers) error {
	us, err := s.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	page.Layout = pc.layout()
	for _, u := range us {
		page.Users = append(page.Users, web.UserRow{Username: u.Username, Admin: u.Admin, Disabled: u.Disabled, Created: u.Created})
	}
	return s.site.Render(w, status, page)
}

// adminUserCreate makes a user: username, password, admin.
func (s *Server) adminUserCreate(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	name := strings.TrimSpace(r.PostForm.Get("username"))
	if _, err := s.addUser(r.Context(), name, r.PostForm.Get("password"), checked(r, "admin")); err != nil {
		status, msg, ok := refused(err)
		if !ok {
			return err
		}
		return s.renderUsers(w, r.Context(), pc, status, web.AdminUsers{Username: name, Error: msg})
	}
	http.Redirect(w, r, "/-/admin/users", http.StatusSeeOther)
	return nil
}

// adminUserDisable disables (disabled "1") or enables ("0") the user {username}.
func (s *Server) adminUserDisable(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	u, err := s.store.UserByName(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	disabled := checked(r, "disabled")
	if err := s.changeUser(r.Context(), pc.user(), u, userChange{Disabled: &disabled}); err != nil {
		status, msg, ok := refused(err)
		if !ok {
			return err
		}
		return s.renderUsers(w, r.Context(), pc, status, web.AdminUsers{Error: msg})
	}
	http.Redirect(w, r, "/-/admin/users", http.StatusSeeOther)
	return nil
}

// profileTokensGet is /-/profile/tokens: the user's personal tokens that work or may work
// again (revoked ones are left out).
func (s *Server) profileTokensGet(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.renderTokens(w, r.Context(), pc, http.StatusOK, web.ProfileTokens{})
}

func (s *Server) renderTokens(w http.ResponseWriter, ctx context.Context, pc *pageCtx, status int, page web.ProfileTokens) error {
	ts, err := s.store.UserTokens(ctx, pc.user().ID)
	if err != nil {
		return err
	}
	page.Layout = pc.layout()
	for _, t := range ts {
		if !t.Revoked {
			page.Tokens = append(page.Tokens, t)
		}
	}
	return s.site.Render(w, status, page)
}

// profileTokenCreate makes a personal token (name, expires_at: YYYY-MM-DD or empty for
// none) and shows it this once.
func (s *Server) profileTokenCreate(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	in := tokenInput{Name: r.PostForm.Get("name"), Expires: strings.TrimSpace(r.PostForm.Get("expires_at"))}
	exp, err := in.expires()
	var secret string
	if err == nil {
		_, secret, err = s.newPersonalToken(r.Context(), pc.user(), in.Name, exp)
	}
	if err != nil {
		status, msg, ok := refused(err)
		if !ok {
			return err
		}
		return s.renderTokens(w, r.Context(), pc, status, web.ProfileTokens{Error: msg})
	}
	return s.renderTokens(w, r.Context(), pc, http.StatusCreated, web.ProfileTokens{NewToken: secret})
}

// profileTokenRevoke revokes the user's token {tid}; another user's token is not found.
func (s *Server) profileTokenRevoke(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	id, err := pathID(r, "tid")
	if err != nil {
		return err
	}
	if err := s.store.RevokeToken(r.Context(), pc.user().ID, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/-/profile/tokens", http.StatusSeeOther)
	return nil
}

// adminRunnersGet is /-/admin/runners.
func (s *Server) adminRunnersGet(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.renderRunners(w, r.Context(), pc, "")
}

// runnerOnline reports whether a runner is online: it runs a job (whose heartbeats keep
// its lease), or it asked for one within a long poll and a lease (three heartbeats) of now.
func (s *Server) runnerOnline(rn *store.Runner, busy bool) bool {
	return busy || s.now().Sub(rn.LastSeen) < s.o.LongPoll+3*s.sched.Heartbeat()
}

// renderRunners renders the runners page, with newToken (a registration token just made)
// shown once.
func (s *Server) renderRunners(w http.ResponseWriter, ctx context.Context, pc *pageCtx, newToken string) error {
	rs, err := s.store.ListRunners(ctx)
	if err != nil {
		return err
	}
	running, err := s.store.JobsByStatus(ctx, status.Running, 0)
	if err != nil {
		return err
	}
	current := map[int64]*store.Job{}
	for _, j := range running {
		current[j.RunnerID] = j
	}
	paths := map[int64]string{}
	page := web.AdminRunners{Layout: pc.layout(), BaseURL: s.URL(), NewToken: newToken}
	for _, rn := range rs {
		row := web.RunnerRow{Runner: rn, Paused: rn.Paused, Version: rn.Version, Job: current[rn.ID]}
		row.Online = s.runnerOnline(rn, row.Job != nil)
		if j := row.Job; j != nil {
			if _, ok := paths[j.ProjectID]; !ok {
				p, err := s.store.Project(ctx, j.ProjectID)
				if err != nil {
					return err
				}
				paths[j.ProjectID] = p.Path
			}
			row.Path = paths[j.ProjectID]
		}
		page.Runners = append(page.Runners, row)
	}
	return s.site.Render(w, http.StatusOK, page)
}

// adminRunnerPause pauses (pause "1") or resumes ("0") the runner {id}: a paused runner gets
// no new job, and finishes the ones it runs.
func (s *Server) adminRunnerPause(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	paused := checked(r, "pause")
	if err := s.store.PauseRunner(r.Context(), id, paused); err != nil {
		return err
	}
	s.log.Info("runner paused", "runner_id", id, "paused", paused, "by", pc.user().Username)
	http.Redirect(w, r, "/-/admin/runners", http.StatusSeeOther)
	return nil
}

// adminRunnerDelete removes the runner {id}, as DELETE /api/v1/runners/{id}: its token stops
// working, and a job it runs is lost when its lease ends.
func (s *Server) adminRunnerDelete(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteRunner(r.Context(), id); err != nil {
		return err
	}
	s.log.Info("runner removed", "runner_id", id, "by", pc.user().Username)
	http.Redirect(w, r, "/-/admin/runners", http.StatusSeeOther)
	return nil
}

// adminRegistrationToken resets the registration token: only its hash is kept, so the
// page cannot show the current one; a new one replaces every earlier one (they stop
// registering runners, the runners they registered keep working) and is shown this once.
func (s *Server) adminRegistrationToken(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	tok, hash := newToken("slr_")
	if err := s.store.ResetToken(r.Context(), &store.Token{Name: "registration (reset by " + pc.user().Username + ")", Kind: "registration", Hash: hash}); err != nil {
		return err
	}
	s.log.Info("registration token reset", "by", pc.user().Username)
	return s.renderRunners(w, r.Context(), pc, tok)
}
