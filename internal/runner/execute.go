package runner

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/run"
)

// execute prepares the build directory, runs the job and sends its artifacts; it returns
// how the job ended and its dotenv variables. Everything it says goes to the job's log.
func (t *task) execute(ctx context.Context, slot int) (run.Result, []plan.Var) {
	j, p := t.job, t.job.Plan
	fail := func(err error) (run.Result, []plan.Var) {
		res := run.Result{Status: run.StatusFailed, Reason: run.ReasonSystem, Err: err}
		if ctx.Err() != nil {
			res = run.Result{Status: run.StatusCanceled, Reason: run.StatusCanceled, Err: context.Cause(ctx)}
		}
		fmt.Fprintf(t.out, "\x1b[31;1mERROR: Job failed (system failure): %v\x1b[0;m\n", err)
		return res, nil
	}
	name := executorName(t.r.o.Config)
	ex, err := t.r.o.Executors(name)
	if err != nil {
		return fail(fmt.Errorf("executor %s: %w", name, err))
	}
	fmt.Fprintf(t.out, "\x1b[1mRunning with Slipway runner %s (id %d)\x1b[0;m\n", t.r.o.Config.Name, t.r.o.Config.ID)
	buildDir := filepath.Join(t.r.builds, safeRel(j.Project.Path), strconv.Itoa(slot))
	projectDir := buildDir
	if ex.Name() == "docker" {
		projectDir = "/builds/" + filepath.ToSlash(safeRel(j.Project.Path))
	}
	vars := []plan.Var{
		{Key: "CI_PROJECT_DIR", Value: projectDir, Public: true},
		{Key: "CI_BUILDS_DIR", Value: filepath.Dir(projectDir), Public: true},
	}
	lookup := lookupIn(append(append([]plan.Var(nil), p.Variables...), vars...))

	fmt.Fprintf(t.out, "\x1b[36;1mGetting source from Git repository\x1b[0;m\n")
	if err := t.getSources(ctx, buildDir, lookup); err != nil {
		return fail(err)
	}
	for _, d := range j.Dependencies {
		if !d.HasArtifacts {
			continue
		}
		if err := t.downloadArtifacts(ctx, d, buildDir); err != nil {
			return fail(fmt.Errorf("artifacts of %s: %w", d.Name, err))
		}
		fmt.Fprintf(t.out, "Downloaded artifacts of %s\n", d.Name)
	}
	keys := t.pullCaches(ctx, buildDir, lookup)

	res := run.Run(ctx, ex, run.Job{
		Plan: p, Project: j.Project.Path, BuildDir: buildDir, ProjectDir: projectDir,
		Vars: vars, Log: t.out,
	}, t.r.o.Run)
	if t.dropped() {
		return res, nil
	}
	// What follows is reported even when the job was canceled.
	after := context.WithoutCancel(ctx)
	ok := res.Status == run.StatusSuccess
	var files []string
	if needsUntracked(p) {
		files = untracked(after, buildDir)
	}
	t.pushCaches(after, buildDir, keys, ok, lookup, files)
	t.uploadArtifacts(after, buildDir, ok, lookup, files)
	return res, t.dotenv(buildDir, ok)
}

func (t *task) dropped() bool {
	select {
	case <-t.lost:
		return true
	default:
		return false
	}
}

func needsUntracked(p *plan.Job) bool {
	if p.Artifacts != nil && p.Artifacts.Untracked {
		return true
	}
	for _, c := range p.Cache {
		if c.Untracked {
			return true
		}
	}
	return false
}

// when reports whether something with when: (on_success, on_failure, always) is kept.
func when(w string, ok bool) bool {
	return w == "always" || w == "on_failure" && !ok || (w == "on_success" || w == "") && ok
}

// downloadArtifacts fetches a dependency's archive and restores it into buildDir.
func (t *task) downloadArtifacts(ctx context.Context, d jobapi.Dependency, buildDir string) error {
	dst := filepath.Join(t.tmp, fmt.Sprintf("deps-%d", d.JobID))
	found, err := t.download(ctx, jobapi.PathArtifacts(d.JobID), dst)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no artifacts on the server")
	}
	defer removeAll(dst)
	return artifact.Restore(dst, buildDir)
}

// download GETs a tar.gz and extracts it into dst; found is false on 404. Network errors
// and 5xx are retried a few times.
func (t *task) download(ctx context.Context, path, dst string) (found bool, err error) {
	bo := newBackoff()
	for attempt := 0; ; attempt++ {
		found, err = t.get(ctx, path, dst)
		if err == nil || !retryable(ctx, err) || attempt >= 4 {
			return found, err
		}
		removeAll(dst)
		if !bo.wait(ctx) {
			return false, err
		}
	}
}

func (t *task) get(ctx context.Context, path, dst string) (bool, error) {
	resp, err := t.r.c.do(ctx, http.MethodGet, path, t.job.Token, nil, nil)
	if err != nil {
		return false, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, nil
	case http.StatusForbidden:
		return false, fmt.Errorf("download: %w", statusError(resp))
	default:
		return false, fmt.Errorf("download: %w", statusError(resp))
	}
	if err := extractArchive(resp.Body, dst); err != nil {
		return false, err
	}
	return true, nil
}

// upload sends the tree at dir as a tar.gz with method to path, retrying network errors and
// 5xx (the archive is spooled to a file first, so a retry resends it).
func (t *task) upload(ctx context.Context, method, path, dir string) error {
	f, err := os.CreateTemp(t.tmp, "upload-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := writeArchive(f, dir); err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	bo := newBackoff()
	for {
		err = t.put(ctx, method, path, io.NewSectionReader(f, 0, size), size)
		if err == nil || !retryable(ctx, err) || !bo.wait(ctx) {
			return err
		}
	}
}

func (t *task) put(ctx context.Context, method, path string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, method, t.r.c.base+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/gzip")
	req.Header.Set("Authorization", "Bearer "+t.job.Token)
	resp, err := t.r.c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode == http.StatusForbidden {
			return errLeaseLost
		}
		return fmt.Errorf("upload: %w", statusError(resp))
	}
	return nil
}

// uploadArtifacts collects artifacts:paths (per artifacts:when) and sends them.
func (t *task) uploadArtifacts(ctx context.Context, buildDir string, ok bool, lookup func(string) (string, bool), untracked []string) {
	a := t.job.Plan.Artifacts
	if a == nil || !when(a.When, ok) || len(a.Paths) == 0 && !a.Untracked {
		return
	}
	dst := filepath.Join(t.tmp, "artifacts")
	defer removeAll(dst)
	rep, err := artifact.Collect(buildDir, dst, a, lookup, untracked)
	for _, w := range rep.Warnings {
		fmt.Fprintf(t.out, "WARNING: artifacts: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(t.out, "ERROR: artifacts: %v\n", err)
		return
	}
	if rep.Files == 0 {
		return
	}
	fmt.Fprintf(t.out, "Uploading artifacts: %d files, %d bytes\n", rep.Files, rep.Bytes)
	if err := t.upload(ctx, http.MethodPost, jobapi.PathArtifacts(t.job.ID)+"?kind=archive", dst); err != nil {
		fmt.Fprintf(t.out, "ERROR: uploading artifacts: %v\n", err)
		t.log.Warn("upload artifacts", "err", err)
	}
}

// dotenv reads the job's reports:dotenv files.
func (t *task) dotenv(buildDir string, ok bool) []plan.Var {
	a := t.job.Plan.Artifacts
	if a == nil || !when(a.When, ok) {
		return nil
	}
	var out []plan.Var
	for _, p := range a.Reports["dotenv"] {
		f, err := os.Open(filepath.Join(buildDir, p))
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: dotenv report %s: %v\n", p, err)
			continue
		}
		vs, err := artifact.ParseDotenv(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: dotenv report %s: %v\n", p, err)
			continue
		}
		out = append(out, vs...)
	}
	return out
}

// pullCaches restores the job's caches whose policy pulls, from the local store, which is
// first filled from the server when it has none of the keys. It returns each cache's key.
func (t *task) pullCaches(ctx context.Context, buildDir string, lookup func(string) (string, bool)) []string {
	p := t.job.Plan
	keys := make([]string, len(p.Cache))
	for i, c := range p.Cache {
		key, err := artifact.CacheKey(c, buildDir, lookup)
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: cache key: %v\n", err)
			continue
		}
		keys[i] = key
		if expr.Expand(c.Policy, lookup) == "push" {
			continue
		}
		fallback := make([]string, len(c.FallbackKeys))
		for i, k := range c.FallbackKeys {
			fallback[i] = expr.Expand(k, lookup)
		}
		hit, err := artifact.Pull(t.r.cache, key, fallback, buildDir)
		if err == nil && hit == "" {
			if t.fetchCache(ctx, append([]string{key}, fallback...)) {
				hit, err = artifact.Pull(t.r.cache, key, fallback, buildDir)
			}
		}
		switch {
		case err != nil:
			fmt.Fprintf(t.out, "WARNING: cache %s: %v\n", key, err)
		case hit == "":
			fmt.Fprintf(t.out, "No cache %s yet\n", key)
		default:
			fmt.Fprintf(t.out, "Restored cache %s\n", hit)
		}
	}
	return keys
}

// fetchCache downloads the first of keys the server has into the local store.
// getSources checks the job's commit out into buildDir, trying again after a growing pause
// from 1 s (a server that restarts is away for a moment) up to GET_SOURCES_ATTEMPTS times in
// all, 3 unless set (1 to 10).
func (t *task) getSources(ctx context.Context, buildDir string, lookup func(string) (string, bool)) error {
	attempts := 3
	if v, ok := lookup("GET_SOURCES_ATTEMPTS"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 1 && n <= 10 {
			attempts = n
		}
	}
	bo := &backoff{min: time.Second, max: 5 * time.Second}
	for i := 1; ; i++ {
		err := checkout(ctx, buildDir, t.job.Git, t.job.Token, t.out)
		if err == nil || i == attempts || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(t.out, "Getting source failed: %v; trying again (attempt %d of %d)\n", err, i+1, attempts)
		if !bo.wait(ctx) {
			return err
		}
	}
}

func (t *task) fetchCache(ctx context.Context, keys []string) bool {
	for i, k := range keys {
		s, err := artifact.SanitizeKey(k)
		if err != nil {
			continue
		}
		dir := filepath.Join(t.tmp, fmt.Sprintf("cache-%d", i))
		found, err := t.download(ctx, cachePath(t.job.Project.ID, s), dir)
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: download cache %s: %v\n", k, err)
			continue
		}
		if !found {
			continue
		}
		_, err = artifact.Push(t.r.cache, k, pipeline.Cache{Paths: []string{"."}}, dir, nil, nil)
		removeAll(dir)
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: store cache %s: %v\n", k, err)
			continue
		}
		fmt.Fprintf(t.out, "Downloaded cache %s\n", k)
		return true
	}
	return false
}

// pushCaches saves the job's caches whose policy pushes (per cache:when) to the local store
// and sends them to the server.
func (t *task) pushCaches(ctx context.Context, buildDir string, keys []string, ok bool, lookup func(string) (string, bool), untracked []string) {
	for i, c := range t.job.Plan.Cache {
		if keys[i] == "" || expr.Expand(c.Policy, lookup) == "pull" || !when(c.When, ok) {
			continue
		}
		rep, err := artifact.Push(t.r.cache, keys[i], c, buildDir, lookup, untracked)
		for _, w := range rep.Warnings {
			fmt.Fprintf(t.out, "WARNING: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: cache %s: %v\n", keys[i], err)
			continue
		}
		if rep.Files == 0 {
			continue
		}
		// The same selection, for the server: a tree of hard links in the temp dir.
		dir := filepath.Join(t.tmp, fmt.Sprintf("cache-push-%d", i))
		_, err = artifact.Collect(buildDir, dir, &pipeline.Artifacts{Paths: c.Paths, Untracked: c.Untracked}, lookup, untracked)
		if err == nil {
			err = t.upload(ctx, http.MethodPut, cachePath(t.job.Project.ID, keys[i]), dir)
		}
		removeAll(dir)
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: upload cache %s: %v\n", keys[i], err)
			continue
		}
		fmt.Fprintf(t.out, "Saved cache %s: %d files\n", keys[i], rep.Files)
	}
}

// coverage finds the job's coverage: the last match of its coverage regexp in the log,
// line by line, and the first number in that match (in its first group when it has one).
func (t *task) coverage() *float64 {
	src := strings.TrimSpace(t.job.Plan.Coverage)
	if len(src) < 2 || src[0] != '/' || src[len(src)-1] != '/' {
		return nil
	}
	re, err := regexp.Compile(src[1 : len(src)-1])
	if err != nil {
		fmt.Fprintf(t.out, "WARNING: coverage regexp %s: %v\n", src, err)
		return nil
	}
	last := ""
	sc := bufio.NewScanner(io.NewSectionReader(t.sp.f, 0, t.sp.Size()-t.sp.base))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := re.FindAllStringSubmatch(sc.Text(), -1)
		if len(m) == 0 {
			continue
		}
		sub := m[len(m)-1]
		last = sub[0]
		for _, g := range sub[1:] {
			if g != "" {
				last = g
				break
			}
		}
	}
	num := regexp.MustCompile(`\d+(\.\d+)?`).FindString(last)
	if num == "" {
		return nil
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return nil
	}
	return &v
}

// cachePath is the cache's URL path; the key (sanitized, so it may hold "%2F") is escaped
// as one path segment.
func cachePath(projectID int64, key string) string {
	return jobapi.PathCache(projectID, url.PathEscape(key))
}
