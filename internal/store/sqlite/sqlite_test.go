package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/storetest"
)

func open(t testing.TB) store.Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestOpenConcurrent opens one file from several stores at once.
func TestOpenConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	storetest.OpenConcurrent(t, func() (store.Store, error) { return Open(context.Background(), path) })
}

func BenchmarkClaim(b *testing.B) { storetest.BenchClaim(b, open) }

// TestMigrateSteps: a database gets every step it has not recorded, whatever the versions it
// has (a step made on a branch keeps its number), and one with a step this program does not
// know is refused.
func TestMigrateSteps(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// As a database that has steps 1 and 2 only.
	exec(`ALTER TABLE projects DROP COLUMN protected_branches`)
	exec(`ALTER TABLE projects DROP COLUMN job_token_allowlist`)
	exec(`ALTER TABLE pipelines DROP COLUMN protected`)
	exec(`DELETE FROM schema_migrations WHERE version = 4`)
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("open a database without step 4: %v", err)
	}
	p := &store.Project{Path: "a/b", Name: "b", CloneURL: "x", DefaultBranch: "main", ProtectedBranches: []string{"main"}}
	if err := s.CreateProject(ctx, p); err != nil {
		t.Fatalf("step 4 not applied: %v", err)
	}
	_ = s.Close()
	exec(`INSERT INTO schema_migrations (version, applied) VALUES (99, 0)`)
	if s, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "99") {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("open a database with an unknown step: %v, want an error naming it", err)
	}
}
