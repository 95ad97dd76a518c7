package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/slipway/slipway/internal/store"
)

// People: users, their passwords, the first admin, and the role a user has in a project.
// Sessions and sign-in are in session.go; the API of users, personal tokens and members in
// peopleapi.go.

// Password lengths: at least GitLab's default minimum; at most what bcrypt reads (it
// ignores what comes after 72 bytes, which a longer limit would hide).
const (
	MinPasswordLength = 8
	MaxPasswordLength = 72
)

// Username lengths, as GitLab's.
const (
	minUsernameLength = 2
	maxUsernameLength = 255
)

// usernamePattern is GitLab's charset of usernames: letters, digits, '_', '-' and '.', not
// starting with '-' nor ending with '.'.
var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.-]*[A-Za-z0-9_-]$`)

// checkUsername refuses (400) a username GitLab would refuse: outside its charset, shorter
// than 2 or longer than 255 characters, with two special characters in a row, or ending in
// .git or .atom.
func checkUsername(name string) error {
	lower := strings.ToLower(name)
	switch {
	case len(name) < minUsernameLength || len(name) > maxUsernameLength:
		return errStatus(http.StatusBadRequest, "username %q: want %d to %d characters", name, minUsernameLength, maxUsernameLength)
	case !usernamePattern.MatchString(name):
		return errStatus(http.StatusBadRequest, "username %q: letters, digits, '_', '-' and '.' only, not starting with '-' nor ending with '.'", name)
	case specialRun.MatchString(name):
		return errStatus(http.StatusBadRequest, "username %q: no two special characters ('_', '-', '.') in a row", name)
	case strings.HasSuffix(lower, ".git") || strings.HasSuffix(lower, ".atom"):
		return errStatus(http.StatusBadRequest, "username %q may not end in .git or .atom", name)
	}
	return nil
}

// specialRun is two special characters of usernames in a row.
var specialRun = regexp.MustCompile(`[_.-]{2}`)

// checkPassword refuses (400) a password shorter than MinPasswordLength or longer than
// MaxPasswordLength bytes.
func checkPassword(pw string) error {
	if len(pw) < MinPasswordLength {
		return errStatus(http.StatusBadRequest, "password: want at least %d characters", MinPasswordLength)
	}
	if len(pw) > MaxPasswordLength {
		return errStatus(http.StatusBadRequest, "password: want at most %d bytes (bcrypt reads no more)", MaxPasswordLength)
	}
	return nil
}

// hashPassword checks pw and hashes it with Options.BcryptCost.
func (s *Server) hashPassword(pw string) (string, error) {
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.o.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// passwordMatches reports whether pw is u's password. For a nil u (an unknown username) it
// compares pw with a hash of no user's and reports false, taking as long as with a user, so
// that timing does not tell which usernames exist.
func (s *Server) passwordMatches(u *store.User, pw string) bool {
	if u == nil || u.PasswordHash == "" {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) == nil
}

// AdminUsername is the username of the first admin, made on first start.
const AdminUsername = "admin"

// BootstrapAdmin makes the first user, the admin AdminUsername, when the store has no user:
// with password (from SLIPWAY_ADMIN_PASSWORD) or a new random one, returned so that the
// caller prints it once. An empty result means users existed (password is then ignored: it
// changes no password), or password was given. A password given but too short or too long
// is refused.
func (s *Server) BootstrapAdmin(ctx context.Context, password string) (generated string, err error) {
	if password != "" {
		if err := checkPassword(password); err != nil {
			return "", fmt.Errorf("SLIPWAY_ADMIN_PASSWORD: %w", err)
		}
	}
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	pw := password
	if pw == "" {
		pw = rand.Text()
	}
	hash, err := s.hashPassword(pw)
	if err != nil {
		return "", err
	}
	err = s.store.CreateUser(ctx, &store.User{Username: AdminUsername, PasswordHash: hash, Admin: true})
	switch {
	case errors.Is(err, store.ErrConflict):
		return "", nil // another replica made it meanwhile
	case err != nil:
		return "", fmt.Errorf("create the first admin: %w", err)
	}
	if password == "" {
		return pw, nil
	}
	return "", nil
}

// projectRole is the role user u has in project p (u nil: anonymous): an admin is a
// maintainer of every project; a member has the role of its membership; anyone else is a
// reporter of a public project, a signed-in user a reporter of an internal one, and the rest
// have RoleNone (the project does not exist for them: 404). A disabled user counts as
// anonymous. Only a store error is an error (store.ErrUnavailable: answer 503).
func (s *Server) projectRole(ctx context.Context, u *store.User, p *store.Project) (store.Role, error) {
	if u != nil && u.Disabled {
		u = nil
	}
	if u != nil && u.Admin {
		return store.RoleMaintainer, nil
	}
	if u != nil {
		m, err := s.store.Member(ctx, p.ID, u.ID)
		switch {
		case err == nil:
			return m.Role, nil
		case !errors.Is(err, store.ErrNotFound):
			return store.RoleNone, err
		}
	}
	switch {
	case p.Visibility == store.VisibilityPublic, p.Visibility == store.VisibilityInternal && u != nil:
		return store.RoleReporter, nil
	}
	return store.RoleNone, nil
}

// activeUser is user id, or nil when it is gone or disabled (its sessions and tokens then
// sign nobody in); a store that fails is an error.
func (s *Server) activeUser(ctx context.Context, id int64) (*store.User, error) {
	u, err := s.store.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || u.Disabled {
		return nil, err
	}
	return u, nil
}
