package runner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

// fake is an in-memory server of the jobapi protocol with fault injection.
type fake struct {
	t           *testing.T
	regToken    string
	runnerToken string
	gitRoot     string // holds bare repositories served at /git/
	srv         *httptest.Server

	mu     sync.Mutex
	queue  []*jobapi.Job
	claims map[string]*jobapi.Job
	keys   []string // keys of the requests that got a job
	// dropRequests answers that many job requests by closing the connection, after the
	// claim was committed.
	dropRequests int
	logs         map[int64][]byte
	patches      int
	ranges       int // 416 answers
	// patchFault picks a fault for the n-th PATCH (1-based): "500", "drop", "lose" (the
	// server loses the second half of its log first), or "".
	patchFault func(n int) string
	// heartbeat answers a heartbeat of job id: an HTTP status and cancel.
	heartbeat  func(id int64, log string) (int, bool)
	heartbeats int
	lost       map[int64]bool
	finals     map[int64]jobapi.Update
	conflicts  int
	// loseOnFinal makes the server lose half its log at the first final update.
	loseOnFinal bool
	artifacts   map[int64][]byte
	// artifactGets counts the downloads of artifacts.
	artifactGets int
	// caches are by "PROJECT_ID/KEY"; cacheGets counts the 200 answers, cacheHits the 304s.
	caches               map[string][]byte
	cacheGets, cacheHits int
	// putCacheStatus, when set, answers cache uploads.
	putCacheStatus int
	gitOK          int
	gitDenied      int
	// raw replaces the JSON answer of a claimed job, by job ID.
	raw map[int64]string
	// outage, when set, answers every job call (not git) for the job with a failure it picks
	// for the n-th call of the outage: "503", "401", "drop" or "" (answered normally).
	outage      func(n int) string
	outageCalls int
}

func newFake(t *testing.T) *fake {
	f := &fake{
		t: t, regToken: "reg-secret", runnerToken: "runner-secret",
		claims: map[string]*jobapi.Job{}, logs: map[int64][]byte{}, lost: map[int64]bool{},
		finals: map[int64]jobapi.Update{}, artifacts: map[int64][]byte{}, caches: map[string][]byte{},
		gitRoot: t.TempDir(), raw: map[int64]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+jobapi.PathRegister, f.register)
	mux.HandleFunc("POST "+jobapi.PathRequest, f.request)
	mux.HandleFunc("PATCH /api/v1/jobs/{id}/log", f.withJob(f.patchLog))
	mux.HandleFunc("PUT /api/v1/jobs/{id}", f.withJob(f.update))
	mux.HandleFunc("POST /api/v1/jobs/{id}/artifacts", f.withJob(f.postArtifacts))
	mux.HandleFunc("GET /api/v1/jobs/{id}/artifacts", f.getArtifacts)
	mux.HandleFunc("GET /api/v1/projects/{id}/cache/{key}", f.getCache)
	mux.HandleFunc("PUT /api/v1/projects/{id}/cache/{key}", f.putCache)
	mux.Handle("/git/", f.gitHandler())
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) register(w http.ResponseWriter, r *http.Request) {
	var req jobapi.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token != f.regToken {
		http.Error(w, "bad registration token", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(jobapi.RegisterResponse{ID: 7, Token: f.runnerToken})
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (f *fake) request(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.runnerToken {
		http.Error(w, "bad runner token", http.StatusUnauthorized)
		return
	}
	var req jobapi.JobRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Key == "" || req.Version != jobapi.Version {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	wait, _ := jobapi.Duration(req.WaitSeconds)
	deadline := time.Now().Add(min(wait, 100*time.Millisecond))
	for {
		if r.Context().Err() != nil {
			return // as a real server: no claim for a request whose runner left
		}
		f.mu.Lock()
		j, ok := f.claims[req.Key]
		if !ok && len(f.queue) > 0 {
			j, ok = f.queue[0], true
			f.queue = f.queue[1:]
			f.claims[req.Key] = j
		}
		drop := false
		if ok {
			f.keys = append(f.keys, req.Key)
			if f.dropRequests > 0 {
				f.dropRequests--
				drop = true
			}
		}
		f.mu.Unlock()
		switch {
		case drop:
			hangUp(w)
			return
		case ok:
			w.WriteHeader(http.StatusCreated)
			if raw, isRaw := f.raw[j.ID]; isRaw {
				io.WriteString(w, raw)
				return
			}
			json.NewEncoder(w).Encode(j)
			return
		case time.Now().After(deadline):
			w.WriteHeader(http.StatusNoContent)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withJob checks the job token and the lease; f.mu is held around h.
func (f *fake) withJob(h func(w http.ResponseWriter, r *http.Request, j *jobapi.Job)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		f.mu.Lock()
		defer f.mu.Unlock()
		var job *jobapi.Job
		for _, j := range f.claims {
			if j.ID == id {
				job = j
			}
		}
		if job == nil || r.Header.Get("Authorization") != "Bearer "+job.Token || f.lost[id] {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if f.fault(w) {
			return
		}
		h(w, r, job)
	}
}

// fault answers a call with the outage's failure, if any; f.mu is held.
func (f *fake) fault(w http.ResponseWriter) bool {
	if f.outage == nil {
		return false
	}
	f.outageCalls++
	switch f.outage(f.outageCalls) {
	case "503":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
	case "401":
		http.Error(w, "invalid token", http.StatusUnauthorized)
	case "drop":
		hangUp(w)
	default:
		return false
	}
	return true
}

func (f *fake) patchLog(w http.ResponseWriter, r *http.Request, j *jobapi.Job) {
	f.patches++
	fault := ""
	if f.patchFault != nil {
		fault = f.patchFault(f.patches)
	}
	switch fault {
	case "500":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "drop":
		hangUp(w)
		return
	case "lose":
		f.logs[j.ID] = f.logs[j.ID][:len(f.logs[j.ID])/2]
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	start, n, err := jobapi.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil || n != int64(len(body)) {
		http.Error(w, "bad content-range", http.StatusBadRequest)
		return
	}
	stored := f.logs[j.ID]
	w.Header().Set(jobapi.HeaderLogSize, strconv.Itoa(len(stored)))
	if start > int64(len(stored)) {
		f.ranges++
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	if end := start + n; end > int64(len(stored)) {
		stored = append(stored, body[int64(len(stored))-start:]...)
		f.logs[j.ID] = stored
	}
	w.Header().Set(jobapi.HeaderLogSize, strconv.Itoa(len(stored)))
	w.WriteHeader(http.StatusAccepted)
}

func (f *fake) update(w http.ResponseWriter, r *http.Request, j *jobapi.Job) {
	var u jobapi.Update
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
		http.Error(w, "bad update", http.StatusBadRequest)
		return
	}
	if u.State == status.Running {
		f.heartbeats++
		status, cancel := http.StatusOK, false
		if f.heartbeat != nil {
			status, cancel = f.heartbeat(j.ID, string(f.logs[j.ID]))
		}
		if status == http.StatusForbidden {
			f.lost[j.ID] = true
		}
		if status != http.StatusOK {
			http.Error(w, "heartbeat refused", status)
			return
		}
		json.NewEncoder(w).Encode(jobapi.UpdateResponse{Cancel: cancel})
		return
	}
	if f.loseOnFinal {
		f.loseOnFinal = false
		f.logs[j.ID] = f.logs[j.ID][:len(f.logs[j.ID])/2]
	}
	if have := int64(len(f.logs[j.ID])); u.LogSize > have {
		f.conflicts++
		w.Header().Set(jobapi.HeaderLogSize, strconv.FormatInt(have, 10))
		http.Error(w, "log incomplete", http.StatusConflict)
		return
	}
	if _, dup := f.finals[j.ID]; !dup {
		f.finals[j.ID] = u
	}
	json.NewEncoder(w).Encode(jobapi.UpdateResponse{})
}

func (f *fake) postArtifacts(w http.ResponseWriter, r *http.Request, j *jobapi.Job) {
	if r.URL.Query().Get("kind") != "archive" {
		http.Error(w, "kind", http.StatusBadRequest)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.artifacts[j.ID] = b
	w.WriteHeader(http.StatusCreated)
}

func (f *fake) getArtifacts(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.mu.Lock()
	b, ok := f.artifacts[id]
	f.artifactGets++
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func (f *fake) getCache(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault(w) {
		return
	}
	b, ok := f.caches[r.PathValue("id")+"/"+r.PathValue("key")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	tag := etagOf(b)
	w.Header().Set("ETag", tag)
	if r.Header.Get("If-None-Match") == tag {
		f.cacheHits++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f.cacheGets++
	w.Write(b)
}

func (f *fake) putCache(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault(w) {
		return
	}
	if f.putCacheStatus != 0 {
		http.Error(w, "refused", f.putCacheStatus)
		return
	}
	f.caches[r.PathValue("id")+"/"+r.PathValue("key")] = b
	w.Header().Set("ETag", etagOf(b))
	w.WriteHeader(http.StatusCreated)
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// gitHandler serves the bare repositories under gitRoot with git http-backend, for the
// basic-auth user jobapi.GitUser with the token of a claimed job.
func (f *fake) gitHandler() http.Handler {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		f.t.Skip("git not installed")
	}
	backend := &cgi.Handler{
		Path: gitPath, Args: []string{"http-backend"}, Root: "/git",
		Env: []string{"GIT_PROJECT_ROOT=" + f.gitRoot, "GIT_HTTP_EXPORT_ALL=1"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		f.mu.Lock()
		valid := false
		for _, j := range f.claims {
			valid = valid || ok && user == jobapi.GitUser && pass == j.Token
		}
		if valid {
			f.gitOK++
		} else {
			f.gitDenied++
		}
		f.mu.Unlock()
		if !valid {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

// repo makes a bare repository name.git served by f with one commit of files; it returns
// the commit's SHA.
func (f *fake) repo(name string, files map[string]string) string {
	t := f.t
	work := t.TempDir()
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(work, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f.repoFrom(name, work)
}

// repoFrom makes a bare repository name.git served by f with one commit of the work tree
// work; it returns the commit's SHA.
func (f *fake) repoFrom(name, work string) string {
	t := f.t
	gitIn := func(dir string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x",
			"GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitIn(work, "init", "-q", "-b", "main")
	gitIn(work, "add", "-A")
	gitIn(work, "commit", "-q", "-m", "init")
	gitIn(f.gitRoot, "clone", "-q", "--bare", work, name+".git")
	return gitIn(work, "rev-parse", "HEAD")
}

// job queues a job of project "team/app" in repository app.
func (f *fake) job(id int64, sha string, p *plan.Job) *jobapi.Job {
	j := &jobapi.Job{
		Version: jobapi.Version, ID: id, Token: fmt.Sprintf("job-token-%d", id), Spec: jobapi.NewSpec(p),
		Project:          jobapi.Project{ID: 3, Path: "team/app"},
		Git:              jobapi.Git{URL: f.srv.URL + "/git/app.git", Ref: "main", SHA: sha, Depth: 1},
		HeartbeatSeconds: 0.1,
	}
	f.mu.Lock()
	f.queue = append(f.queue, j)
	f.mu.Unlock()
	return j
}

func (f *fake) locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// start runs a runner against f until the test ends. stop closes Options.Stop (graceful)
// and abort cancels Run's ctx; each then waits for Run to return.
func (f *fake) start(t *testing.T) (stop, abort func()) {
	t.Helper()
	return f.startWith(t, nil)
}

// startWith is start with Options (shell executors, a config of fresh directories) changed
// by adjust.
func (f *fake) startWith(t *testing.T, adjust func(*Options)) (stop, abort func()) {
	t.Helper()
	sh, err := shell.New(shell.Options{})
	if err != nil {
		t.Skip(err)
	}
	c := &Config{URL: f.srv.URL, ID: 7, Token: f.runnerToken, Executor: "shell",
		BuildsDir: t.TempDir(), CacheDir: t.TempDir()}
	stopCh := make(chan struct{})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{
		Config: c, Stop: stopCh, Wait: time.Second,
		Executors: func(string) (executor.Executor, error) { return sh, nil },
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if adjust != nil {
		adjust(&o)
	}
	go func() { done <- Run(ctx, o) }()
	var once sync.Once
	end := func(how func()) {
		once.Do(func() {
			how()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return")
			}
			cancel()
		})
	}
	stop = func() { end(func() { close(stopCh) }) }
	abort = func() { end(cancel) }
	t.Cleanup(stop)
	return stop, abort
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("secret")) || bytes.Contains(p, []byte("job-token")) {
		w.t.Errorf("a token is in the runner's log: %s", p)
	}
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// targz is an archive of regular files (mode 0644), by name.
func targz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var entries []tarEntry
	for name, body := range files {
		entries = append(entries, tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body})
	}
	return makeArchive(t, entries...)
}

func untargz(t *testing.T, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = string(body)
	}
}

func shellJob(name string, script ...string) *plan.Job {
	return &plan.Job{
		Name: name, Stage: "test", When: "on_success", Script: script,
		Variables: []plan.Var{{Key: "CI_JOB_ID", Value: "1"}, {Key: "CI_JOB_NAME", Value: name}},
	}
}

func TestJobRunsAndReports(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "hello from git\n"})
	f.artifacts[99] = targz(t, map[string]string{"prev/out.txt": "from the previous job\n"})
	p := shellJob("build",
		`cat README prev/out.txt; seq 1 60000`,
		`mkdir -p dist && echo built > dist/app.txt && echo KEY=value > build.env && echo "Coverage: 87.5%"`,
	)
	p.Artifacts = &pipeline.Artifacts{Paths: []string{"dist/"}, Reports: map[string][]string{"dotenv": {"build.env"}}}
	p.Coverage = `/Coverage: \d+\.\d+%/`
	j := f.job(1, sha, p)
	j.Dependencies = []jobapi.Dependency{{JobID: 99, Name: "prev", HasArtifacts: true}}
	f.dropRequests = 1
	f.loseOnFinal = true
	f.patchFault = func(n int) string {
		return map[int]string{1: "500", 2: "drop", 4: "lose"}[n]
	}
	wait, _ := f.start(t)

	var final jobapi.Update
	waitFor(t, 30*time.Second, "the final update", func() bool {
		var ok bool
		f.locked(func() { final, ok = f.finals[1] })
		return ok
	})
	wait()

	f.mu.Lock()
	defer f.mu.Unlock()
	log := string(f.logs[1])
	if final.State != status.Success {
		t.Fatalf("state %q (%s), log:\n%s", final.State, final.FailureReason, log)
	}
	if strings.Contains(log, "instead") {
		t.Errorf("the fetch by SHA failed:\n%s", log[:min(len(log), 2000)])
	}
	if final.LogSize != int64(len(log)) {
		t.Errorf("final log_size %d, server has %d bytes", final.LogSize, len(log))
	}
	var seq strings.Builder
	for i := 1; i <= 60000; i++ {
		fmt.Fprintf(&seq, "%d\n", i)
	}
	for _, want := range []string{"hello from git\nfrom the previous job\n1\n", seq.String(), "\nCoverage: 87.5%\n"} {
		if c := strings.Count(log, want); c != 1 {
			t.Errorf("log has %q %d times, want once", want[:min(len(want), 40)], c)
		}
	}
	if strings.Contains(log, j.Token) {
		t.Error("the job token is in the log")
	}
	if i, k := strings.Index(log, "Job succeeded"), strings.Index(log, "Uploading artifacts"); i < 0 || k < i {
		t.Errorf("want the job's end, then the artifacts, in the log:\n%s", log[max(0, len(log)-600):])
	}
	if f.patches < 5 || f.ranges == 0 {
		t.Errorf("%d PATCHes, %d answered 416: the faults were not all exercised", f.patches, f.ranges)
	}
	if f.conflicts != 1 {
		t.Errorf("%d final updates refused for missing log bytes, want 1", f.conflicts)
	}
	if len(f.keys) != 2 || f.keys[0] != f.keys[1] {
		t.Errorf("request keys %q: want the same key twice after the lost answer", f.keys)
	}
	if f.gitOK == 0 || f.gitDenied != 0 {
		t.Errorf("git requests: %d authorized, %d denied", f.gitOK, f.gitDenied)
	}
	files := untargz(t, f.artifacts[1])
	if files["dist/app.txt"] != "built\n" {
		t.Errorf("artifacts %v: want dist/app.txt", slices.Sorted(mapsKeys(files)))
	}
	if want := []plan.Var{{Key: "KEY", Value: "value"}}; !reflect.DeepEqual(dotenvKV(final.Dotenv), want) {
		t.Errorf("dotenv %+v, want %+v", final.Dotenv, want)
	}
	if final.Coverage == nil || *final.Coverage != 87.5 {
		t.Errorf("coverage %v, want 87.5", final.Coverage)
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func dotenvKV(vs []jobapi.Var) []plan.Var {
	var out []plan.Var
	for _, v := range vs {
		out = append(out, plan.Var{Key: v.Key, Value: v.Value})
	}
	return out
}

func TestCancelFromHeartbeat(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.job(1, sha, shellJob("slow", "sleep 30"))
	var canceledAt time.Time
	f.heartbeat = func(id int64, log string) (int, bool) {
		if !strings.Contains(log, "$ sleep 30") {
			return http.StatusOK, false
		}
		if canceledAt.IsZero() {
			canceledAt = time.Now()
		}
		return http.StatusOK, true
	}
	f.start(t)
	var final jobapi.Update
	waitFor(t, 30*time.Second, "the final update", func() bool {
		var ok bool
		f.locked(func() { final, ok = f.finals[1] })
		return ok
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if final.State != status.Canceled {
		t.Fatalf("state %q, want canceled; log:\n%s", final.State, f.logs[1])
	}
	d := time.Since(canceledAt)
	t.Logf("stopped %s after the cancel", d)
	if d > 2*time.Second {
		t.Errorf("the job took %s to stop after the cancel", d)
	}
	if final.LogSize != int64(len(f.logs[1])) {
		t.Errorf("final log_size %d, server has %d", final.LogSize, len(f.logs[1]))
	}
}

func TestLeaseLostDropsJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.job(1, sha, shellJob("slow", "sleep 30"))
	refused := false
	f.heartbeat = func(id int64, log string) (int, bool) {
		if strings.Contains(log, "$ sleep 30") {
			refused = true
			return http.StatusForbidden, false
		}
		return http.StatusOK, false
	}
	wait, _ := f.start(t)
	waitFor(t, 30*time.Second, "the lease to be refused", func() bool {
		var ok bool
		f.locked(func() { ok = refused })
		return ok
	})
	start := time.Now()
	wait() // returns only once the job stopped
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the dropped job took %s to stop", d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.finals[1]; ok {
		t.Errorf("a dropped job was reported: %+v", u)
	}
}

func TestRegisterAndConfig(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ctx := context.Background()
	if _, err := Register(ctx, RegisterOptions{URL: f.srv.URL, Token: "wrong"}); err == nil {
		t.Error("Register with a wrong token succeeded")
	}
	c, err := Register(ctx, RegisterOptions{URL: f.srv.URL + "/", Token: f.regToken, Name: "r1",
		Tags: []string{"a", "b"}, RunUntagged: true, Executor: "docker"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{URL: f.srv.URL, ID: 7, Token: f.runnerToken, Name: "r1", Tags: []string{"a", "b"},
		RunUntagged: true, Executor: "docker", Concurrency: 1}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Register = %+v, want %+v", c, want)
	}
	c.Docker = DockerConfig{Image: "debian:12", Privileged: true, Volumes: []string{"/a:/b:ro"}, PullPolicy: "never"}
	c.MaxArtifactsSize, c.MaxCacheSize, c.MaxDotenvSize, c.MaxDotenvVariables = 10, 20, 30, 40
	path := filepath.Join(t.TempDir(), "sub", "runner.yml")
	if err := SaveConfig(path, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("LoadConfig = %+v, want %+v", got, c)
	}
}

// TestLoadConfigErrors: a value that cannot be used is an error naming file:line:col.
func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{name: "executor", yaml: "url: http://x\ntoken: t\nexecutor: dockr\n", want: ":3:11: executor: want shell, docker or auto"},
		{name: "negative limit", yaml: "url: http://x\ntoken: t\nmax_cache_size: -1\n", want: ":3:17: max_cache_size: must not be negative"},
		{name: "huge limit", yaml: "url: http://x\ntoken: t\n\nmax_artifacts_size: 9999999999\n", want: ":4:21: max_artifacts_size: 9999999999 MB is more than 1 TB"},
		{name: "not a number", yaml: "url: http://x\ntoken: t\nmax_dotenv_size: big\n", want: "line 3"},
		{name: "negative output limit", yaml: "url: http://x\ntoken: t\noutput_limit: -4\n", want: ":3:15: output_limit: must not be negative"},
		{name: "huge output limit", yaml: "url: http://x\ntoken: t\noutput_limit: 9999999999999\n", want: ":3:15: output_limit: 9999999999999 KiB is more than 1 TiB"},
		{name: "negative entries", yaml: "url: http://x\ntoken: t\nmax_archive_entries: -1\n", want: ":3:22: max_archive_entries: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "runner.yml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadConfig = %v, want %q", err, path+tc.want)
			}
		})
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		entries []tar.Header
	}{
		{name: "dotdot", entries: []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg}}},
		{name: "through link", entries: []tar.Header{
			{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
			{Name: "l/evil", Typeflag: tar.TypeReg},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			gz := gzip.NewWriter(&b)
			tw := tar.NewWriter(gz)
			for _, h := range tc.entries {
				h.Mode = 0o644
				tw.WriteHeader(&h)
			}
			tw.Close()
			gz.Close()
			if err := extractArchive(&b, t.TempDir(), 1<<20, 100); err == nil {
				t.Error("extracted an entry outside the directory")
			}
		})
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f.txt"), []byte("data"), 0o640)
	os.Symlink("b/f.txt", filepath.Join(src, "a", "link"))
	var buf bytes.Buffer
	if err := writeArchive(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := extractArchive(&buf, dst, 1<<20, 100); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "a", "link")); err != nil || string(b) != "data" {
		t.Errorf("through the link: %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dst, "a", "b", "f.txt")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode: %v, %v", st, err)
	}
}

func TestCacheThroughServer(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	cache := []pipeline.Cache{{Key: "deps-$CI_JOB_NAME", Paths: []string{"vendor/"}}}
	p1 := shellJob("deps", "mkdir -p vendor && echo cached-bytes > vendor/lib.txt")
	p1.Cache = cache
	f.job(1, sha, p1)
	final := func(id int64) jobapi.Update {
		var u jobapi.Update
		waitFor(t, 30*time.Second, "the final update", func() bool {
			var ok bool
			f.locked(func() { u, ok = f.finals[id] })
			return ok
		})
		return u
	}
	stop, _ := f.start(t)
	if u := final(1); u.State != status.Success {
		t.Fatalf("job 1: %+v\n%s", u, f.logs[1])
	}
	stop()
	var caches map[string][]byte
	f.locked(func() {
		caches = maps.Clone(f.caches)
		if _, ok := f.caches["3/deps-deps"]; !ok {
			t.Errorf("caches on the server: %v", slices.Sorted(maps.Keys(f.caches)))
		}
	})
	// A runner with an empty local store gets the cache from the server. (A server of its
	// own: a long poll the stopped runner left may still be answered by the first.)
	f2 := newFake(t)
	f2.caches = caches
	sha2 := f2.repo("app", map[string]string{"README": "x\n"})
	p2 := shellJob("deps", "cat vendor/lib.txt")
	p2.Cache = cache
	f2.job(2, sha2, p2)
	f2.start(t)
	var u jobapi.Update
	waitFor(t, 30*time.Second, "the final update", func() bool {
		var ok bool
		f2.locked(func() { u, ok = f2.finals[2] })
		return ok
	})
	f2.mu.Lock()
	defer f2.mu.Unlock()
	if log := string(f2.logs[2]); u.State != status.Success || !strings.Contains(log, "\ncached-bytes\n") || !strings.Contains(log, "Downloaded cache deps-deps") {
		t.Errorf("job 2: %+v\n%s", u, log)
	}
}

func TestAbortCancelsRunningJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.job(1, sha, shellJob("slow", "sleep 30"))
	_, abort := f.start(t)
	waitFor(t, 30*time.Second, "the job to start", func() bool {
		var ok bool
		f.locked(func() { ok = strings.Contains(string(f.logs[1]), "$ sleep 30") })
		return ok
	})
	start := time.Now()
	abort()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s to return after the abort", d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.finals[1]; u.State != status.Canceled {
		t.Errorf("final %+v, want canceled\n%s", u, f.logs[1])
	}
}

// TestGetSourcesTriesAgain fetches from a repository that appears only after the first
// attempt (a server restarting): GET_SOURCES_ATTEMPTS says how many tries there are.
func TestGetSourcesTriesAgain(t *testing.T) {
	for _, tt := range []struct {
		name, attempts string
		ok             bool
	}{
		{name: "default tries again", ok: true},
		{name: "one attempt", attempts: "1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			sha := f.repo("early", map[string]string{"a.txt": "a"})
			f.mu.Lock()
			f.claims["key"] = &jobapi.Job{Token: "t"} // the git handler takes claimed jobs' tokens
			f.mu.Unlock()
			var out bytes.Buffer
			lookup := lookupIn([]plan.Var{{Key: "GET_SOURCES_ATTEMPTS", Value: tt.attempts}})
			if tt.attempts == "" {
				lookup = lookupIn(nil)
			}
			tk := &task{out: &out, lookup: lookup, job: &jobapi.Job{Token: "t",
				Git: jobapi.Git{URL: f.srv.URL + "/git/late.git", SHA: sha, Depth: 1}}}
			go func() {
				time.Sleep(300 * time.Millisecond)
				_ = os.Rename(filepath.Join(f.gitRoot, "early.git"), filepath.Join(f.gitRoot, "late.git"))
			}()
			dir := t.TempDir()
			_, err := tk.getSources(context.Background(), dir, filepath.Join(dir, "build"))
			if (err == nil) != tt.ok {
				t.Fatalf("getSources = %v, want ok %v; log:\n%s", err, tt.ok, out.String())
			}
			if tt.ok && !strings.Contains(out.String(), "attempt 2 of 3") {
				t.Errorf("log does not say it tried again:\n%s", out.String())
			}
		})
	}
}
