package local

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/flow"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/run"
	"github.com/slipway/slipway/internal/status"
)

// runJob prepares a job's build directory, runs it (with retries) and keeps what it leaves
// for later jobs. It sets n.result; the loop sets the status.
func (r *runner) runJob(ctx context.Context, n *node) {
	j := n.job
	log := r.out.jobWriter(j.Name, n.index)
	defer log.Close()
	if j.ResourceGroup != "" {
		g := r.group(j.ResourceGroup)
		g.Lock()
		defer g.Unlock()
	}
	if j.When == "delayed" && j.StartIn > 0 {
		fmt.Fprintf(log, "delayed: starting in %s\n", j.StartIn)
		select {
		case <-time.After(j.StartIn):
		case <-ctx.Done():
			n.result = run.Result{Status: status.Canceled}
			return
		}
	}
	buildDir := filepath.Join(r.o.State, "builds", plan.Slug(j.Name))
	projectDir := buildDir
	if r.o.ProjectDir != nil {
		projectDir = r.o.ProjectDir(j, buildDir)
	}
	vars := []plan.Var{
		{Key: "CI_PROJECT_DIR", Value: projectDir, Public: true},
		{Key: "CI_BUILDS_DIR", Value: filepath.Dir(projectDir), Public: true},
	}
	for attempt := 0; ; attempt++ {
		n.tries = attempt + 1
		// A copy of the snapshot of its own (reflinks where the file system has them), as a
		// fresh checkout is on GitLab: nothing a job writes in place, even through a hard link
		// or a symbolic link of the tree, reaches the snapshot and so a later job or attempt.
		if err := artifact.Mirror(r.src, buildDir); err != nil {
			n.result = run.Result{Status: status.Failed, Reason: status.RunnerSystemFailure, Err: err}
			fmt.Fprintf(log, "ERROR: prepare build dir: %v\n", err)
			return
		}
		dotenv := r.restore(n, buildDir, log)
		lookup := lookupIn(append(append(append([]plan.Var(nil), j.Variables...), dotenv...), vars...))
		cacheKeys := r.pullCaches(j, buildDir, lookup, log)
		ex := r.o.Executor(j)
		n.result = run.Run(ctx, ex, run.Job{
			Plan: j, Project: r.o.Project, BuildDir: buildDir, ProjectDir: projectDir,
			Vars: append(append([]plan.Var(nil), dotenv...), vars...), Log: log,
		}, r.o.Run)
		r.pushCaches(j, buildDir, cacheKeys, n.result.Status == status.Success, lookup, log)
		r.keep(n, buildDir, lookup, log)
		if !r.retry(n, attempt) || ctx.Err() != nil {
			return
		}
		fmt.Fprintf(log, "\x1b[33;1mRetrying (attempt %d of %d)\x1b[0;m\n", attempt+2, j.Retry.Max+1)
	}
}

// retry reports whether a failed job is tried again, per retry: max, when and exit_codes.
func (r *runner) retry(n *node, attempt int) bool {
	res := n.result
	return res.Status == status.Failed && flow.Retry(n.job, attempt, res.Reason, res.ExitCode)
}

func (r *runner) group(name string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.groups[name]
	if !ok {
		g = &sync.Mutex{}
		r.groups[name] = g
	}
	return g
}

// artifactDir is where a job's artifacts are kept during the run.
func (r *runner) artifactDir(j *plan.Job) string {
	return filepath.Join(r.runDir, "artifacts", plan.Slug(j.Name))
}

// restore copies the artifacts of the jobs j depends on into its build dir and returns their
// dotenv variables: its needs with artifacts (only those also in dependencies: when set), else
// dependencies:, else every job of earlier stages.
func (r *runner) restore(n *node, buildDir string, log *lineWriter) []plan.Var {
	j := n.job
	jobs := make([]*plan.Job, len(r.nodes))
	for i, m := range r.nodes {
		jobs[i] = m.job
	}
	var from []*node
	for _, i := range flow.ArtifactSources(j, jobs) {
		from = append(from, r.nodes[i])
	}
	var vars []plan.Var
	for _, m := range from {
		if !done(m.status) {
			continue
		}
		dir := r.artifactDir(m.job)
		if _, err := os.Stat(dir); err == nil {
			if err := artifact.Restore(dir, buildDir); err != nil {
				fmt.Fprintf(log, "WARNING: artifacts of %s: %v\n", m.job.Name, err)
			} else {
				fmt.Fprintf(log, "Downloaded artifacts of %s\n", m.job.Name)
			}
		}
		vars = append(vars, m.dotenv...)
	}
	return vars
}

// keep stores the job's artifacts (per artifacts:when), reads its dotenv report and
// summarises its JUnit reports.
func (r *runner) keep(n *node, buildDir string, vars func(string) (string, bool), log *lineWriter) {
	j, a := n.job, n.job.Artifacts
	if a == nil {
		return
	}
	ok := n.result.Status == status.Success
	if !(a.When == "always" || a.When == "on_failure" && !ok || (a.When == "on_success" || a.When == "") && ok) {
		return
	}
	if len(a.Paths) > 0 || a.Untracked {
		dst := r.artifactDir(j)
		_ = os.RemoveAll(dst)
		rep, err := artifact.Collect(buildDir, dst, a, vars, r.untracked(buildDir))
		for _, w := range rep.Warnings {
			fmt.Fprintf(log, "WARNING: artifacts: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(log, "ERROR: artifacts: %v\n", err)
		} else {
			fmt.Fprintf(log, "Uploading artifacts: %d files, %d bytes\n", rep.Files, rep.Bytes)
		}
	}
	for _, p := range a.Reports["dotenv"] {
		vs, err := artifact.ReadDotenv(buildDir, p, 0, artifact.DotenvLimits{})
		if err != nil {
			fmt.Fprintf(log, "WARNING: dotenv report %s: %v\n", p, err)
			continue
		}
		n.dotenv = append(n.dotenv, vs...)
	}
	if pats := a.Reports["junit"]; len(pats) > 0 {
		sum, err := artifact.JUnit(buildDir, artifact.JUnitFiles(buildDir, pats), 0, 0)
		if err != nil {
			fmt.Fprintf(log, "WARNING: junit report: %v\n", err)
		} else {
			fmt.Fprintf(log, "JUnit: %d tests, %d failures, %d errors, %d skipped\n", sum.Tests, sum.Failures, sum.Errors, sum.Skipped)
			for _, f := range sum.Failed {
				fmt.Fprintf(log, "  failed: %s\n", f.Name)
			}
		}
	}
}

// untracked lists the files of a build dir that git does not track.
func (r *runner) untracked(buildDir string) []string {
	tracked := map[string]bool{}
	for _, f := range r.o.Tracked {
		tracked[f] = true
	}
	var out []string
	_ = filepath.WalkDir(buildDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(buildDir, p)
		if rel = filepath.ToSlash(rel); !tracked[rel] {
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// cacheStore is where caches live between runs.
func (r *runner) cacheStore() string { return filepath.Join(r.o.State, "cache") }

// pullCaches restores the job's caches whose policy pulls; it returns each cache's key.
func (r *runner) pullCaches(j *plan.Job, buildDir string, vars func(string) (string, bool), log *lineWriter) []string {
	keys := make([]string, len(j.Cache))
	for i, c := range j.Cache {
		key, err := artifact.CacheKey(c, buildDir, vars)
		if err != nil {
			fmt.Fprintf(log, "WARNING: cache key: %v\n", err)
			continue
		}
		keys[i] = key
		if policy(c, vars) == "push" {
			continue
		}
		hit, err := artifact.Pull(r.cacheStore(), key, c.FallbackKeys, buildDir)
		switch {
		case err != nil:
			fmt.Fprintf(log, "WARNING: cache %s: %v\n", key, err)
		case hit == "":
			fmt.Fprintf(log, "No cache %s yet\n", key)
		default:
			fmt.Fprintf(log, "Restored cache %s\n", hit)
		}
	}
	return keys
}

// pushCaches saves the job's caches whose policy pushes, per cache:when.
func (r *runner) pushCaches(j *plan.Job, buildDir string, keys []string, ok bool, vars func(string) (string, bool), log *lineWriter) {
	for i, c := range j.Cache {
		if keys[i] == "" || policy(c, vars) == "pull" {
			continue
		}
		if !(c.When == "always" || c.When == "on_failure" && !ok || (c.When == "on_success" || c.When == "") && ok) {
			continue
		}
		rep, err := artifact.Push(r.cacheStore(), keys[i], c, buildDir, vars, r.untracked(buildDir))
		if err != nil {
			fmt.Fprintf(log, "WARNING: cache %s: %v\n", keys[i], err)
			continue
		}
		fmt.Fprintf(log, "Saved cache %s: %d files\n", keys[i], rep.Files)
	}
}

// policy is a cache's policy, which may come from a variable.
func policy(c pipeline.Cache, vars func(string) (string, bool)) string {
	return expr.Expand(c.Policy, vars)
}

// lookupIn looks variables up as the job sees them.
func lookupIn(vars []plan.Var) func(string) (string, bool) {
	m := map[string]string{}
	for _, v := range plan.Expanded(vars) {
		m[v.Key] = v.Value
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
