package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// cacheFiles lists a project's cache archives on disk (temporary uploads included) and sums
// their sizes.
func (e *env) cacheFiles(projectID int64) (names []string, size int64) {
	e.t.Helper()
	dir := filepath.Join(e.srv.o.Data, "cache", itoa(projectID))
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names, size = append(names, rel), size+info.Size()
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return names, size
}

// TestAttackCacheKeysFillDisk: a job token uploads cache after cache under new keys (each up
// to the 1 GiB an archive may have) to fill the server's disk. The project's caches stay
// within its quota: its least recently used keys are evicted, and an archive larger than the
// quota alone is refused.
func TestAttackCacheKeysFillDisk(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	const quota = 64 << 10
	e := newEnv(t, "build:\n  script: [make]\n", func(o *Options) { o.Now, o.Limits.CacheQuota = clock.Now, quota })
	pid := e.project("app", "")
	e.trigger(pid, "main", nil)
	j := e.claim(e.mustRegister("r"), "build")
	gz := http.Header{"Content-Type": {"application/gzip"}}
	// The clock moves a little at each call, so that last uses differ (and no lease runs out).
	put := func(key string, size int) *reply {
		clock.advance(time.Millisecond)
		return e.do(http.MethodPut, jobapi.PathCache(pid, key), j.Token, strings.Repeat("x", size), gz)
	}
	get := func(key string) int {
		clock.advance(time.Millisecond)
		return e.do(http.MethodGet, jobapi.PathCache(pid, key), j.Token, nil, nil).status
	}
	for _, k := range []string{"one", "two"} {
		if r := put(k, 20<<10); r.status != http.StatusCreated {
			t.Fatalf("PUT %s: %s", k, r)
		}
	}
	if st := get("one"); st != http.StatusOK { // "two" is now the least recently used
		t.Fatalf("GET one: %d", st)
	}
	if r := put("three", 20<<10); r.status != http.StatusCreated {
		t.Fatalf("PUT three: %s", r)
	}
	for key, want := range map[string]int{"one": http.StatusOK, "two": http.StatusNotFound, "three": http.StatusOK} {
		if st := get(key); st != want {
			t.Errorf("GET %s after the quota was reached: %d, want %d (the least recently used key goes)", key, st, want)
		}
	}

	// The flood: hundreds of keys, small or large.
	for i := range 300 {
		size := 1
		if i%10 == 0 {
			size = 30 << 10
		}
		if r := put(fmt.Sprint("flood-", i), size); r.status != http.StatusCreated {
			t.Fatalf("PUT flood-%d: %s", i, r)
		}
	}
	names, size := e.cacheFiles(pid)
	if charged := size + int64(len(names))*CacheKeyOverhead; charged > quota {
		t.Errorf("after the flood the project keeps %d cache files, %d bytes (%d with the overhead of keys), over its quota of %d", len(names), size, charged, quota)
	}
	if st := get("flood-299"); st != http.StatusOK {
		t.Errorf("GET of the newest key: %d", st)
	}

	r := put("huge", quota)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), "quota") {
		t.Errorf("PUT of an archive larger than the quota: %s, want 413 naming the quota", r)
	}
	if after, _ := e.cacheFiles(pid); len(after) != len(names) {
		t.Errorf("a refused upload changed the cache files: %v, then %v", names, after)
	}
}

// TestAttackCachesNeverExpire: caches were never deleted, so every key a job ever wrote
// stayed on the server's disk. Caches unused for Limits.CacheAge go, archives found on disk
// from before their use was recorded included; one read lately stays.
func TestAttackCachesNeverExpire(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	e := newEnv(t, "build:\n  script: [make]\n", func(o *Options) { o.Now = clock.Now })
	pid := e.project("app", "")
	// Archives of a server from before: no record, one old, one recent.
	dir := filepath.Join(e.srv.o.Data, "cache", itoa(pid))
	if err := os.MkdirAll(filepath.Join(dir, "protected"), 0o750); err != nil {
		t.Fatal(err)
	}
	for name, age := range map[string]time.Duration{"legacy-old.tar.gz": 20 * 24 * time.Hour, "protected/legacy-recent.tar.gz": 24 * time.Hour} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("old archive"), 0o640); err != nil {
			t.Fatal(err)
		}
		at := clock.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	if err := e.srv.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if names, _ := e.cacheFiles(pid); strings.Join(names, " ") != "protected/legacy-recent.tar.gz" {
		t.Errorf("cache files after adopting those on disk: %v, want the recent one only", names)
	}

	// A job's token, of a job claimed after the clock last moved (an older one's lease ran
	// out with the jump).
	runner := e.mustRegister("r")
	token := func() string {
		e.trigger(pid, "main", nil)
		return e.claim(runner, "build").Token
	}
	tok := token()
	gz := http.Header{"Content-Type": {"application/gzip"}}
	for _, k := range []string{"stale", "used"} {
		if r := e.do(http.MethodPut, jobapi.PathCache(pid, k), tok, "archive "+k, gz); r.status != http.StatusCreated {
			t.Fatalf("PUT %s: %s", k, r)
		}
	}
	clock.advance(10 * 24 * time.Hour)
	if r := e.do(http.MethodGet, jobapi.PathCache(pid, "used"), token(), nil, nil); r.status != http.StatusOK {
		t.Fatalf("GET used: %s", r)
	}
	clock.advance(5 * 24 * time.Hour) // "stale": 15 days unused; "used": 5
	if err := e.srv.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	tok = token()
	if r := e.do(http.MethodGet, jobapi.PathCache(pid, "stale"), tok, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("GET of a cache unused for 15 days: %s, want 404", r)
	}
	if r := e.do(http.MethodGet, jobapi.PathCache(pid, "used"), tok, nil, nil); r.status != http.StatusOK || string(r.body) != "archive used" {
		t.Errorf("GET of a cache read 5 days ago: %s", r)
	}
	if names, _ := e.cacheFiles(pid); strings.Join(names, " ") != "protected/used.tar.gz" { // main's pipeline is protected
		t.Errorf("cache files: %v, want protected/used.tar.gz alone", names)
	}
}

// TestAttackPipelineFanOut: a job's token triggers pipelines whose jobs trigger more, each
// multiplying itself. A pipeline made by a job token records its parent and is one deeper;
// the token of a job at the depth limit (GitLab's two levels of child pipelines) makes none.
func TestAttackPipelineFanOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [make]\n")
	pid := e.project("app", "")
	runner := e.mustRegister("r")
	type made struct {
		ID       int64  `json:"id"`
		Source   string `json:"source"`
		ParentID int64  `json:"parent_pipeline_id"`
		Depth    int    `json:"depth"`
	}
	parent := made{ID: e.trigger(pid, "main", nil).ID}
	path := fmt.Sprintf("/api/v1/projects/%d/pipelines", pid)
	for depth := 1; depth <= 3; depth++ {
		j := e.claim(runner, "build")
		if got := vars(j)["CI_PIPELINE_ID"]; got != itoa(parent.ID) {
			t.Fatalf("claimed a job of pipeline %s, want %d", got, parent.ID)
		}
		r := e.do("POST", path, j.Token, map[string]any{"ref": "main"}, nil)
		if depth > DefaultLimits().PipelineDepth {
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "depth") {
				t.Fatalf("a job of a pipeline at depth %d triggered: %s, want 400 naming the depth limit", parent.Depth, r)
			}
			break
		}
		var p made
		if r.status != http.StatusCreated || json.Unmarshal(r.body, &p) != nil {
			t.Fatalf("trigger at depth %d: %s", depth, r)
		}
		if p.ParentID != parent.ID || p.Depth != depth || p.Source != "pipeline" {
			t.Fatalf("pipeline made by a job of pipeline %d: %+v, want parent %d at depth %d", parent.ID, p, parent.ID, depth)
		}
		parent = p
	}
	// An API token is no job: its pipelines start a chain of their own.
	var p made
	e.api("POST", path, map[string]any{"ref": "main"}, http.StatusCreated, &p)
	if p.ParentID != 0 || p.Depth != 0 {
		t.Errorf("pipeline of an API token: %+v, want no parent and depth 0", p)
	}
}

// TestAttackPipelineTriggerFlood: a job (or a script with an API token) calls the trigger
// API in a loop. A project's triggers make at most Limits.PipelineRate pipelines a minute,
// API and job tokens together; past it the answer is 429 with Retry-After, and a minute's
// share comes back over time. Webhook pushes are not counted: forges send them.
func TestAttackPipelineTriggerFlood(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	e := newEnv(t, "build:\n  script: [make]\n", func(o *Options) { o.Now, o.Limits.PipelineRate = clock.Now, 3 })
	pid := e.project("app", hookSecret)
	other := e.project("other", "")
	path := fmt.Sprintf("/api/v1/projects/%d/pipelines", pid)
	e.trigger(pid, "main", nil)
	j := e.claim(e.mustRegister("r"), "build")
	if r := e.do("POST", path, j.Token, map[string]any{"ref": "main"}, nil); r.status != http.StatusCreated {
		t.Fatalf("trigger with the job token: %s", r)
	}
	e.trigger(pid, "main", nil)
	for _, tok := range []string{adminToken, j.Token} {
		r := e.do("POST", path, tok, map[string]any{"ref": "main"}, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "20" || !strings.Contains(string(r.body), "--max-pipeline-rate") {
			t.Fatalf("fourth trigger in a minute: %s, Retry-After %q; want 429, 20 s (3 a minute), naming the limit", r, r.header.Get("Retry-After"))
		}
	}
	e.trigger(other, "main", nil) // another project has a bucket of its own
	f := forges[0]
	body := f.body(push{ref: "refs/heads/main", before: zeroSHA, after: e.head(), message: "push"})
	var a hookAnswer
	if r := e.deliver(f, pid, pushEvent(f.forge), "flood-push", body, hookSecret); r.status != http.StatusCreated ||
		json.Unmarshal(r.body, &a) != nil || a.PipelineID == 0 {
		t.Fatalf("a webhook push past the trigger rate: %s, want a pipeline", r)
	}
	clock.advance(20 * time.Second)
	e.trigger(pid, "main", nil)
	if r := e.do("POST", path, adminToken, map[string]any{"ref": "main"}, nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("a second trigger 20 s later: %s, want 429", r)
	}
}

// TestAttackCloneURLOnServerHost: a user token sets a project's clone_url to a path on the
// server (another project's mirror under DATA/git, any repository of the host) or a file://
// URL, and its jobs get that repository. Only the admin token may; user tokens give remote
// URLs, and keep what the admin set when they change other fields.
func TestAttackCloneURLOnServerHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [make]\n")
	victim := e.project("victim", "")
	e.trigger(victim, "main", nil) // its mirror now exists
	var tok struct {
		Token string `json:"token"`
	}
	e.api("POST", "/api/v1/tokens", map[string]any{"name": "dev", "kind": "user"}, http.StatusCreated, &tok)
	mirror := filepath.Join(e.srv.o.Data, "git")
	create := func(name, url string) *reply {
		return e.do("POST", "/api/v1/projects", tok.Token, map[string]any{"name": name, "clone_url": url}, nil)
	}
	for i, url := range []string{mirror + "/" + itoa(victim) + ".git", "file://" + e.repo, e.repo, "../victim",
		"FILE:///etc", "ext::sh -c touch% /tmp/pwned", "host::address", "host://path", "ssh://-oProxyCommand=x/repo",
		"git://example.com/a.git", "fd::17"} {
		if r := create(fmt.Sprint("local-", i), url); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "admin") {
			t.Errorf("user token, clone_url %q: %s, want 400", url, r)
		}
	}
	for i, url := range []string{"https://example.com/acme/app.git", "http://git.local:3000/app", "ssh://git@example.com:2222/acme/app.git",
		"git@example.com:acme/app.git", "example.com:acme/app.git"} {
		if r := create(fmt.Sprint("remote-", i), url); r.status != http.StatusCreated {
			t.Errorf("user token, clone_url %q: %s, want 201", url, r)
		}
	}
	patch := func(body map[string]any) *reply {
		return e.do("PATCH", fmt.Sprintf("/api/v1/projects/%d", victim), tok.Token, body, nil)
	}
	if r := patch(map[string]any{"clone_url": "file:///srv/git/secret.git"}); r.status != http.StatusBadRequest {
		t.Errorf("user token, PATCH clone_url to a file:// URL: %s, want 400", r)
	}
	if r := patch(map[string]any{"tags": []string{"linux"}, "clone_url": e.repo}); r.status != http.StatusOK {
		t.Errorf("user token, PATCH keeping the admin's local clone_url: %s, want 200", r)
	}
	if r := e.do("PATCH", fmt.Sprintf("/api/v1/projects/%d", victim), adminToken, map[string]any{"clone_url": "file://" + e.repo}, nil); r.status != http.StatusOK {
		t.Errorf("admin token, PATCH to a file:// URL: %s, want 200", r)
	}
}

// TestAttackMetricsMapProjectIDsToPaths: /metrics was public and labelled refused webhook
// deliveries with the project's path, so posting unsigned deliveries to /hooks/github/ID and
// reading the metrics mapped ids to paths. Metrics answer the addresses of
// Options.MetricsAllow only (loopback by default, as GitLab's monitoring allowlist), and label
// deliveries with the id the hook's URL holds.
func TestAttackMetricsMapProjectIDsToPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [make]\n")
	pid := e.project("secret-name", hookSecret)
	if r := e.deliver(forges[0], pid, "push", "unsigned", []byte(`{}`), "wrong secret"); r.status != http.StatusUnauthorized {
		t.Fatalf("unsigned delivery: %s", r)
	}
	scrape := func(srv *Server, from string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = from
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		return w
	}
	for _, from := range []string{"203.0.113.7:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		if w := scrape(e.srv, from); w.Code != http.StatusForbidden {
			t.Errorf("metrics to %s: %d %s, want 403", from, w.Code, w.Body)
		}
	}
	for _, from := range []string{"127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:1"} {
		w := scrape(e.srv, from)
		if w.Code != http.StatusOK {
			t.Fatalf("metrics to %s: %d %s", from, w.Code, w.Body)
		}
		body := w.Body.String()
		if want := fmt.Sprintf(`slipway_webhook_rejected_total{project_id="%d",reason="signature"} 1`, pid); !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
		if strings.Contains(body, "secret-name") {
			t.Errorf("metrics name the project whose hook was tried")
		}
	}
	e.srv.o.MetricsAllow = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	if w := scrape(e.srv, "203.0.113.7:40000"); w.Code != http.StatusOK {
		t.Errorf("metrics to an allowed address: %d", w.Code)
	}
	if w := scrape(e.srv, "127.0.0.1:1"); w.Code != http.StatusForbidden {
		t.Errorf("metrics to loopback when the allowlist does not name it: %d", w.Code)
	}
}
