package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// downStore is a store whose ExtendLeases, the scheduler's first call, fails with an error
// that is not an outage (store.ErrUnavailable would be retried).
type downStore struct{ store.Store }

var errDown = errors.New("no such table: jobs")

func (downStore) ExtendLeases(context.Context, time.Time) error { return errDown }

// A scheduler that cannot start stops Run at once with its error, instead of when the
// server is stopped.
func TestRunStopsWhenTheSchedulerCannotStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := New(Options{Store: downStore{st}, Data: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(t.Context()) }() // never canceled while the test waits
	select {
	case err := <-done:
		if !errors.Is(err, errDown) {
			t.Errorf("Run = %v, want the store's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the scheduler failing")
	}
}
