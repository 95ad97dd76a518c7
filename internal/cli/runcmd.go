package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/gitrepo"
	"github.com/slipway/slipway/internal/local"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

// Exit code of a run stopped by the user (128 + SIGINT), as shells report it.
const exitCanceled = 130

func runRun(ctx context.Context, io IO, args []string) int {
	var f pipelineFlags
	var (
		noDeps, manual, timestamps, events, shellOnFailure bool
		privileged, dockerSocket                           bool
		executorName                                       string
		concurrency                                        int
	)
	fs := newFlags("run", io, "[JOB…] [flags]")
	f.register(fs)
	fs.BoolVar(&noDeps, "no-deps", false, "with job names: do not also run the jobs they need")
	fs.BoolVar(&manual, "manual", false, "also run manual jobs")
	fs.StringVar(&executorName, "executor", "", "shell or docker (default: docker for jobs with image: when an engine answers, else shell)")
	fs.IntVar(&concurrency, "concurrency", 4, "jobs running at once")
	fs.BoolVar(&timestamps, "timestamps", false, "prefix output lines with the time")
	fs.BoolVar(&events, "json-events", false, "print one JSON object a line instead of text")
	fs.BoolVar(&shellOnFailure, "shell-on-failure", false, "open a shell in a failed job's environment before it is cleaned up")
	fs.BoolVar(&privileged, "privileged", false, "run job containers privileged")
	fs.BoolVar(&dockerSocket, "docker-socket", false, "mount the host's Docker socket into job containers")
	var volumes volumeFlag
	fs.Var(&volumes, "volume", "mount a host path into job containers: SRC:DST[:ro] (repeatable)")
	jobs, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if executorName != "" && executorName != "shell" && executorName != "docker" {
		fmt.Fprintf(io.Stderr, "slipway run: --executor must be shell or docker, not %q\n", executorName)
		return exitUsage
	}
	s, p, code := f.plan(ctx, io)
	if p == nil {
		return code
	}
	if !p.Created {
		fmt.Fprintln(io.Stderr, p.Reason.Text)
		return exitOK
	}
	root := s.ctx.Project.Dir
	files, tracked, err := gitrepo.WorkTree(ctx, root)
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway run: %v\n", err)
		return exitFail
	}
	pick, err := executors(io, executorName, docker.Options{Privileged: privileged, DockerSocket: dockerSocket, Volumes: volumes})
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway run: %v\n", err)
		return exitFail
	}
	tty := isTerminal(io.Stdout)
	color := tty && env(io, "NO_COLOR") == ""
	opts := local.Options{
		Root: root, Files: files, Tracked: tracked, Plan: p, Jobs: jobs, NoDeps: noDeps, Manual: manual,
		Executor: pick, Concurrency: concurrency, Out: io.Stdout, Color: color, TTY: tty && !events,
		Timestamps: timestamps, Events: events, Project: s.ctx.Project.Path,
		ProjectDir: func(j *plan.Job, buildDir string) string {
			if pick(j).Name() == "docker" {
				return "/builds/" + s.ctx.Project.Path
			}
			return buildDir
		},
	}
	if shellOnFailure {
		opts.Run.OnFailure = func(ctx context.Context, e executor.Env, _ []string) {
			sh, ok := e.(executor.Interactive)
			if !ok {
				return
			}
			fmt.Fprintln(io.Stderr, "The job failed: a shell in its environment (exit it to go on).")
			if err := sh.Shell(ctx, io.Stdin, io.Stdout); err != nil {
				fmt.Fprintf(io.Stderr, "shell: %v\n", err)
			}
		}
	}
	sum, err := local.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway run: %v\n", err)
		return exitFail
	}
	switch sum.Status {
	case status.Success:
		return exitOK
	case status.Canceled:
		return exitCanceled
	}
	return exitFail
}

// executors returns how a job's executor is chosen: --executor for every job, else Docker
// for jobs with an image when an engine answers and the shell for the rest. The first time
// Docker is wanted but absent, it says so once on stderr.
func executors(io IO, name string, dopts docker.Options) (func(*plan.Job) executor.Executor, error) {
	// The jobs are the user's own: they get the user's whole environment, as in a terminal.
	sh, err := shell.New(shell.Options{InheritAll: true})
	if err != nil && name != "docker" {
		return nil, err
	}
	var once sync.Once
	var dk *docker.Executor
	var dkErr error
	dockerExec := func() (executor.Executor, error) {
		once.Do(func() {
			dk, dkErr = docker.New(dopts)
			if dkErr == nil {
				dkErr = dk.Ping(context.Background())
			}
			if dkErr != nil && name == "" {
				fmt.Fprintf(io.Stderr, "slipway: no Docker engine answers (%v): jobs with image: run in the shell executor\n", dkErr)
			}
		})
		return dk, dkErr
	}
	return func(j *plan.Job) executor.Executor {
		switch {
		case name == "shell":
			return sh
		case name == "docker", j.Image != nil:
			if d, err := dockerExec(); err == nil {
				return d
			} else if name == "docker" {
				return failing{err}
			}
		}
		return sh
	}, nil
}

// failing is an executor that cannot prepare anything, for --executor docker without an
// engine: each job fails with the reason.
type failing struct{ err error }

func (f failing) Name() string { return "docker" }
func (f failing) Prepare(context.Context, *executor.Job, io.Writer) (executor.Env, error) {
	return nil, fmt.Errorf("docker executor: %w", f.err)
}

func env(io IO, k string) string {
	if io.Env == nil {
		return ""
	}
	return io.Env(k)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// volumeFlag collects --volume SRC:DST[:ro].
type volumeFlag []executor.Mount

func (v *volumeFlag) String() string { return fmt.Sprint(len(*v), " volumes") }

func (v *volumeFlag) Set(s string) error {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" {
		return fmt.Errorf("want SRC:DST or SRC:DST:ro, not %q", s)
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return err
	}
	*v = append(*v, executor.Mount{Source: src, Target: parts[1], ReadOnly: len(parts) == 3 && parts[2] == "ro"})
	return nil
}
