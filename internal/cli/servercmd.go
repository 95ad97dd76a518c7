package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/notify"
	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/server"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/postgres"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// runServer is `slipway server`: the API, webhooks, scheduler and a built-in runner, on an
// embedded SQLite database (or Postgres with --db).
func runServer(ctx context.Context, io IO, args []string) int {
	var (
		data, addr, db, url, executorName     string
		runners                               int
		heartbeat                             time.Duration
		smtpAddr, smtpUser, smtpFrom, smtpTLS string
		retentionDays                         int
		limits                                server.Limits
	)
	fs := newFlags("server", io, "[flags]")
	fs.StringVar(&data, "data", "slipway-data", "directory for the database, git mirrors, artifacts and caches")
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&db, "db", "", "database: empty for SQLite in --data, or a postgres:// URL")
	fs.StringVar(&url, "url", "", "external URL of the server, for links and runners (default http://ADDR)")
	fs.IntVar(&runners, "runners", 2, "jobs the built-in runner runs at once (0: no built-in runner)")
	fs.StringVar(&executorName, "executor", "", "executor of the built-in runner: docker or shell (default docker when an engine answers)")
	fs.DurationVar(&heartbeat, "heartbeat", 0, "runner heartbeat interval; a job is lost after three missed (default 1s)")
	fs.StringVar(&smtpAddr, "smtp-addr", "", "SMTP server host:port for notification mail (none when empty); password in SLIPWAY_SMTP_PASSWORD")
	fs.StringVar(&smtpUser, "smtp-user", "", "SMTP user name")
	fs.StringVar(&smtpFrom, "smtp-from", "slipway@localhost", "sender of notification mail")
	fs.StringVar(&smtpTLS, "smtp-starttls", "opportunistic", "STARTTLS: opportunistic, required or off")
	fs.IntVar(&retentionDays, "retention-days", 90, "days finished pipelines, their logs and artifacts are kept")
	limitFlags(fs, &limits)
	pos, err := parse(fs, args)
	if err != nil || len(pos) > 0 {
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(io.Stderr, nil))
	fail := func(err error) int {
		fmt.Fprintf(io.Stderr, "slipway server: %v\n", err)
		return exitFail
	}
	if err := os.MkdirAll(data, 0o750); err != nil {
		return fail(err)
	}
	var st store.Store
	switch {
	case strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://"):
		st, err = postgres.Open(ctx, db)
	case db == "":
		st, err = sqlite.Open(ctx, filepath.Join(data, "slipway.db"))
	default:
		return fail(fmt.Errorf("--db %q: want a postgres:// URL, or nothing for SQLite", db))
	}
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fail(err)
	}
	if url == "" {
		url = "http://" + l.Addr().String()
	}
	var mailer *notify.Mailer
	if smtpAddr != "" {
		mailer = &notify.Mailer{Addr: smtpAddr, Username: smtpUser, Password: os.Getenv("SLIPWAY_SMTP_PASSWORD"), From: smtpFrom, StartTLS: smtpTLS}
	}
	srv, err := server.New(server.Options{
		Store: st, Data: data, URL: url, Logger: logger, Heartbeat: heartbeat, Mailer: mailer,
		Retention: time.Duration(retentionDays) * 24 * time.Hour, Limits: limits,
	})
	if err != nil {
		return fail(err)
	}
	admin, registration, err := srv.Bootstrap(ctx, os.Getenv("SLIPWAY_ADMIN_TOKEN"), os.Getenv("SLIPWAY_REGISTRATION_TOKEN"))
	if err != nil {
		return fail(err)
	}
	if admin != "" {
		fmt.Fprintf(io.Stderr, "Admin API token (shown once; keep it): %s\n", admin)
	}
	if registration != "" {
		fmt.Fprintf(io.Stderr, "Runner registration token (shown once): %s\n", registration)
	}

	// The first SIGINT/SIGTERM stops accepting and lets running jobs finish; a second one
	// cancels them.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	jobCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	runnerStop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		logger.Info("stopping: waiting for running jobs (interrupt again to cancel them)")
		close(runnerStop)
		select {
		case <-sigs:
			abort()
		case <-jobCtx.Done():
		}
	}()

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	var runnerDone chan struct{}
	if runners > 0 {
		c, err := builtinRunner(ctx, srv, data, url, executorName, runners, io)
		if err != nil {
			return fail(err)
		}
		pick, err := runnerExecutors(c)
		if err != nil {
			return fail(err)
		}
		runnerDone = make(chan struct{})
		go func() {
			defer close(runnerDone)
			if err := runner.Run(jobCtx, runner.Options{Config: c, Executors: pick, Logger: logger.With("runner", "built-in"), Stop: runnerStop}); err != nil {
				errc <- fmt.Errorf("built-in runner: %w", err)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Run(sctx); err != nil {
			errc <- err
		}
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(sctx, l); err != nil && !errors.Is(err, net.ErrClosed) {
			errc <- err
		}
	}()
	logger.Info("slipway server listening", "url", url, "data", data, "db", dbKind(db), "builtin_runners", runners)
	select {
	case <-runnerStop:
	case err := <-errc:
		abort()
		stop()
		wg.Wait()
		return fail(err)
	}
	// Let the built-in runner finish its jobs (it talks to us, so we serve meanwhile).
	if runnerDone != nil {
		<-runnerDone
	}
	stop()
	wg.Wait()
	return exitOK
}

func dbKind(db string) string {
	if db == "" {
		return "sqlite"
	}
	return "postgres"
}

// builtinRunner returns the built-in runner's configuration, registering it on first start
// (kept in DATA/builtin-runner.yml). Its executor is docker when an engine answers, else
// shell, unless --executor says.
func builtinRunner(ctx context.Context, srv *server.Server, data, url, executorName string, concurrency int, io IO) (*runner.Config, error) {
	path := filepath.Join(data, "builtin-runner.yml")
	c, err := runner.LoadConfig(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		id, token, err := srv.RegisterRunner(ctx, "built-in", nil, true, "")
		if err != nil {
			return nil, fmt.Errorf("register the built-in runner: %w", err)
		}
		c = &runner.Config{ID: id, Token: token, Name: "built-in", RunUntagged: true}
	}
	c.URL = url
	c.Concurrency = concurrency
	if c.BuildsDir == "" {
		c.BuildsDir = filepath.Join(data, "builds")
	}
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(data, "runner-cache")
	}
	switch executorName {
	case "shell", "docker":
		c.Executor = executorName
	case "":
		c.Executor = "shell"
		if d, err := docker.New(docker.Options{}); err == nil {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			if d.Ping(pctx) == nil {
				c.Executor = "docker"
			}
			cancel()
		}
	default:
		return nil, fmt.Errorf("--executor %q: want docker or shell", executorName)
	}
	if err := runner.SaveConfig(path, c); err != nil {
		return nil, err
	}
	return c, nil
}
