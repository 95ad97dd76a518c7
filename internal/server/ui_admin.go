package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/slipway/slipway/internal/web"
)

// The admin page of users and the signed-in user's page of personal tokens.

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
