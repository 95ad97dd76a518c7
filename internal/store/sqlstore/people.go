package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway/slipway/internal/store"
)

const userCols = `id, username, password_hash, admin, disabled, created`

func scanUser(r scanner) (*store.User, error) {
	var u store.User
	var created int64
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Admin, &u.Disabled, &created); err != nil {
		return nil, err
	}
	u.Created = fromNanos(created)
	return &u, nil
}

// CreateUser implements store.Users. Usernames are compared by lower(), which is enough for
// the ASCII usernames the server takes.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u.Created.IsZero() {
		u.Created = now()
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO users (username, password_hash, admin, disabled, created)
	VALUES (?, ?, ?, ?, ?) RETURNING id`), u.Username, u.PasswordHash, u.Admin, u.Disabled, nanos(u.Created)).Scan(&u.ID)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, s.err(err))
	}
	return nil
}

// UpdateUser implements store.Users.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	err := s.execOne(ctx, s.w, `UPDATE users SET username = ?, password_hash = ?, admin = ?, disabled = ? WHERE id = ?`,
		u.Username, u.PasswordHash, u.Admin, u.Disabled, u.ID)
	if err != nil {
		return fmt.Errorf("update user %d: %w", u.ID, err)
	}
	return nil
}

// User implements store.Users.
func (s *Store) User(ctx context.Context, id int64) (*store.User, error) {
	u, err := one(ctx, s, s.r, scanUser, `SELECT `+userCols+` FROM users WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// UserByName implements store.Users.
func (s *Store) UserByName(ctx context.Context, username string) (*store.User, error) {
	u, err := one(ctx, s, s.r, scanUser, `SELECT `+userCols+` FROM users WHERE lower(username) = lower(?)`, username)
	if err != nil {
		return nil, fmt.Errorf("get user %q: %w", username, err)
	}
	return u, nil
}

// ListUsers implements store.Users.
func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	us, err := list(ctx, s, s.r, scanUser, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM users`)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", s.err(err))
	}
	return n, nil
}

const sessionCols = `hash, user_id, csrf, created, expires, last_seen`

func scanSession(r scanner) (*store.Session, error) {
	var ss store.Session
	var created, expires, seen int64
	if err := r.Scan(&ss.Hash, &ss.UserID, &ss.CSRF, &created, &expires, &seen); err != nil {
		return nil, err
	}
	ss.Created, ss.Expires, ss.LastSeen = fromNanos(created), fromNanos(expires), fromNanos(seen)
	return &ss, nil
}

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, ss *store.Session) error {
	if ss.Created.IsZero() {
		ss.Created = now()
	}
	if ss.LastSeen.IsZero() {
		ss.LastSeen = ss.Created
	}
	_, err := s.exec(ctx, s.w, `INSERT INTO sessions (hash, user_id, csrf, created, expires, last_seen) VALUES (?, ?, ?, ?, ?, ?)`,
		ss.Hash, ss.UserID, ss.CSRF, nanos(ss.Created), nanos(ss.Expires), nanos(ss.LastSeen))
	if err != nil {
		return fmt.Errorf("create session of user %d: %w", ss.UserID, err)
	}
	return nil
}

// Session implements store.Sessions.
func (s *Store) Session(ctx context.Context, hash string) (*store.Session, error) {
	ss, err := one(ctx, s, s.r, scanSession, `SELECT `+sessionCols+` FROM sessions WHERE hash = ?`, hash)
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	return ss, nil
}

// TouchSession implements store.Sessions.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	if err := s.execOne(ctx, s.w, `UPDATE sessions SET last_seen = ? WHERE hash = ?`, nanos(at), hash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if err := s.execOne(ctx, s.w, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions implements store.Sessions.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := s.exec(ctx, s.w, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// PurgeSessions implements store.Sessions.
func (s *Store) PurgeSessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	res, err := s.exec(ctx, s.w, `DELETE FROM sessions WHERE expires < ? OR last_seen < ?`, nanos(now), nanos(idleSince))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}

const memberCols = `project_id, user_id, role`

func scanMember(r scanner) (*store.Member, error) {
	var m store.Member
	var role int64
	if err := r.Scan(&m.ProjectID, &m.UserID, &role); err != nil {
		return nil, err
	}
	m.Role = store.Role(role)
	return &m, nil
}

// SetMember implements store.Members.
func (s *Store) SetMember(ctx context.Context, m *store.Member) error {
	_, err := s.exec(ctx, s.w, `INSERT INTO members (project_id, user_id, role) VALUES (?, ?, ?)
	ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, m.ProjectID, m.UserID, int64(m.Role))
	if err != nil {
		return fmt.Errorf("set member %d of project %d: %w", m.UserID, m.ProjectID, err)
	}
	return nil
}

// DeleteMember implements store.Members.
func (s *Store) DeleteMember(ctx context.Context, projectID, userID int64) error {
	if err := s.execOne(ctx, s.w, `DELETE FROM members WHERE project_id = ? AND user_id = ?`, projectID, userID); err != nil {
		return fmt.Errorf("delete member %d of project %d: %w", userID, projectID, err)
	}
	return nil
}

// Member implements store.Members.
func (s *Store) Member(ctx context.Context, projectID, userID int64) (*store.Member, error) {
	m, err := one(ctx, s, s.r, scanMember, `SELECT `+memberCols+` FROM members WHERE project_id = ? AND user_id = ?`, projectID, userID)
	if err != nil {
		return nil, fmt.Errorf("get member %d of project %d: %w", userID, projectID, err)
	}
	return m, nil
}

// Members implements store.Members.
func (s *Store) Members(ctx context.Context, projectID int64) ([]*store.Member, error) {
	ms, err := list(ctx, s, s.r, scanMember, `SELECT `+memberCols+` FROM members WHERE project_id = ? ORDER BY user_id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list members of project %d: %w", projectID, err)
	}
	return ms, nil
}

// Memberships implements store.Members.
func (s *Store) Memberships(ctx context.Context, userID int64) ([]*store.Member, error) {
	ms, err := list(ctx, s, s.r, scanMember, `SELECT `+memberCols+` FROM members WHERE user_id = ? ORDER BY project_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list memberships of user %d: %w", userID, err)
	}
	return ms, nil
}
