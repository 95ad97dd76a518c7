package runner

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
)

// reaper is a shell executor that can Reap, and records when it was asked to.
type reaper struct {
	executor.Executor
	f   *fake
	err error

	mu      sync.Mutex
	calls   int
	claimed bool // a job had been handed out when Reap was called
}

func (r *reaper) Reap(context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.f.locked(func() { r.claimed = len(r.f.queue) == 0 })
	return 3, r.err
}

// TestStartReapsLeftoversBeforeFirstJob starts a runner (two workers) whose executor is a
// Reaper: it reaps once, before it takes the first job, and a failed reap does not keep it
// from running jobs.
func TestStartReapsLeftoversBeforeFirstJob(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		err  error
	}{
		{name: "reaped"},
		{name: "reap failed", err: errors.New("engine gone")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			sha := f.repo("app", map[string]string{"README": "x\n"})
			f.job(1, sha, shellJob("quick", "true"))
			sh, err := shell.New(shell.Options{})
			if err != nil {
				t.Skip(err)
			}
			rp := &reaper{Executor: sh, f: f, err: tt.err}
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- Run(t.Context(), Options{
					Config: &Config{URL: f.srv.URL, ID: 7, Token: f.runnerToken, Executor: "shell", Concurrency: 2,
						BuildsDir: t.TempDir(), CacheDir: t.TempDir()},
					Stop: stop, Wait: time.Second,
					Executors: func(string) (executor.Executor, error) { return rp, nil },
					Logger:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
				})
			}()
			var final jobapi.Update
			waitFor(t, 30*time.Second, "the final update", func() bool {
				var ok bool
				f.locked(func() { final, ok = f.finals[1] })
				return ok
			})
			close(stop)
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if final.State != status.Success {
				t.Errorf("the job ended %s", final.State)
			}
			rp.mu.Lock()
			defer rp.mu.Unlock()
			if rp.calls != 1 || rp.claimed {
				t.Errorf("Reap called %d times, after a job was taken: %v; want once, before", rp.calls, rp.claimed)
			}
		})
	}
}

func TestOwnerLabels(t *testing.T) {
	t.Parallel()
	a := (&Config{URL: "https://ci.example.test/", ID: 7}).OwnerLabels()
	if want := map[string]string{LabelRunnerID: "7", LabelRunnerURL: "https://ci.example.test"}; !maps.Equal(a, want) {
		t.Errorf("OwnerLabels = %v, want %v", a, want)
	}
	// Credentials in the URL are not written on the engine's objects.
	if got := (&Config{URL: "https://user:secret@ci.example.test", ID: 7}).OwnerLabels(); !maps.Equal(got, a) {
		t.Errorf("OwnerLabels with credentials = %v, want %v", got, a)
	}
	// Another runner of the same server, or the same ID at another server, is another owner.
	for _, c := range []*Config{{URL: "https://ci.example.test", ID: 8}, {URL: "https://other.example.test", ID: 7}} {
		if maps.Equal(c.OwnerLabels(), a) {
			t.Errorf("%+v has the labels of runner 7 at ci.example.test", c)
		}
	}
}
