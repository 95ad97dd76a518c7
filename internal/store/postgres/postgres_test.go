package postgres

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/storetest"
	"github.com/slipway/slipway/internal/testenv"
)

// schemaDSN is a DSN of a fresh schema for t, dropped when t ends.
func schemaDSN(t testing.TB) string { return testenv.PostgresSchema(t) }

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
