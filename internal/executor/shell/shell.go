// Package shell is the executor that runs a job's scripts with bash or sh on this machine, in
// the job's build directory. Each script runs in its own process group, which is killed as a
// whole on cancel or timeout; processes that leave the group (setsid, daemons) are out of its
// reach.
//
// A job gets a small allowlist of this process's environment (a server's or runner's own
// variables are none of its business), unless Options.InheritAll gives it the whole, as
// `slipway run` does. Options.UIDs runs each job as a uid of its own, which nothing of the
// job outlives: every process of that uid is killed when the job ends, so that jobs cannot
// read each other's files or environments (/proc/PID/environ) nor what the process running
// them can (its database, its configuration). Options.User runs all jobs as one other user.
//
// It does not run services or prepare the build directory's content.
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
	"strconv"
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
	// InheritAll gives jobs this process's whole environment, for `slipway run`, whose jobs
	// are the user's own. False gives them only PATH, HOME, LANG, LANGUAGE, LC_*, TZ, TMPDIR,
	// USER, LOGNAME and SHELL of it, and the variables Inherit names.
	InheritAll bool
	// Inherit names more variables of this process's environment that jobs get: NAME, or
	// PREFIX* for the names that start with PREFIX (see CheckInherit). A name that starts with
	// SLIPWAY_ is never inherited: those are the server's and runner's own.
	Inherit []string
	// UIDs, when set, runs each job as a uid of its own taken from the range, with the
	// uid's number as its group and no supplementary groups, no matter whether the user
	// database knows the uid: USER and LOGNAME are its name there, else its number, and HOME
	// and TMPDIR are directories of the job's own. No two jobs on this host hold a uid at
	// once; when a job ends (Cleanup), every process of its uid is killed and its files at
	// the top of /tmp, /var/tmp and /dev/shm are removed. It needs root and Linux, and
	// excludes User.
	UIDs *UIDRange
	// User runs the scripts of every job as this user (a name or a numeric uid): with its
	// primary group and no supplementary groups, USER and LOGNAME set to it and a HOME and
	// TMPDIR of its own for the job. Jobs that run at once share the user, and what a job
	// leaves running outside its process group goes on. Empty, or this process's own user,
	// runs them as this process's user; another user needs this process to run as root.
	//
	// With UIDs or User, the build directory is given to the job's user for the job (and
	// closed to others), and back to this process's user by Cleanup, and it must be reachable
	// by that user (every directory above it searchable).
	User string
	// Logger gets debug events (never job output). Nil discards.
	Logger *slog.Logger
}

// Executor is the shell executor.
type Executor struct {
	shell      string
	grace      time.Duration
	inheritAll bool
	inherit    []string
	as         *jobUser // nil: this process's user, or a uid of pool
	pool       *uidPool // nil: no uid of their own for jobs
	log        *slog.Logger
}

// jobUser is the user Options.User names, when it is not this process's.
type jobUser struct {
	name     string
	uid, gid int
}

var (
	_ executor.Executor    = (*Executor)(nil)
	_ executor.Interactive = (*env)(nil)
	_ executor.HostUser    = (*env)(nil)
)

// New returns a shell executor, or an error when its shell cannot be found, Inherit holds a
// bad name, User is unknown or needs root, or UIDs is bad or needs root.
func New(o Options) (*Executor, error) {
	e := &Executor{grace: o.KillGrace, log: o.Logger, inheritAll: o.InheritAll, inherit: o.Inherit}
	if e.grace <= 0 {
		e.grace = time.Second
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for _, name := range o.Inherit {
		if err := CheckInherit(name); err != nil {
			return nil, err
		}
	}
	var err error
	switch {
	case o.UIDs != nil && o.User != "":
		return nil, fmt.Errorf("job user %q and job uids: want one or the other", o.User)
	case o.UIDs != nil:
		if e.pool, err = newUIDPool(*o.UIDs, e.log); err != nil {
			return nil, err
		}
	case o.User != "":
		if e.as, err = lookupUser(o.User); err != nil {
			return nil, err
		}
	}
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

// CheckBuildsDir returns an error that says why when the job user (Options.User) cannot reach
// build directories made beneath dir, and nil when it can or jobs run as this process's user.
func (e *Executor) CheckBuildsDir(dir string) error {
	u := e.as
	if e.pool != nil {
		u = &jobUser{name: strconv.Itoa(e.pool.first), uid: e.pool.first, gid: e.pool.first}
	}
	if u == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("builds dir: %w", err)
	}
	return u.reachable(filepath.Join(abs, "job"))
}

// Name is "shell".
func (e *Executor) Name() string { return "shell" }

// Shell is the path of the shell that runs scripts.
func (e *Executor) Shell() string { return e.shell }

// Prepare checks the build directory and makes the temporary directory that holds the job's
// script files (and, with Options.UIDs or User, takes the job's uid, makes the job's HOME and
// TMPDIR, and gives the build directory and the job's file variables to that user).
// Job.Image, Services, Mounts, Privileged, PullPolicy and User are ignored, as GitLab
// Runner's shell executor ignores them.
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
	en := &env{
		shell: e.shell,
		grace: e.grace,
		as:    e.as,
		log:   e.log.With("job", job.Name, "job_id", job.ID),
		dir:   dir,
		tmp:   tmp,
	}
	base := e.hostEnv()
	if e.pool != nil {
		if en.lease, err = e.pool.take(ctx); err != nil {
			_ = en.Cleanup(context.WithoutCancel(ctx))
			return nil, err
		}
		en.as = en.lease.user()
	}
	if en.as != nil {
		home, tmpDir, err := en.as.prepare(dir, tmp, job.FileDir)
		if err != nil {
			_ = en.Cleanup(context.WithoutCancel(ctx))
			return nil, err
		}
		base = append(base, "HOME="+home, "TMPDIR="+tmpDir, "USER="+en.as.name, "LOGNAME="+en.as.name)
	}
	en.environ = mergeEnv(base, append([]string{"PWD=" + dir}, job.Env...))
	if log != nil {
		switch {
		case en.lease != nil:
			fmt.Fprintf(log, "Using shell executor with %s as uid %d, the job's own\n", e.shell, en.as.uid)
		case en.as != nil:
			fmt.Fprintf(log, "Using shell executor with %s as user %s\n", e.shell, en.as.name)
		default:
			fmt.Fprintf(log, "Using shell executor with %s\n", e.shell)
		}
	}
	en.log.Debug("prepared", "build_dir", dir, "script_dir", tmp)
	return en, nil
}

// hostEnv is what jobs get of this process's environment.
func (e *Executor) hostEnv() []string {
	if e.inheritAll {
		return os.Environ()
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); e.inherits(k) {
			env = append(env, kv)
		}
	}
	return env
}

// inherits reports whether jobs get the variable name of this process's environment.
func (e *Executor) inherits(name string) bool {
	if strings.HasPrefix(name, "SLIPWAY_") {
		return false
	}
	switch name {
	case "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL":
		return true
	}
	if strings.HasPrefix(name, "LC_") {
		return true
	}
	for _, p := range e.inherit {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, prefix) || p == name {
			return true
		}
	}
	return false
}

var inheritName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\*?$`)

// CheckInherit reports whether name can be in Options.Inherit: a variable name, or a prefix
// of names followed by *, that does not start with SLIPWAY_.
func CheckInherit(name string) error {
	switch {
	case !inheritName.MatchString(name):
		return fmt.Errorf("inherit %q: want a variable name, or a prefix and *", name)
	case strings.HasPrefix(name, "SLIPWAY_"):
		return fmt.Errorf("inherit %q: the SLIPWAY_ variables are the server's and runner's own, never a job's", name)
	}
	return nil
}

// env is one job's environment: its variables and a directory for its script files.
type env struct {
	shell   string
	grace   time.Duration
	as      *jobUser // nil: this process's user
	lease   *lease   // the uid the job holds (Options.UIDs), until Cleanup
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
	cmd.SysProcAttr = e.sysProcAttr()
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

// sysProcAttr starts the job's processes as its user.
func (e *env) sysProcAttr() *syscall.SysProcAttr {
	if e.as == nil {
		return &syscall.SysProcAttr{}
	}
	// Groups empty (and NoSetGroups false): no supplementary groups, root's least of all.
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.as.uid), Gid: uint32(e.as.gid), Groups: []uint32{}}}
}

// ownGroup makes cmd, whose SysProcAttr is set, the leader of a new process group that its
// context's end sends SIGTERM, and SIGKILL (through WaitDelay, then Run's final kill) after
// the grace.
func (e *env) ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr.Setpgid = true
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

// writeScript writes script's text to a new file in the script directory, readable by the
// job's user alone.
func (e *env) writeScript(script executor.Script) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tmp == "" {
		return "", errors.New("run after cleanup")
	}
	e.scripts++
	file := filepath.Join(e.tmp, fmt.Sprintf("%02d-%s.sh", e.scripts, safeName(script.Name)))
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return "", fmt.Errorf("write script: %w", err)
	}
	if e.as != nil {
		err = f.Chown(e.as.uid, e.as.gid)
	}
	if err == nil {
		_, err = f.WriteString(executor.ScriptText(script))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write script: %w", err)
	}
	return file, nil
}

// HostUID is the uid the job's scripts run as when it is not this process's (Options.UIDs or
// User), else 0.
func (e *env) HostUID() int {
	if e.as == nil {
		return 0
	}
	return e.as.uid
}

// Cleanup kills every process of the job's uid and removes its temporary files (Options.UIDs),
// gives the build directory back to this process's user when the job ran as another, removes
// the script directory and lets another job take the uid. A uid whose processes could not
// all be killed is left to the next job that takes it, which tries again or passes it over.
func (e *env) Cleanup(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tmp == "" {
		return nil
	}
	var errs []error
	if e.lease != nil {
		if err := sweep(ctx, e.lease.uid); err != nil {
			errs = append(errs, err)
		}
	}
	if e.as != nil {
		if err := giveTree(e.dir, os.Getuid(), os.Getgid()); err != nil {
			errs = append(errs, fmt.Errorf("give back build dir: %w", err))
		}
	}
	if err := os.RemoveAll(e.tmp); err != nil {
		return errors.Join(append(errs, fmt.Errorf("remove script dir: %w", err))...)
	}
	if e.lease != nil {
		e.lease.release()
		e.lease = nil
	}
	e.log.Debug("cleaned up", "script_dir", e.tmp)
	e.tmp = ""
	return errors.Join(errs...)
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
