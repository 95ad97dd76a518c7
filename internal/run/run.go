// Package run runs one planned job on an executor: its variables (expanded, file variables
// written, secrets masked), the step_script and after_script steps with their timeouts, and
// the log that tells what happened. It does not schedule jobs, prepare build directories or
// move artifacts (package local does, for `slipway run`).
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/mask"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

// Defaults GitLab uses.
const (
	DefaultTimeout            = time.Hour
	DefaultAfterScriptTimeout = 5 * time.Minute
)

// Job is one job to run.
type Job struct {
	Plan *plan.Job
	// Project is the project path, for container labels.
	Project string
	// BuildDir is the host directory with the job's checkout; ProjectDir is CI_PROJECT_DIR.
	BuildDir, ProjectDir string
	// Vars are added after the plan's variables (dotenv reports of earlier jobs, …).
	Vars []plan.Var
	// Log receives the job's log: Slipway's own lines and the scripts' output, masked.
	Log io.Writer
}

// Options tune how jobs run.
type Options struct {
	// Timeout bounds a job that sets no timeout; zero means DefaultTimeout.
	Timeout time.Duration
	// AfterScriptTimeout bounds after_script; zero means DefaultAfterScriptTimeout.
	AfterScriptTimeout time.Duration
	// Mounts, Privileged and PullPolicy are passed to the executor's Job.
	Mounts     []executor.Mount
	Privileged bool
	PullPolicy string
	// OnFailure, when set, is called with the still-prepared environment of a job whose
	// script failed (for --shell-on-failure), before after_script and cleanup.
	OnFailure func(ctx context.Context, env executor.Env, vars []string)
}

// Result is how a job ended.
type Result struct {
	// Status is success, failed or canceled; Reason says why a failed job failed
	// (script_failure, job_execution_timeout, runner_system_failure).
	Status   status.Status
	Reason   status.Reason
	ExitCode int
	// Err is the error that failed the job (nil on success).
	Err      error
	Started  time.Time
	Duration time.Duration
	// HostUID is the uid the job's scripts ran as on this host when it was a user of their
	// own (executor.HostUser), else 0. Files of the build directory that another uid owns and
	// that have more than one link were not made by the job: see artifact's readers.
	HostUID int
}

// Run runs j on ex. It returns when the job ended and its environment is cleaned up. A
// canceled ctx cancels the job (status canceled); the job's timeout fails it.
func Run(ctx context.Context, ex executor.Executor, j Job, o Options) (res Result) {
	res.Started = time.Now()
	defer func() { res.Duration = time.Since(res.Started) }()

	if j.BuildDir == "" {
		return system(res, j.Log, errors.New("no build dir"))
	}
	projectDir := j.ProjectDir
	if projectDir == "" {
		projectDir = j.BuildDir
	}
	vars := append(append([]plan.Var(nil), j.Plan.Variables...), j.Vars...)
	fileDir := ""
	if slices.ContainsFunc(vars, func(v plan.Var) bool { return v.File }) {
		fileDir = executor.TmpDir(j.BuildDir)
		defer os.RemoveAll(fileDir)
	}
	env, secrets, err := Env(vars, fileDir, executor.TmpDir(projectDir))
	if err != nil {
		return system(res, j.Log, err)
	}
	mw := mask.NewWriter(j.Log, secrets)
	defer mw.Flush()
	log := &lineEnd{w: mw}

	timeout := j.Plan.Timeout
	if timeout == 0 {
		timeout = o.Timeout
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	jobCtx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()

	ej := &executor.Job{
		Name: j.Plan.Name, ID: jobID(j.Plan), Project: j.Project,
		Image: j.Plan.Image, Services: j.Plan.Services,
		BuildDir: j.BuildDir, ProjectDir: j.ProjectDir, Env: env, FileDir: fileDir,
		Mounts: o.Mounts, Privileged: o.Privileged, PullPolicy: o.PullPolicy,
	}
	if j.Plan.Image != nil {
		ej.User = j.Plan.Image.User
	}
	log.Printf("\x1b[36;1mPreparing the %q executor\x1b[0;m\n", ex.Name())
	e, err := ex.Prepare(jobCtx, ej, log)
	if err != nil {
		return finish(res, log, ctx, jobCtx, timeout, fmt.Errorf("prepare environment: %w", err), true)
	}
	if hu, ok := e.(executor.HostUser); ok {
		res.HostUID = hu.HostUID()
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer ccancel()
		if err := e.Cleanup(cctx); err != nil {
			log.Printf("\x1b[33;1mWARNING: cleanup: %v\x1b[0;m\n", err)
		}
	}()

	commands := append(append([]string(nil), j.Plan.BeforeScript...), j.Plan.Script...)
	log.Printf("\x1b[36;1mExecuting \"step_script\" stage of the job script\x1b[0;m\n")
	stepErr := e.Run(jobCtx, executor.Script{Name: "step_script", Commands: commands}, log)
	if stepErr != nil && ctx.Err() == nil && o.OnFailure != nil {
		if _, ok := executor.ExitCode(stepErr); ok {
			o.OnFailure(ctx, e, env)
		}
	}
	if len(j.Plan.AfterScript) > 0 && ctx.Err() == nil {
		ast := o.AfterScriptTimeout
		if ast == 0 {
			ast = DefaultAfterScriptTimeout
		}
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), ast)
		log.Printf("\x1b[36;1mRunning after_script\x1b[0;m\n")
		if err := e.Run(actx, executor.Script{Name: "after_script", Commands: j.Plan.AfterScript}, log); err != nil {
			log.Printf("\x1b[33;1mWARNING: after_script failed: %v\x1b[0;m\n", err)
		}
		acancel()
	}
	return finish(res, log, ctx, jobCtx, timeout, stepErr, false)
}

var errTimeout = errors.New("job timed out")

// finish decides the job's status from the step's error.
func finish(res Result, log *lineEnd, ctx, jobCtx context.Context, timeout time.Duration, err error, system bool) Result {
	switch {
	case err == nil:
		res.Status = status.Success
		log.Printf("\x1b[32;1mJob succeeded\x1b[0;m\n")
		return res
	case ctx.Err() != nil:
		res.Status, res.Err = status.Canceled, context.Cause(ctx)
		log.Printf("\x1b[31;1mERROR: Job canceled\x1b[0;m\n")
		return res
	case errors.Is(context.Cause(jobCtx), errTimeout):
		res.Status, res.Reason, res.Err = status.Failed, status.JobExecutionTimeout, fmt.Errorf("execution took longer than %s", timeout)
	case system:
		res.Status, res.Reason, res.Err = status.Failed, status.RunnerSystemFailure, err
	default:
		res.Status, res.Reason, res.Err = status.Failed, status.ScriptFailure, err
		if code, ok := executor.ExitCode(err); ok {
			res.ExitCode = code
		}
	}
	log.Printf("\x1b[31;1mERROR: Job failed: %v\x1b[0;m\n", res.Err)
	return res
}

func system(res Result, w io.Writer, err error) Result {
	log := &lineEnd{w: w}
	res.Status, res.Reason, res.Err = status.Failed, status.RunnerSystemFailure, err
	log.Printf("ERROR: Job failed (system failure): %v\n", err)
	return res
}

// jobID is the job's CI_JOB_ID.
func jobID(j *plan.Job) int64 {
	for _, v := range j.Variables {
		if v.Key == "CI_JOB_ID" {
			var id int64
			fmt.Sscan(v.Value, &id)
			return id
		}
	}
	return 0
}

// Env turns variables into the environment of a job: file variables written to files in
// dir, made anew (0700, files 0600; what was there is removed), each variable holding its
// file's path as the job sees it, in jobDir; every value expanded as GitLab Runner expands
// them; and the values of masked variables returned for masking.
func Env(vars []plan.Var, dir, jobDir string) (env, secrets []string, err error) {
	vars = append([]plan.Var(nil), vars...)
	made := false
	for i, v := range vars {
		if v.Masked {
			secrets = append(secrets, v.Value)
		}
		if !v.File {
			continue
		}
		if !made {
			if err := freshDir(dir); err != nil {
				return nil, nil, fmt.Errorf("file variables: %w", err)
			}
			made = true
		}
		if err := os.WriteFile(filepath.Join(dir, v.Key), []byte(v.Value), 0o600); err != nil {
			return nil, nil, fmt.Errorf("write file variable %s: %w", v.Key, err)
		}
		vars[i].Value = path.Join(filepath.ToSlash(jobDir), v.Key)
	}
	for _, v := range plan.Expanded(vars) {
		env = append(env, v.Key+"="+v.Value)
	}
	return env, secrets, nil
}

// freshDir makes dir empty and private: whatever an earlier run left there (a runner that
// died) is removed first, without following symbolic links.
func freshDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Mkdir(dir, 0o700)
}

// lineEnd passes writes on and remembers whether the last one ended a line, so that Slipway's
// own messages start on a line of their own after a script's unterminated last line.
type lineEnd struct {
	w       io.Writer
	partial bool
}

func (l *lineEnd) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.partial = p[len(p)-1] != '\n'
	}
	return l.w.Write(p)
}

// Printf writes one of Slipway's own lines, after ending a script's partial line.
func (l *lineEnd) Printf(format string, args ...any) {
	if l.partial {
		l.Write([]byte("\n"))
	}
	fmt.Fprintf(l, format, args...)
}
