package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
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

// TestOpenConcurrent opens one file from several stores at once (as several processes
// would): every open migrates or finds the schema migrated, and each sees the others' rows.
func TestOpenConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	const n = 6
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := Open(context.Background(), path)
			if err == nil {
				stores[i] = s
				t.Cleanup(func() { _ = s.Close() })
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := stores[0].CreateProject(context.Background(), &store.Project{Path: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].ProjectByPath(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkClaim(b *testing.B) {
	for _, workers := range []int{1, 4, 16} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) { storetest.BenchClaim(b, open, 10000, workers) })
	}
}
