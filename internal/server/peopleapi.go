package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// The API of people: users (admins), the caller's own user and personal tokens, and project
// members (maintainers).

// errNoUser answers a /api/v1/user route called with a token of no user's.
var errNoUser = errStatus(http.StatusForbidden, "this token belongs to no user (the admin token, or a user token an admin made): use a personal token")

// currentUser is GET /api/v1/user: the caller's user.
func (s *Server) currentUser(w http.ResponseWriter, _ *http.Request, c *caller) error {
	if c.user == nil {
		return errNoUser
	}
	writeJSON(w, http.StatusOK, c.user)
	return nil
}

// changePassword is PUT /api/v1/user/password: the caller changes their own password, giving
// the current one. Every session of the user ends.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, c *caller) error {
	if c.user == nil {
		return errNoUser
	}
	var in struct {
		Current  string `json:"current_password"`
		Password string `json:"password"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if !s.passwordMatches(c.user, in.Current) {
		return errStatus(http.StatusForbidden, "current_password is wrong")
	}
	if err := s.setPassword(r.Context(), c.user, in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setPassword gives u a new password and ends every session of u.
func (s *Server) setPassword(ctx context.Context, u *store.User, pw string) error {
	hash, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	return s.store.DeleteUserSessions(ctx, u.ID)
}

// maxTokenName bounds the names of personal tokens.
const maxTokenName = 255

// maxTokenYears bounds how far ahead a personal token's expiry may be: times are stored in
// nanoseconds, which end in 2262.
const maxTokenYears = 100

// newPersonalToken makes a personal token of u named name that expires at expires (zero:
// never), and returns it with its secret, which is shown once and not kept.
func (s *Server) newPersonalToken(ctx context.Context, u *store.User, name string, expires time.Time) (*store.Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxTokenName {
		return nil, "", errStatus(http.StatusBadRequest, "name: want 1 to %d characters", maxTokenName)
	}
	if !expires.IsZero() && !expires.After(s.now()) {
		return nil, "", errStatus(http.StatusBadRequest, "expires_at: want a time in the future")
	}
	if !expires.IsZero() && expires.After(s.now().AddDate(maxTokenYears, 0, 0)) {
		return nil, "", errStatus(http.StatusBadRequest, "expires_at: want a time within %d years (or none, for a token that never expires)", maxTokenYears)
	}
	secret, hash := newToken("slpat_")
	t := &store.Token{Name: name, Kind: "personal", Hash: hash, UserID: u.ID, Expires: expires.UTC()}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// tokenInput is the body that makes a personal token: expires_at is a date (YYYY-MM-DD: the
// token works until that day begins, UTC, as GitLab's) or an RFC 3339 time; empty: never.
type tokenInput struct {
	Name    string `json:"name"`
	Expires string `json:"expires_at"`
}

func (in *tokenInput) expires() (time.Time, error) {
	if in.Expires == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, in.Expires); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, in.Expires)
	if err != nil {
		return time.Time{}, errStatus(http.StatusBadRequest, "expires_at %q: want YYYY-MM-DD or an RFC 3339 time", in.Expires)
	}
	return t, nil
}

// writeNewToken answers a new personal token: the token with its secret, once.
func writeNewToken(w http.ResponseWriter, t *store.Token, secret string) {
	writeJSON(w, http.StatusCreated, struct {
		*store.Token
		Secret string `json:"token"`
	}{t, secret})
}

// createPersonalToken is POST /api/v1/user/tokens: a personal token of the caller's user.
func (s *Server) createPersonalToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	if c.user == nil {
		return errNoUser
	}
	return s.makeToken(w, r, c.user)
}

// createUserToken is POST /api/v1/users/{uid}/tokens (admins): a personal token of that user.
func (s *Server) createUserToken(w http.ResponseWriter, r *http.Request, _ *caller) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	return s.makeToken(w, r, u)
}

func (s *Server) makeToken(w http.ResponseWriter, r *http.Request, u *store.User) error {
	var in tokenInput
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	exp, err := in.expires()
	if err != nil {
		return err
	}
	t, secret, err := s.newPersonalToken(r.Context(), u, in.Name, exp)
	if err != nil {
		return err
	}
	writeNewToken(w, t, secret)
	return nil
}

// listPersonalTokens is GET /api/v1/user/tokens: the caller's personal tokens, revoked ones
// included, without their secrets.
func (s *Server) listPersonalTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	if c.user == nil {
		return errNoUser
	}
	ts, err := s.store.UserTokens(r.Context(), c.user.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ts))
	return nil
}

// revokePersonalToken is DELETE /api/v1/user/tokens/{tid}: the token works no more (it stays
// listed, revoked). Another user's token does not exist here (404).
func (s *Server) revokePersonalToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	if c.user == nil {
		return errNoUser
	}
	id, err := pathID(r, "tid")
	if err != nil {
		return err
	}
	if err := s.store.RevokeToken(r.Context(), c.user.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pathUser is the user {uid} of the path.
func (s *Server) pathUser(r *http.Request) (*store.User, error) {
	id, err := pathID(r, "uid")
	if err != nil {
		return nil, err
	}
	return s.store.User(r.Context(), id)
}

// listUsers is GET /api/v1/users (admins).
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ *caller) error {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(us))
	return nil
}

// createUser is POST /api/v1/users (admins): username, password, admin.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	u, err := s.addUser(r.Context(), in.Username, in.Password, in.Admin)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// addUser checks a new user's username and password and stores the user: the API's POST
// and the admin page's form. A username taken (whatever its case) is 409.
func (s *Server) addUser(ctx context.Context, username, password string, admin bool) (*store.User, error) {
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return nil, err
	}
	u := &store.User{Username: username, PasswordHash: hash, Admin: admin}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errStatus(http.StatusConflict, "username %q is taken", username)
		}
		return nil, err
	}
	return u, nil
}

// userChange is a change of a user by an admin; nil fields are kept.
type userChange struct {
	Disabled *bool   `json:"disabled"`
	Admin    *bool   `json:"admin"`
	Password *string `json:"password"`
}

// updateUser is PATCH /api/v1/users/{uid} (admins): disabled, admin, password.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	var in userChange
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.changeUser(r.Context(), c.user, u, in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// changeUser applies an admin's change to u (by admin: nil for the admin token): the API's
// PATCH and the admin page's forms. Disabling a user or setting their password ends their
// sessions; a disabled user's tokens stop working too (they work again once enabled). An
// admin cannot disable themselves nor take their own admin right, so that the server keeps
// one.
func (s *Server) changeUser(ctx context.Context, admin, u *store.User, in userChange) error {
	self := admin != nil && admin.ID == u.ID
	if self && (in.Disabled != nil && *in.Disabled || in.Admin != nil && !*in.Admin) {
		return errStatus(http.StatusBadRequest, "an admin may not disable themselves nor take their own admin right")
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
	}
	if in.Admin != nil {
		u.Admin = *in.Admin
	}
	if in.Password != nil {
		if err := s.setPassword(ctx, u, *in.Password); err != nil {
			return err
		}
	} else if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	if u.Disabled {
		return s.store.DeleteUserSessions(ctx, u.ID)
	}
	return nil
}

// memberView is a member as the API shows it.
type memberView struct {
	*store.Member
	Username string `json:"username"`
	RoleName string `json:"role"`
}

// listMembers is GET /api/v1/projects/{id}/members (maintainers).
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ms, err := s.store.Members(ctx, p.ID)
	if err != nil {
		return err
	}
	out := make([]memberView, 0, len(ms))
	for _, m := range ms {
		u, err := s.store.User(ctx, m.UserID)
		if err != nil {
			return err
		}
		out = append(out, memberView{Member: m, Username: u.Username, RoleName: m.Role.String()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// setMember is PUT /api/v1/projects/{id}/members/{uid} (maintainers): {"access_level": 30}
// or {"role": "developer"} adds the user or changes their role.
func (s *Server) setMember(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	u, err := s.pathUser(r)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "no user %s", r.PathValue("uid"))
	}
	if err != nil {
		return err
	}
	var in struct {
		AccessLevel *int    `json:"access_level"`
		Role        *string `json:"role"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	var given string
	switch {
	case in.AccessLevel != nil && in.Role == nil:
		given = itoa(int64(*in.AccessLevel))
	case in.Role != nil && in.AccessLevel == nil:
		given = *in.Role
	default:
		return errStatus(http.StatusBadRequest, "give access_level or role")
	}
	role, ok := store.ParseRole(given)
	if !ok {
		return errStatus(http.StatusBadRequest, "role %q: want reporter (20), developer (30) or maintainer (40)", given)
	}
	m, err := s.setMemberRole(r.Context(), p, u, role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memberView{Member: m, Username: u.Username, RoleName: role.String()})
	return nil
}

// setMemberRole adds u to p with role, or changes u's role: the API's PUT and the settings
// page's form. The last maintainer of a project that has members keeps the role.
func (s *Server) setMemberRole(ctx context.Context, p *store.Project, u *store.User, role store.Role) (*store.Member, error) {
	if role < store.RoleMaintainer {
		if err := s.keepMaintainer(ctx, p, u.ID); err != nil {
			return nil, err
		}
	}
	m := &store.Member{ProjectID: p.ID, UserID: u.ID, Role: role}
	if err := s.store.SetMember(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// removeMember takes user uid out of p: the API's DELETE and the settings page's form. The
// last maintainer stays.
func (s *Server) removeMember(ctx context.Context, p *store.Project, uid int64) error {
	if err := s.keepMaintainer(ctx, p, uid); err != nil {
		return err
	}
	return s.store.DeleteMember(ctx, p.ID, uid)
}

// keepMaintainer refuses (409) to take the maintainer role from user uid when uid is the
// last member of p who has it: a project keeps a maintainer among its members, as GitLab
// keeps an owner (admins maintain every project, but are not there to be asked).
func (s *Server) keepMaintainer(ctx context.Context, p *store.Project, uid int64) error {
	ms, err := s.store.Members(ctx, p.ID)
	if err != nil {
		return err
	}
	maintainers, self := 0, false
	for _, m := range ms {
		if m.Role >= store.RoleMaintainer {
			maintainers++
			self = self || m.UserID == uid
		}
	}
	if self && maintainers == 1 {
		return errStatus(http.StatusConflict, "this is the last maintainer of project %s: make another member maintainer first", p.Path)
	}
	return nil
}

// deleteMember is DELETE /api/v1/projects/{id}/members/{uid} (maintainers).
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "uid")
	if err != nil {
		return err
	}
	if err := s.removeMember(r.Context(), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
