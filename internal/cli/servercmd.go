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
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"

	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/notify"
	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/server"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/postgres"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// runServer is `slipway server`: the API, webhooks, scheduler and a built-in runner, on an
// embedded SQLite database (or Postgres with --db or SLIPWAY_DB).
func runServer(ctx context.Context, io IO, args []string) int {
	var (
		data, addr, db, url, executorName     string
		shellUser                             string
		runners                               int
		heartbeat                             time.Duration
		smtpAddr, smtpUser, smtpFrom, smtpTLS string
		retentionDays                         int
		limits                                server.Limits
		metricsAllow                          = server.DefaultMetricsAllow()
		bcryptCost                            int
	)
	fs := newFlags("server", io, "[flags]")
	fs.StringVar(&data, "data", "slipway-data", "directory for the database, git mirrors, artifacts and caches")
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&db, "db", "", "database: empty for SQLite in --data, or a postgres:// URL (better in SLIPWAY_DB: other users see command lines)")
	fs.StringVar(&url, "url", "", "external URL of the server, for links and runners (default http://ADDR)")
	fs.IntVar(&runners, "runners", 2, "jobs the built-in runner runs at once (0: no built-in runner)")
	fs.StringVar(&executorName, "executor", "", "executor of the built-in runner: auto (Docker for jobs with image:, the shell for the others), docker or shell (default auto when a Docker engine answers, else shell)")
	fs.StringVar(&shellUser, "shell-user", "", "user every shell job of the built-in runner runs as, instead of shell.user of DATA/builtin-runner.yml or its uid range (default: when the server runs as root, a uid of its own for each job, from shell.uid_base (70000); else the server's user)")
	fs.DurationVar(&heartbeat, "heartbeat", 0, "runner heartbeat interval; a job is lost after three missed (default 1s)")
	fs.StringVar(&smtpAddr, "smtp-addr", "", "SMTP server host:port for notification mail (none when empty); password in SLIPWAY_SMTP_PASSWORD")
	fs.StringVar(&smtpUser, "smtp-user", "", "SMTP user name")
	fs.StringVar(&smtpFrom, "smtp-from", "slipway@localhost", "sender of notification mail")
	fs.StringVar(&smtpTLS, "smtp-starttls", "opportunistic", "STARTTLS: opportunistic, required or off")
	fs.IntVar(&retentionDays, "retention-days", 90, "days finished pipelines, their logs and artifacts are kept")
	limitFlags(fs, &limits)
	fs.IntVar(&bcryptCost, "bcrypt-cost", bcrypt.DefaultCost, "cost of the bcrypt hashes of users' passwords (4 to 31; each step doubles the work of a sign-in)")
	fs.Var(&prefixFlag{&metricsAllow}, "metrics-allow", "client `networks` /metrics answers, comma-separated (GitLab's monitoring allowlist; 0.0.0.0/0,::/0 for any)")
	pos, err := parse(fs, args)
	if err != nil || len(pos) > 0 {
		return exitUsage
	}
	// Secrets leave the environment before anything is started that would inherit them.
	secrets := takeSecrets()
	if db == "" {
		db = secrets[envDB]
	}
	logger := slog.New(slog.NewTextHandler(io.Stderr, nil))
	fail := func(err error) int {
		fmt.Fprintf(io.Stderr, "slipway server: %v\n", err)
		return exitFail
	}
	if shellUser != "" {
		if _, err := shell.New(shell.Options{User: shellUser}); err != nil {
			return fail(fmt.Errorf("--shell-user: %w", err))
		}
	}
	if err := privateDataDir(data, db == ""); err != nil {
		return fail(err)
	}
	var st store.Store
	switch {
	case strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://"):
		st, err = postgres.Open(ctx, db)
	case db == "":
		st, err = sqlite.Open(ctx, filepath.Join(data, "slipway.db"))
	default:
		return fail(fmt.Errorf("database (--db or %s): want a postgres:// URL, or nothing for SQLite", envDB))
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
		mailer = &notify.Mailer{Addr: smtpAddr, Username: smtpUser, Password: secrets[envSMTPPassword], From: smtpFrom, StartTLS: smtpTLS}
	}
	srv, err := server.New(server.Options{
		Store: st, Data: data, URL: url, Logger: logger, Heartbeat: heartbeat, Mailer: mailer,
		Retention: time.Duration(retentionDays) * 24 * time.Hour, Limits: limits, MetricsAllow: metricsAllow,
		BcryptCost: bcryptCost,
	})
	if err != nil {
		return fail(err)
	}
	admin, registration, err := srv.Bootstrap(ctx, secrets[envAdminToken], secrets[envRegistrationToken])
	if err != nil {
		return fail(err)
	}
	if admin != "" {
		fmt.Fprintf(io.Stderr, "Admin API token (shown once; keep it): %s\n", admin)
	}
	if registration != "" {
		fmt.Fprintf(io.Stderr, "Runner registration token (shown once): %s\n", registration)
	}
	password, err := srv.BootstrapAdmin(ctx, secrets[envAdminPassword])
	if err != nil {
		return fail(err)
	}
	if password != "" {
		fmt.Fprintf(io.Stderr, "Sign in as %q with password (shown once; change it): %s\n", server.AdminUsername, password)
	}

	var ro *runner.Options
	if runners > 0 {
		c, err := builtinRunner(ctx, srv, data, url, executorName, runners, io)
		if err != nil {
			return fail(err)
		}
		if shellUser != "" {
			c.Shell.User, c.Shell.UIDBase, c.Shell.UIDCount = shellUser, 0, 0
		}
		if c.OutputLimit == 0 {
			// The log is cut once, by the runner, where the server would cut it.
			c.OutputLimit = max(1, limits.LogSize>>10)
		}
		pick, err := runnerExecutors(c)
		if err != nil {
			return fail(err)
		}
		warnUnreachable(pick, c, logger)
		ro = &runner.Options{Config: c, Executors: pick, Logger: logger.With("runner", "built-in")}
	}
	logger.Info("slipway server listening", "url", url, "data", data, "db", dbKind(db), "builtin_runners", runners)
	if err := serve(ctx, srv, l, ro, logger); err != nil {
		return fail(err)
	}
	return exitOK
}

// serve runs the server until it is stopped: its background work, the API on l and, when ro
// is not nil, the built-in runner. The first SIGINT or SIGTERM (or the end of ctx) stops the
// runner taking jobs and lets the running ones finish, serving the API meanwhile (the runner
// reports through it); a second cancels them. A part that fails (the scheduler cannot start,
// the listener breaks) stops the others at once, canceling running jobs, and serve returns
// its error.
func serve(ctx context.Context, srv *server.Server, l net.Listener, ro *runner.Options, logger *slog.Logger) error {
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	jobCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	g, gctx := errgroup.WithContext(sctx)
	runnerStop := make(chan struct{})
	g.Go(func() error {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		select {
		case <-sigs:
		case <-ctx.Done():
		case <-gctx.Done():
			return nil
		}
		logger.Info("stopping: waiting for running jobs (interrupt again to cancel them)")
		close(runnerStop)
		select {
		case <-sigs:
			logger.Info("canceling running jobs")
			abort()
		case <-gctx.Done():
		}
		return nil
	})
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(gctx, l); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		defer stop() // the server stops once the runner has
		if ro == nil {
			select {
			case <-runnerStop:
			case <-gctx.Done():
			}
			return nil
		}
		// A part of the server that fails cancels the running jobs.
		defer context.AfterFunc(gctx, abort)()
		o := *ro
		o.Stop = runnerStop
		if err := runner.Run(jobCtx, o); err != nil {
			return fmt.Errorf("built-in runner: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// privateDataDir makes the data directory, or tightens an existing one: searchable but not
// listable by others (0711), since the built-in runner's build directories are beneath it and
// shell jobs that run as another user must reach theirs, and the SQLite database and its
// journal files (sqlite: the database is there) readable by this user only. What else it
// holds is made private where it is made (git mirrors, artifacts and caches 0750 or 0700,
// the built-in runner's configuration 0600).
func privateDataDir(data string, sqlite bool) error {
	if err := privateDir(data, 0o711); err != nil {
		return err
	}
	if !sqlite {
		return nil
	}
	for _, name := range []string{"slipway.db", "slipway.db-wal", "slipway.db-shm", "slipway.db-journal"} {
		path := filepath.Join(data, name)
		if name == "slipway.db" {
			// Made here, so that SQLite, which gives its journal files the database's mode,
			// never makes them readable by others.
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return fmt.Errorf("make database file: %w", err)
			}
			f.Close()
		}
		if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("make database file private: %w", err)
		}
	}
	return nil
}

// privateDir makes dir (and its parents) and gives it mode perm, also when it existed.
func privateDir(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}

func dbKind(db string) string {
	if db == "" {
		return "sqlite"
	}
	return "postgres"
}

// builtinRunner returns the built-in runner's configuration, registering it on first start
// (kept in DATA/builtin-runner.yml, where docker.image and the limits may be set). Unless
// --executor says, it does what `slipway run` does: Docker for jobs with image: and the shell
// for the others (runner.ExecutorAuto) when an engine answers, else the shell for all.
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
		// Every project's caches: never the jobs' to read (shell jobs run as another user).
		if err := privateDir(c.CacheDir, 0o700); err != nil {
			return nil, err
		}
	}
	switch executorName {
	case runner.ExecutorShell, runner.ExecutorDocker, runner.ExecutorAuto:
		c.Executor = executorName
	case "":
		c.Executor = runner.ExecutorShell
		if d, err := docker.New(docker.Options{}); err == nil {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			if d.Ping(pctx) == nil {
				c.Executor = runner.ExecutorAuto
			}
			cancel()
			d.Close()
		}
	default:
		return nil, fmt.Errorf("--executor %q: want auto, docker or shell", executorName)
	}
	if err := runner.SaveConfig(path, c); err != nil {
		return nil, err
	}
	return c, nil
}
