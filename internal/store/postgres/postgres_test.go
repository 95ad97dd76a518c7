package postgres

import (
	"context"
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

// TestOpenConcurrent opens one schema from several stores at once: migrations run once.
func TestOpenConcurrent(t *testing.T) {
	dsn := schemaDSN(t)
	storetest.OpenConcurrent(t, func() (store.Store, error) {
		return OpenOptions(context.Background(), dsn, Options{MaxConns: 2})
	})
}

func BenchmarkClaim(b *testing.B) { storetest.BenchClaim(b, open) }

// TestOutage stops a server of the test's own under an open store, and starts it again.
func TestOutage(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	s, err := Open(context.Background(), pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	storetest.Outage(t, s, pg.Stop, pg.Start)
}
