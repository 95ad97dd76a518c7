package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/runner"
)

// runRunner dispatches `slipway runner register|run`.
func runRunner(ctx context.Context, io IO, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(io.Stderr, "Usage: slipway runner register --url URL --token TOKEN [flags]")
		fmt.Fprintln(io.Stderr, "       slipway runner run [--config PATH] [--concurrency N]")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "register":
		return runRunnerRegister(ctx, io, args[1:])
	case "run":
		return runRunnerRun(ctx, io, args[1:])
	}
	fmt.Fprintf(io.Stderr, "slipway runner: unknown command %q (want register or run)\n", args[0])
	return exitUsage
}

func runRunnerRegister(ctx context.Context, io IO, args []string) int {
	var url, token, name, tags, executorName, dockerImage, configPath string
	var runUntagged bool
	fs := newFlags("runner register", io, "--url URL --token TOKEN [flags]")
	fs.StringVar(&url, "url", "", "the Slipway server's URL")
	fs.StringVar(&token, "token", "", "the server's runner registration token (better in SLIPWAY_REGISTRATION_TOKEN: other users see command lines)")
	fs.StringVar(&name, "name", "", "the runner's name (default: the host name)")
	fs.StringVar(&tags, "tags", "", "comma-separated tags of the jobs this runner takes")
	fs.BoolVar(&runUntagged, "run-untagged", false, "also take jobs without tags")
	fs.StringVar(&executorName, "executor", "shell", "shell or docker")
	fs.StringVar(&dockerImage, "docker-image", "", "the image of jobs without image: (executor docker; without it such jobs fail)")
	fs.StringVar(&configPath, "config", "", "where to write the configuration (default $HOME/.slipway/runner.yml)")
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if t := takeSecrets()[envRegistrationToken]; token == "" {
		token = t
	}
	if len(pos) > 0 || url == "" || token == "" {
		fmt.Fprintln(io.Stderr, "slipway runner register: --url and --token (or SLIPWAY_REGISTRATION_TOKEN) are required, and no arguments")
		return exitUsage
	}
	if executorName != runner.ExecutorShell && executorName != runner.ExecutorDocker {
		fmt.Fprintf(io.Stderr, "slipway runner register: --executor must be shell or docker, not %q\n", executorName)
		return exitUsage
	}
	if dockerImage != "" && executorName != runner.ExecutorDocker {
		fmt.Fprintln(io.Stderr, "slipway runner register: --docker-image is for --executor docker")
		return exitUsage
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	if configPath == "" {
		if configPath, err = runner.DefaultConfigPath(); err != nil {
			fmt.Fprintf(io.Stderr, "slipway runner register: %v\n", err)
			return exitFail
		}
	}
	var tagList []string
	for t := range strings.SplitSeq(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tagList = append(tagList, t)
		}
	}
	c, err := runner.Register(ctx, runner.RegisterOptions{
		URL: url, Token: token, Name: name, Tags: tagList, RunUntagged: runUntagged, Executor: executorName,
		DockerImage: dockerImage,
	})
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway runner register: %v\n", err)
		return exitFail
	}
	if err := runner.SaveConfig(configPath, c); err != nil {
		fmt.Fprintf(io.Stderr, "slipway runner register: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(io.Stdout, "Registered runner %d (%s); configuration saved to %s\n", c.ID, c.Name, configPath)
	return exitOK
}

// runRunnerRun runs the runner until interrupted: the first SIGINT or SIGTERM (or a canceled
// ctx) stops it once the running jobs are done; a second cancels them.
func runRunnerRun(ctx context.Context, io IO, args []string) int {
	var configPath string
	var concurrency int
	fs := newFlags("runner run", io, "[flags]")
	fs.StringVar(&configPath, "config", "", "the runner's configuration (default $HOME/.slipway/runner.yml)")
	fs.IntVar(&concurrency, "concurrency", 0, "jobs running at once (default: the configuration's, else 1)")
	pos, err := parse(fs, args)
	if err != nil || len(pos) > 0 {
		return exitUsage
	}
	takeSecrets() // none is the runner's: they leave the environment its jobs and git get
	if configPath == "" {
		if configPath, err = runner.DefaultConfigPath(); err != nil {
			fmt.Fprintf(io.Stderr, "slipway runner run: %v\n", err)
			return exitFail
		}
	}
	c, err := runner.LoadConfig(configPath)
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway runner run: %v\n", err)
		return exitFail
	}
	if concurrency > 0 {
		c.Concurrency = concurrency
	}
	pick, err := runnerExecutors(c)
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway runner run: %v\n", err)
		return exitFail
	}
	logger := slog.New(slog.NewTextHandler(io.Stderr, nil))
	warnUnreachable(pick, c, logger)

	// Jobs run under their own context: the caller's ends on the first interrupt, which
	// only stops taking jobs.
	jobCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		case <-done:
			return
		}
		logger.Info("stopping: waiting for running jobs (interrupt again to cancel them)")
		close(stop)
		select {
		case <-sigs:
			logger.Info("canceling running jobs")
			abort()
		case <-done:
		}
	}()
	err = runner.Run(jobCtx, runner.Options{Config: c, Executors: pick, Logger: logger, Stop: stop})
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway runner run: %v\n", err)
		return exitFail
	}
	return exitOK
}

// runnerExecutors makes the executors a runner's configuration allows, each once. The Docker
// executor labels what it makes with the runner's identity (Config.OwnerLabels), so that
// runner.Run can remove what a killed process of the runner left. An engine that does not
// answer is asked again at the next call.
func runnerExecutors(c *runner.Config) (func(string) (executor.Executor, error), error) {
	var mounts volumeFlag
	for _, v := range c.Docker.Volumes {
		if err := mounts.Set(v); err != nil {
			return nil, fmt.Errorf("docker volume: %w", err)
		}
	}
	var (
		shOnce sync.Once
		sh     executor.Executor
		shErr  error
		dkMu   sync.Mutex
		dk     *docker.Executor
	)
	return func(name string) (executor.Executor, error) {
		switch name {
		case runner.ExecutorShell:
			shOnce.Do(func() {
				sh, shErr = shell.New(c.Shell.Options())
			})
			return sh, shErr
		case runner.ExecutorDocker:
			dkMu.Lock()
			defer dkMu.Unlock()
			if dk != nil {
				return dk, nil
			}
			d, err := docker.New(docker.Options{Privileged: c.Docker.Privileged, Volumes: mounts,
				PullPolicy: c.Docker.PullPolicy, DefaultImage: c.Docker.Image, Labels: c.OwnerLabels()})
			if err != nil {
				return nil, err
			}
			if err := d.Ping(context.Background()); err != nil {
				_ = d.Close()
				return nil, err
			}
			dk = d
			return dk, nil
		}
		return nil, fmt.Errorf("unknown executor %q", name)
	}, nil
}

// warnUnreachable logs why shell jobs will fail: the shell executor cannot be made (its job
// user is unknown), or that user cannot reach the builds dir.
func warnUnreachable(pick func(string) (executor.Executor, error), c *runner.Config, log *slog.Logger) {
	sh, err := pick("shell")
	if err != nil {
		log.Warn("shell jobs will fail", "err", err)
		return
	}
	if x, ok := sh.(*shell.Executor); ok && c.BuildsDir != "" {
		if err := x.CheckBuildsDir(c.BuildsDir); err != nil {
			log.Warn("shell jobs will fail", "err", err)
		}
	}
}
