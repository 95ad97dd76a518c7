package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/server"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// downStore is a store whose ExtendLeases, the scheduler's first call, fails.
type downStore struct{ store.Store }

var errDown = errors.New("database is down")

func (downStore) ExtendLeases(context.Context, time.Time) error { return errDown }

// A scheduler that cannot start stops `slipway server` at once with its error, the built-in
// runner included, instead of being noticed at shutdown; a stop stops it without one.
func TestServeStops(t *testing.T) {
	for _, tc := range []struct {
		name          string
		down, builtin bool
	}{
		{name: "store down", down: true},
		{name: "store down, built-in runner", down: true, builtin: true},
		{name: "stopped, built-in runner", builtin: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := sqlite.Open(t.Context(), filepath.Join(dir, "slipway.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			url := "http://" + l.Addr().String()
			var sst store.Store = st
			if tc.down {
				sst = downStore{st}
			}
			srv, err := server.New(server.Options{Store: sst, Data: dir, URL: url})
			if err != nil {
				t.Fatal(err)
			}
			var ro *runner.Options
			if tc.builtin {
				ro = &runner.Options{
					Config:    &runner.Config{URL: url, ID: 1, Token: "t", BuildsDir: filepath.Join(dir, "builds"), CacheDir: filepath.Join(dir, "cache")},
					Executors: func(string) (executor.Executor, error) { return shell.New(shell.Options{}) },
					// A connection dialed for a request the stop canceled is not kept idle:
					// the server's shutdown would wait 5 s for its first request.
					HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if !tc.down {
				cancel() // as the first SIGINT
			}
			done := make(chan error, 1)
			go func() { done <- serve(ctx, srv, l, ro, slog.New(slog.DiscardHandler)) }()
			select {
			case err := <-done:
				if tc.down && !errors.Is(err, errDown) || !tc.down && err != nil {
					t.Errorf("serve = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return within 10s")
			}
		})
	}
}

func TestServerShellUserUnknown(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, errOut, code := runCmd(t, t.TempDir(), "server", "--data", data, "--addr", "127.0.0.1:0", "--shell-user", "no-such-user-slipway")
	if code != exitFail || !strings.Contains(errOut, "--shell-user") || !strings.Contains(errOut, "no-such-user-slipway") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
