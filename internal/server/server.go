// Package server is `slipway server`'s HTTP side: the public API (projects, pipelines, jobs,
// logs, artifacts), forge webhooks, the runner protocol of package jobapi, git over HTTP for
// runners, badges, metrics and notifications. Pipelines are planned here from the server's git
// mirrors (package gitmirror) with the engine (pipeline, plan); what happens to their jobs
// afterwards is package scheduler's; state is package store's. It runs no job: runners do,
// the built-in one included, through the same protocol.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/slipway/slipway/internal/gitmirror"
	"github.com/slipway/slipway/internal/notify"
	"github.com/slipway/slipway/internal/scheduler"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// Options configure a Server.
type Options struct {
	Store store.Store
	// Data is the directory for mirrors, artifacts and caches.
	Data string
	// URL is the server's external base URL (links in mail, statuses, CI_SERVER_URL, the git
	// URL runners fetch from). Empty means http:// plus the listen address.
	URL string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Heartbeat is the runners' heartbeat interval; zero means scheduler.DefaultHeartbeat.
	Heartbeat time.Duration
	// LongPoll bounds a runner's job request; zero means 30 s.
	LongPoll time.Duration
	// Mailer sends notification mail; nil sends none.
	Mailer *notify.Mailer
	// Retention says how long finished pipelines (with logs and artifacts) are kept; zero
	// means 90 days. Artifacts also expire per their expire_in (default 30 days).
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient makes outgoing calls (forge statuses, hooks); nil means one with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Limits bound what clients and pipelines may make the server do; zero fields mean
	// their defaults.
	Limits Limits
	// MetricsAllow are the client addresses /metrics answers (others get 403), as GitLab's
	// monitoring IP allowlist; nil means the loopback addresses (127.0.0.0/8 and ::1, GitLab's
	// default). Behind a reverse proxy, the proxy's address is the client's.
	MetricsAllow []netip.Prefix
	// BcryptCost is the cost of the bcrypt hashes of users' passwords; zero means
	// bcrypt.DefaultCost (10). Hashes keep the cost they were made with.
	BcryptCost int
}

// DefaultMetricsAllow is Options.MetricsAllow's default: the loopback addresses.
func DefaultMetricsAllow() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Server serves Slipway's HTTP API. Make it with New, serve Handler, and call Run for the
// background work.
type Server struct {
	o       Options
	store   store.Store
	log     *slog.Logger
	sched   *scheduler.Scheduler
	mirrors *gitmirror.Mirrors
	metrics *metrics
	logs    *logHub
	// pipes wakes the live pipeline pages and rows of a pipeline (keyed by its ID) when it or
	// one of its jobs changes.
	pipes   *logHub
	handler http.Handler
	routes  []route
	now     func() time.Time
	bg      sync.WaitGroup // notifications in flight
	outbox  outbox
	// heavyWork holds a token per pipeline being created or canceled (Limits.Pipelines).
	heavyWork chan struct{}
	// cacheMu orders the changes of cache archives with their records (see caches.go).
	cacheMu sync.Mutex
	// triggers limits the pipelines API triggers make per project (Limits.PipelineRate).
	triggers *rateLimiter[int64]
	// loginAddrs and loginUsers limit sign-in attempts per client address and per username
	// (Limits.LoginRate, Limits.LoginUserRate).
	loginAddrs, loginUsers *rateLimiter[string]
	// dummyHash is a password hash of no user's, compared against when a sign-in names an
	// unknown user so that it takes as long as one with a known user.
	dummyHash func() []byte
	// site renders the web UI's pages.
	site *web.Site
	// lintFS is the repository the CI lint page plans a pasted file in: lintFiles (tests
	// make one whose reads panic).
	lintFS func(yaml []byte) fs.FS
	// jobLogs renders job logs for the job page (see ui_joblog.go).
	jobLogs *jobLogs
}

// New makes a Server on an open store.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("server: no store")
	}
	if o.Data == "" {
		return nil, errors.New("server: no data directory")
	}
	if o.LongPoll <= 0 {
		o.LongPoll = 30 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	o.Limits = o.Limits.withDefaults()
	switch {
	case o.BcryptCost == 0:
		o.BcryptCost = bcrypt.DefaultCost
	case o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost:
		return nil, fmt.Errorf("server: bcrypt cost %d: want %d to %d", o.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if o.MetricsAllow == nil {
		o.MetricsAllow = DefaultMetricsAllow()
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"git", "artifacts", "cache"} {
		if err := os.MkdirAll(filepath.Join(o.Data, d), 0o750); err != nil {
			return nil, fmt.Errorf("make data dir: %w", err)
		}
	}
	mirrors, err := gitmirror.New(filepath.Join(o.Data, "git"))
	if err != nil {
		return nil, fmt.Errorf("open git mirrors: %w", err)
	}
	s := &Server{o: o, store: o.Store, log: log, mirrors: mirrors, logs: newLogHub(), pipes: newLogHub(), now: o.Now,
		outbox: outbox{queues: map[int64][]change{}}, heavyWork: make(chan struct{}, o.Limits.Pipelines),
		triggers:   newRateLimiter[int64](o.Limits.PipelineRate, o.Now),
		loginAddrs: newRateLimiter[string](o.Limits.LoginRate, o.Now),
		loginUsers: newRateLimiter[string](o.Limits.LoginUserRate, o.Now),
	}
	s.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte(rand.Text()), s.o.BcryptCost)
		return h
	})
	if s.site, err = web.New(web.Options{Now: o.Now}); err != nil {
		return nil, fmt.Errorf("server: pages: %w", err)
	}
	s.lintFS = lintFiles
	if s.jobLogs, err = newJobLogs(o.Limits, filepath.Join(o.Data, "logstates")); err != nil {
		return nil, fmt.Errorf("server: job logs: %w", err)
	}
	s.metrics = newMetrics(s)
	s.sched = scheduler.New(scheduler.Options{
		Store: o.Store, Logger: log.With("component", "scheduler"), Heartbeat: o.Heartbeat, Now: o.Now,
		Changed: s.pipelineChanged, Finished: func(j *store.Job) { s.metrics.jobFinished(j); s.pipes.publish(j.PipelineID); s.logFinished(j) },
	})
	s.handler = s.routeTable()
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Scheduler is the server's scheduler.
func (s *Server) Scheduler() *scheduler.Scheduler { return s.sched }

// Run runs the scheduler, cron schedules and retention until ctx ends, then waits for
// notifications in flight. A part that fails (the scheduler cannot start: the store does not
// answer) stops the others, and Run returns its error at once.
func (s *Server) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.sched.Run(gctx); err != nil {
			return fmt.Errorf("run scheduler: %w", err)
		}
		return nil
	})
	g.Go(func() error { s.runSchedules(gctx); return nil })
	g.Go(func() error { s.runRetention(gctx); return nil })
	g.Go(func() error { s.warmLogs(gctx); return nil })
	err := g.Wait()
	s.bg.Wait()
	return err
}

// Serve serves the API on l until ctx ends, then shuts down gracefully: it stops accepting,
// ends long polls and lets requests in flight finish (up to 10 s). Connections are held to
// the timeouts of Limits, and at most Limits.Connections are open at once (more wait to be
// accepted).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	lim := s.o.Limits
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(netutil.LimitListener(l, lim.Connections)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// URL is the server's external base URL.
func (s *Server) URL() string { return strings.TrimRight(s.o.URL, "/") }

// newToken makes a random token with a prefix naming its kind, and its hash.
func newToken(prefix string) (token, hash string) {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	token = prefix + hex.EncodeToString(b)
	return token, hashToken(token)
}

// hashToken is how tokens are stored: SHA-256, hex. Tokens are 160 random bits, so a fast
// hash is enough.
func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// MinTokenLength is the length a token chosen by hand must have at least (the ones Slipway
// makes have 44 characters, 160 random bits).
const MinTokenLength = 32

// Bootstrap makes the first admin and runner-registration tokens when the store has none:
// the given ones (from SLIPWAY_ADMIN_TOKEN, SLIPWAY_REGISTRATION_TOKEN) or new random ones,
// returned so that the caller prints them once. Empty results mean the tokens existed. A given
// token shorter than MinTokenLength is refused: guessing it must be hopeless.
func (s *Server) Bootstrap(ctx context.Context, admin, registration string) (newAdmin, newRegistration string, err error) {
	tokens := []struct {
		kind, prefix, env string
		given             string
		out               *string
	}{
		{"admin", "slp_", "SLIPWAY_ADMIN_TOKEN", admin, &newAdmin},
		{"registration", "slr_", "SLIPWAY_REGISTRATION_TOKEN", registration, &newRegistration},
	}
	for _, k := range tokens {
		if k.given != "" && len(k.given) < MinTokenLength {
			return "", "", fmt.Errorf("%s has %d characters; a token needs at least %d (make one with: openssl rand -hex 32)",
				k.env, len(k.given), MinTokenLength)
		}
	}
	for _, k := range tokens {
		n, err := s.store.CountTokens(ctx, k.kind)
		if err != nil {
			return "", "", fmt.Errorf("count tokens: %w", err)
		}
		if n > 0 {
			if k.given != "" {
				// A token given on a later start is added, so scripts can rely on it.
				if _, err := s.store.TokenByHash(ctx, hashToken(k.given)); errors.Is(err, store.ErrNotFound) {
					if err := s.store.CreateToken(ctx, &store.Token{Name: k.kind + " (environment)", Kind: k.kind, Hash: hashToken(k.given)}); err != nil {
						return "", "", fmt.Errorf("store %s token: %w", k.kind, err)
					}
				}
			}
			continue
		}
		tok := k.given
		if tok == "" {
			tok, _ = newToken(k.prefix)
			*k.out = tok
		}
		if err := s.store.CreateToken(ctx, &store.Token{Name: k.kind, Kind: k.kind, Hash: hashToken(tok)}); err != nil {
			return "", "", fmt.Errorf("store %s token: %w", k.kind, err)
		}
	}
	return newAdmin, newRegistration, nil
}
