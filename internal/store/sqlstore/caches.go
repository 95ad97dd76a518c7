package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/store"
)

const cacheCols = `project_id, protected, key, size, used`

func scanCache(r scanner) (*store.Cache, error) {
	var c store.Cache
	var used int64
	if err := r.Scan(&c.ProjectID, &c.Protected, &c.Key, &c.Size, &used); err != nil {
		return nil, err
	}
	c.Used = fromNanos(used)
	return &c, nil
}

// PutCache implements store.Caches.
func (s *Store) PutCache(ctx context.Context, c *store.Cache) error {
	_, err := s.exec(ctx, s.w, `INSERT INTO caches (`+cacheCols+`) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (project_id, protected, key) DO UPDATE SET size = excluded.size, used = excluded.used`,
		c.ProjectID, c.Protected, c.Key, c.Size, nanos(c.Used))
	if err != nil {
		return fmt.Errorf("put cache %q of project %d: %w", c.Key, c.ProjectID, err)
	}
	return nil
}

// DeleteCache implements store.Caches.
func (s *Store) DeleteCache(ctx context.Context, c *store.Cache) error {
	err := s.execOne(ctx, s.w, `DELETE FROM caches WHERE project_id = ? AND protected = ? AND key = ?`, c.ProjectID, c.Protected, c.Key)
	if err != nil {
		return fmt.Errorf("delete cache %q of project %d: %w", c.Key, c.ProjectID, err)
	}
	return nil
}

// CacheUsage implements store.Caches.
func (s *Store) CacheUsage(ctx context.Context, projectID int64) (int, int64, error) {
	q, args := `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM caches`, []any{}
	if projectID != 0 {
		q, args = q+` WHERE project_id = ?`, append(args, projectID)
	}
	var n, size int64
	if err := s.r.QueryRowContext(ctx, s.q(q), args...).Scan(&n, &size); err != nil {
		return 0, 0, fmt.Errorf("cache usage of project %d: %w", projectID, s.err(err))
	}
	return int(n), size, nil
}

// LeastUsedCaches implements store.Caches.
func (s *Store) LeastUsedCaches(ctx context.Context, projectID int64, limit int) ([]*store.Cache, error) {
	if limit <= 0 {
		limit = 100
	}
	cs, err := list(ctx, s, s.r, scanCache, `SELECT `+cacheCols+` FROM caches WHERE project_id = ?
	ORDER BY used, protected, key LIMIT `+strconv.Itoa(limit), projectID)
	if err != nil {
		return nil, fmt.Errorf("list caches of project %d: %w", projectID, err)
	}
	return cs, nil
}

// ExpireCaches implements store.Caches, ordered by last use.
func (s *Store) ExpireCaches(ctx context.Context, before time.Time) ([]*store.Cache, error) {
	cs, err := list(ctx, s, s.w, scanCache, `DELETE FROM caches WHERE used < ? RETURNING `+cacheCols, nanos(before))
	if err != nil {
		return nil, fmt.Errorf("expire caches: %w", err)
	}
	slices.SortFunc(cs, func(a, b *store.Cache) int {
		return cmp.Or(a.Used.Compare(b.Used), cmp.Compare(a.ProjectID, b.ProjectID), strings.Compare(a.Key, b.Key),
			cmpBool(a.Protected, b.Protected))
	})
	return cs, nil
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
