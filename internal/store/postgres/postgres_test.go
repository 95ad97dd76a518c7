package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/storetest"
	"github.com/slipway/slipway/internal/testenv"
)

// schemaDSN creates a fresh schema for t, dropped when t ends, and returns a DSN whose
// search_path puts the store's tables in it.
func schemaDSN(t testing.TB) string {
	t.Helper()
	dsn := testenv.RequirePostgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	schema := "test_" + strings.ToLower(rand.Text()[:12])
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return withParam(t, dsn, "search_path", schema)
}

// withParam adds a libpq parameter to a URL or key=value DSN.
func withParam(t testing.TB, dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

func open(t testing.TB) store.Store {
	t.Helper()
	s, err := Open(context.Background(), schemaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() }) // runs before the schema is dropped
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestOpenConcurrent opens one schema from several stores at once (as several processes
// would): migrations run once, and reopening changes nothing.
func TestOpenConcurrent(t *testing.T) {
	dsn := schemaDSN(t)
	const n = 6
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := OpenOptions(context.Background(), dsn, Options{MaxConns: 2})
			stores[i], errs[i] = s, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if err := stores[0].CreateProject(context.Background(), &store.Project{Path: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].ProjectByPath(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
}

func BenchmarkClaim(b *testing.B) {
	for _, workers := range []int{1, 4, 16} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			storetest.BenchClaim(b, open, 10000, workers)
		})
	}
}
