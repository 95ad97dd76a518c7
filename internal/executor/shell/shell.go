// Package shell is the executor that runs a job's scripts with bash or sh on this machine, in
// the job's build directory, as the invoking user. Each script runs in its own process group,
// which is killed as a whole on cancel or timeout; processes that leave the group (setsid,
// daemons) are out of its reach. It does not isolate jobs from each other or from the host,
// run services, or prepare the build directory's content.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway/slipway/internal/executor"
)

// Options configure an Executor.
type Options struct {
	// Shell runs the scripts: a name looked up in PATH or a path, of bash or of a POSIX sh.
	// Empty means bash when PATH has it, else sh.
	Shell string
	// KillGrace is how long a canceled or timed-out script has between SIGTERM and SIGKILL,
	// and how long Run keeps reading output from processes a script left behind after it
	// exits. Zero means 1s.
	KillGrace time.Duration
	// Logger gets debug events (never job output). Nil discards.
	Logger *slog.Logger
}

// Executor is the shell executor.
type Executor struct {
	shell string
	grace time.Duration
	log   *slog.Logger
}

var (
	_ executor.Executor    = (*Executor)(nil)
	_ executor.Interactive = (*env)(nil)
)

// New returns a shell executor, or an error when its shell cannot be found.
func New(o Options) (*Executor, error) {
	e := &Executor{grace: o.KillGrace, log: o.Logger}
	if e.grace <= 0 {
		e.grace = time.Second
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if o.Shell != "" {
		e.shell, err = exec.LookPath(o.Shell)
	} else if e.shell, err = exec.LookPath("bash"); err != nil {
		e.shell, err = exec.LookPath("sh")
	}
	if err != nil {
		return nil, fmt.Errorf("find shell: %w", err)
	}
	return e, nil
}

// Name is "shell".
func (e *Executor) Name() string { return "shell" }

// Shell is the path of the shell that runs scripts.
func (e *Executor) Shell() string { return e.shell }

// Prepare checks the build directory and makes the temporary directory that holds the job's
// script files. Job.Image, Services, Mounts, Privileged, PullPolicy and User are ignored, as
// GitLab Runner's shell executor ignores them.
func (e *Executor) Prepare(ctx context.Context, job *executor.Job, log io.Writer) (executor.Env, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(job.BuildDir)
	if err != nil {
		return nil, fmt.Errorf("build dir: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("build dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build dir %s: not a directory", dir)
	}
	tmp, err := os.MkdirTemp("", fmt.Sprintf("slipway-%s-%d-", safeName(job.Name), job.ID))
	if err != nil {
		return nil, fmt.Errorf("make script dir: %w", err)
	}
	if log != nil {
		fmt.Fprintf(log, "Using shell executor with %s\n", e.shell)
	}
	l := e.log.With("job", job.Name, "job_id", job.ID)
	l.Debug("prepared", "build_dir", dir, "script_dir", tmp)
	return &env{
		shell:   e.shell,
		grace:   e.grace,
		log:     l,
		dir:     dir,
		environ: mergeEnv(os.Environ(), append([]string{"PWD=" + dir}, job.Env...)),
		tmp:     tmp,
	}, nil
}

// env is one job's environment: its variables and a directory for its script files.
type env struct {
	shell   string
	grace   time.Duration
	log     *slog.Logger
	dir     string
	environ []string

	mu      sync.Mutex
	tmp     string // "" once cleaned up
	scripts int    // files written, to name the next
}

// Run writes script to a file and runs it with the shell in the build directory, in a process
// group of its own. A canceled ctx or the script's Timeout sends the group SIGTERM, then
// SIGKILL after the grace; when the script exits, whatever it left in its group is killed.
func (e *env) Run(ctx context.Context, script executor.Script, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	file, err := e.writeScript(script)
	if err != nil {
		return err
	}
	step := ctx
	if script.Timeout > 0 {
		var cancel context.CancelFunc
		step, cancel = context.WithTimeout(ctx, script.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(step, e.shell, file)
	cmd.Dir, cmd.Env = e.dir, e.environ
	cmd.Stdout, cmd.Stderr = out, out // one pipe: output keeps its order
	e.ownGroup(cmd)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("start %s: %w", e.shell, err)
	}
	err = cmd.Wait()
	_ = killGroup(cmd.Process.Pid, syscall.SIGKILL) // what the script left behind
	e.log.Debug("script done", "script", script.Name, "duration", time.Since(start), "err", err)

	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case step.Err() != nil:
		return fmt.Errorf("%s timed out after %v: %w", script.Name, script.Timeout, context.DeadlineExceeded)
	}
	return exitError(err)
}

// ownGroup makes cmd the leader of a new process group that its context's end sends SIGTERM,
// and SIGKILL (through WaitDelay, then Run's final kill) after the grace.
func (e *env) ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		e.log.Debug("stopping script", "pgid", cmd.Process.Pid)
		return killGroup(cmd.Process.Pid, syscall.SIGTERM)
	}
	// WaitDelay bounds the wait after a cancel, and the wait for a process that holds the
	// output pipe open after the script exited (`daemon &`).
	cmd.WaitDelay = e.grace
}

// killGroup sends sig to the process group pgid. A group that is gone is no error.
func killGroup(pgid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", pgid, err)
	}
	return nil
}

// exitError translates cmd.Wait's error: an exit status becomes an *executor.ExitError, a
// death by signal exit code 128+signal as a shell reports it.
func exitError(err error) error {
	var ee *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		// ErrWaitDelay: the script succeeded; a process it left kept the output open.
		return nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &executor.ExitError{Code: 128 + int(ws.Signal())}
		}
		return &executor.ExitError{Code: ee.ExitCode()}
	}
	return fmt.Errorf("run script: %w", err)
}

// writeScript writes script's text to a new file in the script directory.
func (e *env) writeScript(script executor.Script) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tmp == "" {
		return "", errors.New("run after cleanup")
	}
	e.scripts++
	file := filepath.Join(e.tmp, fmt.Sprintf("%02d-%s.sh", e.scripts, safeName(script.Name)))
	if err := os.WriteFile(file, []byte(executor.ScriptText(script)), 0o700); err != nil {
		return "", fmt.Errorf("write script: %w", err)
	}
	return file, nil
}

// Cleanup removes the script directory. Files in the build directory already belong to the
// invoking user.
func (e *env) Cleanup(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tmp == "" {
		return nil
	}
	if err := os.RemoveAll(e.tmp); err != nil {
		return fmt.Errorf("remove script dir: %w", err)
	}
	e.log.Debug("cleaned up", "script_dir", e.tmp)
	e.tmp = ""
	return nil
}

// mergeEnv returns base with over added, an entry of over replacing base's entry of the same
// name in place.
func mergeEnv(base, over []string) []string {
	env := make([]string, 0, len(base)+len(over))
	at := make(map[string]int, len(base)+len(over))
	for _, kv := range append(base[:len(base):len(base)], over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			env[i] = kv
			continue
		}
		at[k] = len(env)
		env = append(env, kv)
	}
	return env
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName makes s fit in a file name: job names hold spaces, slashes and brackets.
func safeName(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_.")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "job"
	}
	return s
}
