// Package executor is the seam between a job and the place its scripts run: a shell on this
// machine or a Docker container. An Executor prepares an Env for one job; the Env runs the job's
// scripts and is cleaned up. Packages shell and docker implement it; executortest holds the
// conformance suite every implementation passes and a fake for scheduler tests. This package
// does not decide what to run (package run does) nor prepare the build directory's content.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// Executor prepares environments for jobs.
type Executor interface {
	// Name is "shell" or "docker": what users pass to --executor.
	Name() string
	// Prepare readies an environment for job: for Docker, the network, the services (started
	// and reachable) and the job container. Progress and service output go to log. On error,
	// whatever Prepare made is already removed. Prepare may be called concurrently for
	// different jobs.
	Prepare(ctx context.Context, job *Job, log io.Writer) (Env, error)
}

// Env is one job's prepared environment.
//
// Call order: Run any number of times (one script at a time), then Cleanup exactly when done.
// Cleanup is idempotent, safe to call after a failed Run, and must be given a context that is
// not canceled (use context.WithoutCancel plus a timeout): it runs after a job was canceled.
type Env interface {
	// Run runs script and writes its combined output to out. A script that exits non-zero
	// returns an *ExitError; a canceled ctx stops the script (the whole process group or
	// container process tree) and returns ctx's error.
	Run(ctx context.Context, script Script, out io.Writer) error
	// Cleanup removes what Prepare made (containers, networks, volumes, temporary files) and
	// gives files created in the build directory back to the invoking user.
	Cleanup(ctx context.Context) error
}

// Interactive is an Env that can open an interactive shell with the job's variables, for
// `slipway run --shell-on-failure`. The shell reads in and writes out until the user exits.
type Interactive interface {
	Shell(ctx context.Context, in io.Reader, out io.Writer) error
}

// HostUser is an Env whose scripts run on this host as a user of their own, not as the
// process that runs them: the shell executor's, under root. HostUID is that user's uid (0
// when the scripts run as this process's user after all). Whoever reads the build directory
// after the job knows then that a file another uid owns was not made by the job: a hard link
// the job made to a file it could not read itself (where fs.protected_hardlinks is 0).
type HostUser interface {
	HostUID() int
}

// Reaper is an Executor that can find what it made for jobs after the process that ran them
// died (killed, crashed, the machine rebooted), and remove it: the Docker executor's
// containers, networks and volumes carry labels naming their owner. Reap removes everything
// of this owner, so it must be called when none of the owner's jobs runs, as a runner does
// when it starts, before it takes a job. It returns how many objects it removed, is
// idempotent, leaves alone what another owner made, and returns once ctx is done at the
// latest. An Executor whose jobs leave nothing once their process is dead (the shell: its
// temporary files aside) does not implement it.
type Reaper interface {
	Reap(ctx context.Context) (removed int, err error)
}

// Job is what an executor needs to know of a job.
type Job struct {
	// Name and ID identify the job in names of containers, networks and temp files.
	Name string
	ID   int64
	// Project names the pipeline's project, for labels.
	Project string
	// Image is the job's image (nil for the shell executor's jobs) and Services its services.
	Image    *pipeline.Image
	Services []pipeline.Service
	// BuildDir is the host directory holding the job's checkout. The shell executor runs in
	// it; the Docker executor mounts it at ProjectDir.
	BuildDir string
	// ProjectDir is CI_PROJECT_DIR as the job sees it.
	ProjectDir string
	// Env are the job's variables, already expanded, as KEY=VALUE; file variables already
	// point at their files.
	Env []string
	// FileDir is the host directory that holds the files of the file variables, when there
	// is one: BuildDir+".tmp" (see TmpDir), private to this process's user (0700, files
	// 0600). The job finds it at ProjectDir+".tmp", which the file variables name: for the
	// shell executor that is FileDir itself; the Docker executor puts a copy there in its
	// job containers. An executor that runs the job as another user makes the files readable
	// to that user alone.
	FileDir string
	// Mounts are extra host paths to mount (Docker only).
	Mounts []Mount
	// Privileged runs containers privileged (Docker only; off unless configured).
	Privileged bool
	// PullPolicy is used when the image does not name one: always, if-not-present or never.
	PullPolicy string
	// User runs the job container as this user (Docker: docker.user of the image).
	User string
}

// TmpDir is the directory beside dir (a build or project directory) that holds the job's
// file variables, as GitLab Runner keeps them: dir+".tmp".
func TmpDir(dir string) string { return dir + ".tmp" }

// Mount is a host path made visible in containers.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Script is one step of a job: the commands of before_script+script, or of after_script.
type Script struct {
	// Name is "step_script" or "after_script", GitLab's step names.
	Name string
	// Commands run in order; the step stops at the first that fails. Each is echoed first.
	Commands []string
	// Timeout bounds the step; zero means none (the job's context bounds it).
	Timeout time.Duration
}

// ExitError is a script that ran and exited non-zero.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// ExitCode returns the exit code of err when it is an *ExitError.
func ExitCode(err error) (int, bool) {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	return 0, false
}

// ErrPull is wrapped by errors about images that cannot be had (a pull that fails or
// pull_policy never with no local image).
var ErrPull = errors.New("image not available")
