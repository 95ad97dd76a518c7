package sqlite

import (
	"context"
	"path/filepath"
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
