package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/run"
	"github.com/slipway/slipway/internal/status"
)

// execute prepares the build directory and runs the job; it returns how the job ended and
// whether it ran (a job whose preparation failed has nothing to collect). Everything it says
// goes to the job's log.
func (t *task) execute(ctx context.Context, slot int) (run.Result, bool) {
	j, p := t.job, t.plan
	fail := func(err error) (run.Result, bool) {
		res := run.Result{Status: status.Failed, Reason: status.RunnerSystemFailure, Err: err}
		if ctx.Err() != nil {
			res = run.Result{Status: status.Canceled, Err: context.Cause(ctx)}
		}
		fmt.Fprintf(t.out, "\x1b[31;1mERROR: Job failed (system failure): %v\x1b[0;m\n", err)
		return res, false
	}
	fmt.Fprintf(t.out, "\x1b[1mRunning with Slipway runner %s (id %d)\x1b[0;m\n", t.r.o.Config.Name, t.r.o.Config.ID)
	name, err := executorFor(t.r.o.Config, p)
	if err != nil {
		return fail(err)
	}
	ex, err := t.r.o.Executors(name)
	if err != nil {
		return fail(fmt.Errorf("executor %s: %w", name, err))
	}
	// builds/SLOT/PROJECT_ID/PATH: one directory per slot (one job at a time) and project, and
	// never one inside another's, so no job sees or reaches another project's files.
	slotDir := filepath.Join(t.r.builds, strconv.Itoa(slot))
	projectRoot := filepath.Join(slotDir, strconv.FormatInt(j.Project.ID, 10))
	buildDir := filepath.Join(projectRoot, safeRel(j.Project.Path))
	projectDir := buildDir
	if ex.Name() == "docker" {
		projectDir = "/builds/" + filepath.ToSlash(safeRel(j.Project.Path))
	}
	vars := []plan.Var{
		{Key: "CI_PROJECT_DIR", Value: projectDir, Public: true},
		{Key: "CI_BUILDS_DIR", Value: filepath.Dir(projectDir), Public: true},
	}
	t.buildDir = buildDir
	t.lookup = lookupIn(append(append([]plan.Var(nil), p.Variables...), vars...))

	if err := closeBuildDirs(slotDir, projectRoot); err != nil {
		return fail(err)
	}
	fmt.Fprintf(t.out, "\x1b[36;1mGetting source from Git repository\x1b[0;m\n")
	if t.tracked, err = t.getSources(ctx, slotDir, buildDir); err != nil {
		return fail(err)
	}
	if ex.Name() == ExecutorShell {
		// The shell job's user, who may not be the runner's, must reach its build dir.
		if err := os.Chmod(projectRoot, 0o755); err != nil {
			return fail(fmt.Errorf("open the build dir: %w", err))
		}
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
	t.keys = t.pullCaches(ctx, buildDir)

	res := run.Run(ctx, ex, run.Job{
		Plan: p, Project: j.Project.Path, BuildDir: buildDir, ProjectDir: projectDir,
		Vars: vars, Log: t.out,
	}, t.r.o.Run)
	t.jobUID = res.HostUID
	if err := closeBuildDirs(slotDir, ""); err != nil {
		fmt.Fprintf(t.out, "WARNING: %v\n", err)
	}
	return res, true
}

// closeBuildDirs makes every project directory of a slot (builds/SLOT/PROJECT_ID) the
// runner's alone (0700). Only a shell job's own, while it runs, is opened (0755), for the
// job's user: a build directory outlives its job until the next job of its project in its
// slot, and no other host user — the shell jobs of other projects, which all run as the same
// user — may reach it, neither to read another project's files nor to run a set-user-ID
// program that a Docker job, root in its container, made in its bind-mounted build directory.
// Closing the whole slot also closes what a runner that died during a job left open. make,
// when set, is a project directory to make (closed) if it does not exist.
func closeBuildDirs(slotDir, make string) error {
	if err := os.MkdirAll(slotDir, 0o755); err != nil {
		return fmt.Errorf("close build dirs: %w", err)
	}
	if make != "" {
		if err := os.Mkdir(make, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("close build dirs: %w", err)
		}
	}
	list, err := os.ReadDir(slotDir)
	if err != nil {
		return fmt.Errorf("close build dirs: %w", err)
	}
	for _, d := range list {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		if err := os.Chmod(filepath.Join(slotDir, d.Name()), 0o700); err != nil {
			return fmt.Errorf("close build dirs: %w", err)
		}
	}
	return nil
}

// collect saves what the job left, as it ended (ok: it succeeded): its caches, its artifacts,
// its dotenv variables and the summary of its JUnit reports, which it returns. ctx bounds
// the uploads. Nothing here runs a process in the build directory, and every file is read
// beneath it (package artifact).
func (t *task) collect(ctx context.Context, ok bool) ([]plan.Var, *jobapi.JUnit) {
	var files []string
	if needsUntracked(t.plan) {
		var err error
		if files, err = untracked(t.buildDir, t.tracked); err != nil {
			fmt.Fprintf(t.out, "WARNING: %v\n", err)
		}
	}
	t.pushCaches(ctx, ok, files)
	t.uploadArtifacts(ctx, ok, files)
	return t.dotenv(ok), t.junit(ok)
}

// executorFor names the executor of job p on a runner configured as c (see Config.Executor).
func executorFor(c *Config, p *plan.Job) (string, error) {
	hasImage := p.Image != nil && p.Image.Name != ""
	switch executorName(c) {
	case ExecutorDocker:
		if !hasImage && c.Docker.Image == "" {
			return "", fmt.Errorf("job %q names no image and this docker runner has no default image: "+
				"register the runner with `slipway runner register --executor docker --docker-image IMAGE` "+
				"(docker.image in its configuration), or give the job an image", p.Name)
		}
		return ExecutorDocker, nil
	case ExecutorAuto:
		if hasImage {
			return ExecutorDocker, nil
		}
	}
	return ExecutorShell, nil
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
	defer artifact.RemoveTree(dst)
	status, _, err := t.download(ctx, jobapi.PathArtifacts(d.JobID), "", dst, t.r.maxArtifacts)
	if err != nil {
		return tooLarge(err, "max_artifacts_size")
	}
	if status == http.StatusNotFound {
		return fmt.Errorf("no artifacts on the server")
	}
	return artifact.Restore(dst, buildDir)
}

// download GETs a tar.gz and extracts it into dst, unpacking at most max bytes of files. With
// an etag, it asks for the archive only if the server's differs (If-None-Match). It returns the
// answer's status (200, 304 or 404) and ETag. Network errors and 5xx are retried a few times.
func (t *task) download(ctx context.Context, path, etag, dst string, max int64) (int, string, error) {
	bo := newBackoff()
	for attempt := 0; ; attempt++ {
		status, tag, err := t.get(ctx, path, etag, dst, max)
		if err == nil || !retryable(ctx, err) || attempt >= 4 {
			return status, tag, err
		}
		artifact.RemoveTree(dst)
		if !bo.wait(ctx) {
			return 0, "", err
		}
	}
}

func (t *task) get(ctx context.Context, path, etag, dst string, max int64) (int, string, error) {
	var hdr http.Header
	if etag != "" {
		hdr = http.Header{"If-None-Match": {etag}}
	}
	resp, err := t.r.c.do(ctx, http.MethodGet, path, t.job.Token, nil, hdr)
	if err != nil {
		return 0, "", fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusNotModified:
		return resp.StatusCode, resp.Header.Get("ETag"), nil
	default:
		return 0, "", fmt.Errorf("download: %w", statusError(resp))
	}
	body := &readErr{r: resp.Body}
	if err := extractArchive(body, dst, max, t.r.o.Config.archiveEntries()); err != nil {
		if body.err == nil {
			// The whole archive came, and its content was refused: the same again would be.
			return 0, "", fmt.Errorf("%w: %w", errArchiveRefused, err)
		}
		return 0, "", err
	}
	return http.StatusOK, resp.Header.Get("ETag"), nil
}

// errArchiveRefused: a downloaded archive arrived whole and its content was refused (a name
// outside it, over a limit, not a tar.gz): downloading it again would not help.
var errArchiveRefused = errors.New("archive refused")

// readErr is a reader that keeps the first error other than io.EOF its reader returned.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// upload sends the tree at dir as a tar.gz with method to path, retrying network errors and
// 5xx until ctx ends (the archive is spooled to a file first, so a retry resends it). It
// returns the ETag of the server's answer.
func (t *task) upload(ctx context.Context, method, path, dir string) (string, error) {
	f, err := os.CreateTemp(t.tmp, "upload-*.tar.gz")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := writeArchive(f, dir); err != nil {
		return "", err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", err
	}
	bo := newBackoff()
	for {
		etag, err := t.put(ctx, method, path, io.NewSectionReader(f, 0, size), size)
		if err == nil {
			return etag, nil
		}
		if !retryable(ctx, err) || !bo.wait(ctx) {
			return "", err
		}
		t.log.Debug("upload", "path", path, "err", err)
	}
}

func (t *task) put(ctx context.Context, method, path string, body io.Reader, size int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.r.c.base+path, body)
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/gzip")
	req.Header.Set("Authorization", "Bearer "+t.job.Token)
	resp, err := t.r.c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode == http.StatusForbidden {
			return "", errLeaseLost
		}
		return "", fmt.Errorf("upload: %w", statusError(resp))
	}
	return resp.Header.Get("ETag"), nil
}

// uploadArtifacts collects artifacts:paths (per artifacts:when) and sends them.
func (t *task) uploadArtifacts(ctx context.Context, ok bool, untracked []string) {
	a := t.plan.Artifacts
	if a == nil || !when(a.When, ok) || len(a.Paths) == 0 && !a.Untracked {
		return
	}
	dst := filepath.Join(t.tmp, "artifacts")
	defer artifact.RemoveTree(dst)
	rep, err := artifact.CollectMax(t.buildDir, dst, a, t.lookup, untracked, t.r.maxArtifacts, t.jobUID)
	for _, w := range rep.Warnings {
		fmt.Fprintf(t.out, "WARNING: artifacts: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(t.out, "ERROR: artifacts: %v\n", tooLarge(err, "max_artifacts_size"))
		return
	}
	if rep.Files == 0 {
		return
	}
	fmt.Fprintf(t.out, "Uploading artifacts: %d files, %d bytes\n", rep.Files, rep.Bytes)
	if _, err := t.upload(ctx, http.MethodPost, jobapi.PathArtifacts(t.job.ID)+"?kind=archive", dst); err != nil {
		fmt.Fprintf(t.out, "ERROR: uploading artifacts: %v\n", err)
		t.log.Warn("upload artifacts", "err", err)
	}
}

// tooLarge adds to an error over a size limit which setting of the runner sets it.
func tooLarge(err error, key string) error {
	if errors.Is(err, artifact.ErrTooLarge) {
		return fmt.Errorf("%w (the runner's %s)", err, key)
	}
	return err
}

// dotenv reads the job's reports:dotenv files, each beneath the build directory and within
// the runner's dotenv limits.
func (t *task) dotenv(ok bool) []plan.Var {
	a := t.plan.Artifacts
	if a == nil || !when(a.When, ok) {
		return nil
	}
	var out []plan.Var
	for _, p := range a.Reports["dotenv"] {
		vs, err := artifact.ReadDotenv(t.buildDir, p, t.jobUID, t.r.dotenv)
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: dotenv report %s: %v\n", p, err)
			continue
		}
		out = append(out, vs...)
	}
	return out
}

// junit summarises the job's reports:junit files, read beneath the build directory within
// the runner's max_junit_size; nil when it has none.
func (t *task) junit(ok bool) *jobapi.JUnit {
	a := t.plan.Artifacts
	if a == nil || !when(a.When, ok) || len(a.Reports["junit"]) == 0 {
		return nil
	}
	sum, err := artifact.JUnit(t.buildDir, artifact.JUnitFiles(t.buildDir, a.Reports["junit"]), t.jobUID, t.r.junitSize)
	if err != nil {
		fmt.Fprintf(t.out, "WARNING: %v\n", err)
	}
	out := &jobapi.JUnit{Tests: sum.Tests, Failures: sum.Failures, Errors: sum.Errors, Skipped: sum.Skipped}
	for _, f := range sum.Failed {
		out.Failed = append(out.Failed, jobapi.TestFailure(f))
	}
	return out
}

// getSources checks the job's commit out into buildDir (staged in stage) and returns the
// files git tracks there, trying again after a growing pause from 1 s (a server that restarts
// is away for a moment) up to GET_SOURCES_ATTEMPTS times in all, 3 unless set (1 to 10).
func (t *task) getSources(ctx context.Context, stage, buildDir string) ([]string, error) {
	attempts := 3
	if v, ok := t.lookup("GET_SOURCES_ATTEMPTS"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 1 && n <= 10 {
			attempts = n
		}
	}
	bo := &backoff{min: time.Second, max: 5 * time.Second}
	for i := 1; ; i++ {
		tracked, err := checkout(ctx, stage, buildDir, t.job.Git, t.job.Token, t.out)
		if err == nil || i == attempts || ctx.Err() != nil {
			return tracked, err
		}
		fmt.Fprintf(t.out, "Getting source failed: %v; trying again (attempt %d of %d)\n", err, i+1, attempts)
		if !bo.wait(ctx) {
			return nil, err
		}
	}
}

// coverage finds the job's coverage: the last match of its coverage regexp in the log,
// line by line, and the first number in that match (in its first group when it has one).
func (t *task) coverage() *float64 {
	src := strings.TrimSpace(t.plan.Coverage)
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
