package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/store"
)

const runnerCols = `id, name, token_hash, tags, run_untagged, executor, version, paused, last_seen, created`

func scanRunner(r scanner) (*store.Runner, error) {
	var rn store.Runner
	var tags string
	var seen, created int64
	if err := r.Scan(&rn.ID, &rn.Name, &rn.TokenHash, &tags, &rn.RunUntagged, &rn.Executor, &rn.Version, &rn.Paused, &seen, &created); err != nil {
		return nil, err
	}
	rn.LastSeen, rn.Created = fromNanos(seen), fromNanos(created)
	return &rn, fromJSON(tags, &rn.Tags)
}

// CreateRunner implements store.Runners: ErrConflict when the name or token hash is taken.
func (s *Store) CreateRunner(ctx context.Context, r *store.Runner) error {
	if r.Created.IsZero() {
		r.Created = now()
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO runners (name, token_hash, tags, run_untagged, executor, version, paused, last_seen, created)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		r.Name, r.TokenHash, jsonText(r.Tags), r.RunUntagged, r.Executor, r.Version, r.Paused, nanos(r.LastSeen), nanos(r.Created)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("create runner %q: %w", r.Name, s.err(err))
	}
	return nil
}

// RunnerByTokenHash implements store.Runners.
func (s *Store) RunnerByTokenHash(ctx context.Context, hash string) (*store.Runner, error) {
	r, err := one(ctx, s, s.r, scanRunner, `SELECT `+runnerCols+` FROM runners WHERE token_hash = ?`, hash)
	if err != nil {
		return nil, fmt.Errorf("get runner by token: %w", err)
	}
	return r, nil
}

// ListRunners implements store.Runners, ordered by ID.
func (s *Store) ListRunners(ctx context.Context) ([]*store.Runner, error) {
	rs, err := list(ctx, s, s.r, scanRunner, `SELECT `+runnerCols+` FROM runners ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list runners: %w", err)
	}
	return rs, nil
}

// TouchRunner implements store.Runners.
func (s *Store) TouchRunner(ctx context.Context, id int64, at time.Time) error {
	if err := s.execOne(ctx, s.w, `UPDATE runners SET last_seen = ? WHERE id = ?`, nanos(at), id); err != nil {
		return fmt.Errorf("touch runner %d: %w", id, err)
	}
	return nil
}

// SetRunnerVersion implements store.Runners.
func (s *Store) SetRunnerVersion(ctx context.Context, id int64, version string) error {
	if err := s.execOne(ctx, s.w, `UPDATE runners SET version = ? WHERE id = ?`, version, id); err != nil {
		return fmt.Errorf("set version of runner %d: %w", id, err)
	}
	return nil
}

// PauseRunner implements store.Runners.
func (s *Store) PauseRunner(ctx context.Context, id int64, paused bool) error {
	if err := s.execOne(ctx, s.w, `UPDATE runners SET paused = ? WHERE id = ?`, paused, id); err != nil {
		return fmt.Errorf("pause runner %d: %w", id, err)
	}
	return nil
}

// DeleteRunner implements store.Runners.
func (s *Store) DeleteRunner(ctx context.Context, id int64) error {
	if err := s.execOne(ctx, s.w, `DELETE FROM runners WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete runner %d: %w", id, err)
	}
	return nil
}

const tokenCols = `id, name, kind, hash, user_id, expires, revoked, created, last_used`

func scanToken(r scanner) (*store.Token, error) {
	var t store.Token
	var expires, created, used int64
	if err := r.Scan(&t.ID, &t.Name, &t.Kind, &t.Hash, &t.UserID, &expires, &t.Revoked, &created, &used); err != nil {
		return nil, err
	}
	t.Expires, t.Created, t.LastUsed = fromNanos(expires), fromNanos(created), fromNanos(used)
	return &t, nil
}

// CreateToken implements store.Tokens: ErrConflict when the hash is taken, ErrNotFound when
// the user of a personal token does not exist.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	if t.Created.IsZero() {
		t.Created = now()
	}
	if t.UserID != 0 {
		if _, err := s.User(ctx, t.UserID); err != nil {
			return fmt.Errorf("create token %q: %w", t.Name, err)
		}
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO tokens (name, kind, hash, user_id, expires, revoked, created, last_used)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		t.Name, t.Kind, t.Hash, t.UserID, nanos(t.Expires), t.Revoked, nanos(t.Created), nanos(t.LastUsed)).Scan(&t.ID)
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.Name, s.err(err))
	}
	return nil
}

// TokenByHash implements store.Tokens.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	t, err := one(ctx, s, s.r, scanToken, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash)
	if err != nil {
		return nil, fmt.Errorf("get token by hash: %w", err)
	}
	return t, nil
}

// CountTokens implements store.Tokens.
func (s *Store) CountTokens(ctx context.Context, kind string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM tokens WHERE kind = ?`), kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s tokens: %w", kind, s.err(err))
	}
	return n, nil
}

// UserTokens implements store.Tokens.
func (s *Store) UserTokens(ctx context.Context, userID int64) ([]*store.Token, error) {
	ts, err := list(ctx, s, s.r, scanToken, `SELECT `+tokenCols+` FROM tokens WHERE user_id = ? AND kind = 'personal' ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of user %d: %w", userID, err)
	}
	return ts, nil
}

// RevokeToken implements store.Tokens.
func (s *Store) RevokeToken(ctx context.Context, userID, id int64) error {
	err := s.execOne(ctx, s.w, `UPDATE tokens SET revoked = TRUE WHERE id = ? AND user_id = ? AND kind = 'personal'`, id, userID)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return nil
}

// ResetToken implements store.Tokens.
func (s *Store) ResetToken(ctx context.Context, t *store.Token) error {
	if t.Kind == "personal" || t.UserID != 0 {
		return fmt.Errorf("reset token %q: personal tokens are revoked one by one", t.Name)
	}
	if t.Created.IsZero() {
		t.Created = now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `UPDATE tokens SET revoked = TRUE WHERE kind = ?`, t.Kind); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO tokens (name, kind, hash, user_id, expires, revoked, created, last_used)
	VALUES (?, ?, ?, 0, ?, FALSE, ?, ?) RETURNING id`),
			t.Name, t.Kind, t.Hash, nanos(t.Expires), nanos(t.Created), nanos(t.LastUsed)).Scan(&t.ID)
		return s.err(err)
	})
	if err != nil {
		return fmt.Errorf("reset %s tokens: %w", t.Kind, err)
	}
	t.Revoked = false
	return nil
}

// TouchToken implements store.Tokens.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	if err := s.execOne(ctx, s.w, `UPDATE tokens SET last_used = ? WHERE id = ?`, nanos(at), id); err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

const deliveryCols = `id, project_id, forge, guid, event, status, outcome, pipeline_id, created`

func scanDelivery(r scanner) (*store.Delivery, error) {
	var d store.Delivery
	var status, created int64
	if err := r.Scan(&d.ID, &d.ProjectID, &d.Forge, &d.GUID, &d.Event, &status, &d.Outcome, &d.PipelineID, &created); err != nil {
		return nil, err
	}
	d.Status, d.Created = int(status), fromNanos(created)
	return &d, nil
}

// RecordDelivery implements store.Deliveries.
func (s *Store) RecordDelivery(ctx context.Context, d *store.Delivery) error {
	if d.Created.IsZero() {
		d.Created = now()
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO deliveries (project_id, forge, guid, event, status, outcome, pipeline_id, created)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		d.ProjectID, d.Forge, d.GUID, d.Event, int64(d.Status), d.Outcome, d.PipelineID, nanos(d.Created)).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("record delivery %q: %w", d.GUID, s.err(err))
	}
	return nil
}

// UpdateDelivery implements store.Deliveries.
func (s *Store) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	err := s.execOne(ctx, s.w, `UPDATE deliveries SET status = ?, outcome = ?, pipeline_id = ? WHERE id = ?`,
		int64(d.Status), d.Outcome, d.PipelineID, d.ID)
	if err != nil {
		return fmt.Errorf("update delivery %d: %w", d.ID, err)
	}
	return nil
}

// ListDeliveries implements store.Deliveries.
func (s *Store) ListDeliveries(ctx context.Context, projectID int64, limit int) ([]*store.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	ds, err := list(ctx, s, s.r, scanDelivery, `SELECT `+deliveryCols+` FROM deliveries WHERE project_id = ? ORDER BY id DESC LIMIT `+
		strconv.Itoa(limit), projectID)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

// PruneDeliveries implements store.Deliveries.
func (s *Store) PruneDeliveries(ctx context.Context, projectID int64, keep int, before time.Time) (int64, error) {
	var total int64
	del := func(query string, args ...any) error {
		res, err := s.exec(ctx, s.w, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		total += n
		return err
	}
	var err error
	switch {
	case projectID != 0:
		err = del(`DELETE FROM deliveries WHERE project_id = ? AND created < ?`, projectID, nanos(before))
		if err == nil && keep > 0 {
			err = del(`DELETE FROM deliveries WHERE project_id = ? AND id <=
	(SELECT id FROM deliveries WHERE project_id = ? ORDER BY id DESC LIMIT 1 OFFSET `+strconv.Itoa(keep)+`)`, projectID, projectID)
		}
	default:
		err = del(`DELETE FROM deliveries WHERE created < ?`, nanos(before))
		if err == nil && keep > 0 {
			err = del(`DELETE FROM deliveries WHERE id IN (SELECT id FROM
	(SELECT id, ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY id DESC) AS n FROM deliveries) ranked WHERE n > ?)`, keep)
		}
	}
	if err != nil {
		return total, fmt.Errorf("prune deliveries: %w", err)
	}
	return total, nil
}

const artifactCols = `job_id, kind, name, size, sha256, path, expire_at, created`

func scanArtifact(r scanner) (*store.Artifact, error) {
	var a store.Artifact
	var expire, created int64
	if err := r.Scan(&a.JobID, &a.Kind, &a.Name, &a.Size, &a.SHA256, &a.Path, &expire, &created); err != nil {
		return nil, err
	}
	a.ExpireAt, a.Created = fromNanos(expire), fromNanos(created)
	return &a, nil
}

// AddArtifact implements store.Artifacts. ErrNotFound when the job does not exist.
func (s *Store) AddArtifact(ctx context.Context, a *store.Artifact) error {
	if a.Created.IsZero() {
		a.Created = now()
	}
	_, err := s.exec(ctx, s.w, `INSERT INTO artifacts (job_id, kind, name, size, sha256, path, expire_at, created)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, kind) DO UPDATE SET name = excluded.name, size = excluded.size,
	sha256 = excluded.sha256, path = excluded.path, expire_at = excluded.expire_at, created = excluded.created`,
		a.JobID, a.Kind, a.Name, a.Size, a.SHA256, a.Path, nanos(a.ExpireAt), nanos(a.Created))
	if err != nil {
		return fmt.Errorf("add %s artifact of job %d: %w", a.Kind, a.JobID, err)
	}
	return nil
}

// ListArtifacts implements store.Artifacts, ordered by kind.
func (s *Store) ListArtifacts(ctx context.Context, jobID int64) ([]*store.Artifact, error) {
	as, err := list(ctx, s, s.r, scanArtifact, `SELECT `+artifactCols+` FROM artifacts WHERE job_id = ? ORDER BY kind`, jobID)
	if err != nil {
		return nil, fmt.Errorf("list artifacts of job %d: %w", jobID, err)
	}
	return as, nil
}

// ExpireArtifacts implements store.Artifacts, ordered by job then kind.
func (s *Store) ExpireArtifacts(ctx context.Context, now time.Time) ([]*store.Artifact, error) {
	as, err := list(ctx, s, s.w, scanArtifact, `DELETE FROM artifacts WHERE expire_at <> 0 AND expire_at < ? RETURNING `+artifactCols, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("expire artifacts: %w", err)
	}
	slices.SortFunc(as, func(a, b *store.Artifact) int {
		return cmp.Or(cmp.Compare(a.JobID, b.JobID), strings.Compare(a.Kind, b.Kind))
	})
	return as, nil
}
