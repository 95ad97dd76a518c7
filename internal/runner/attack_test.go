package runner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// The attacks of issue 9 on the runner: what a job writes into its build directory must never
// make the host run code, read a file outside it, or write outside the next job's.

// final waits for the final update of job id.
func (f *fake) final(t *testing.T, id int64) jobapi.Update {
	t.Helper()
	var u jobapi.Update
	waitFor(t, 60*time.Second, fmt.Sprintf("the final update of job %d", id), func() bool {
		var ok bool
		f.locked(func() { u, ok = f.finals[id] })
		return ok
	})
	return u
}

// logOf returns the server's log of job id.
func (f *fake) logOf(id int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.logs[id])
}

func withVars(p *plan.Job, kv ...string) *plan.Job {
	for i := 0; i+1 < len(kv); i += 2 {
		p.Variables = append(p.Variables, plan.Var{Key: kv[i], Value: kv[i+1]})
	}
	return p
}

// plantAndCheck runs a job that plants something in its checkout, then a job of the same
// project in the same slot; marker is a host file the planted code would write. The second
// job must start from a fresh checkout, and the marker must never appear.
func plantAndCheck(t *testing.T, adjust func(*Options), plant *plan.Job, marker string) {
	t.Helper()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n", ".gitignore": "*.log\n"})
	f.job(1, sha, plant)
	f.job(2, sha, shellJob("next", `test ! -e planted.txt && echo "fresh checkout"`))
	f.startWith(t, adjust)
	if u := f.final(t, 1); u.State != status.Success {
		t.Fatalf("planting job: %+v\n%s", u, f.logOf(1))
	}
	if u := f.final(t, 2); u.State != status.Success || !strings.Contains(f.logOf(2), "\nfresh checkout\n") {
		t.Errorf("second job: %+v\n%s", u, f.logOf(2))
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("code planted by a job ran on the host: %q\nfirst job:\n%s\nsecond job:\n%s", b, f.logOf(1), f.logOf(2))
	}
}

// plantHooks writes hooks that append to $MARKER into the checkout's .git/hooks.
const plantHooks = `mkdir -p .git/hooks; for h in post-checkout reference-transaction post-index-change post-merge pre-auto-gc; do
  printf '#!/bin/sh\necho %s >> "%s"\n' "$h" "$MARKER" > ".git/hooks/$h"; chmod +x ".git/hooks/$h"
done; echo planted > planted.txt; ls .git/hooks`

func TestAttackGitHookPlanted(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "marker")
	p := withVars(shellJob("plant", plantHooks), "MARKER", marker)
	p.Artifacts = &pipeline.Artifacts{Untracked: true}
	plantAndCheck(t, nil, p, marker)
}

func TestAttackFsmonitorPlanted(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "marker")
	// The first job collects its untracked files, the second checks out: git would query the
	// fsmonitor in both.
	p := withVars(shellJob("plant",
		`printf '[core]\n\tfsmonitor = "echo fsmonitor >> %s; false"\n' "$MARKER" >> .git/config`,
		`echo planted > planted.txt; echo ignored > x.log; cat .git/config`), "MARKER", marker)
	p.Artifacts = &pipeline.Artifacts{Untracked: true}
	plantAndCheck(t, nil, p, marker)
}

// TestAttackGitHookPlantedDocker plants the hooks from a Docker job, whose container writes
// the build directory as root: the next job (on the shell) must still get a fresh checkout
// and no hook may run on the host.
func TestAttackGitHookPlantedDocker(t *testing.T) {
	t.Parallel()
	cli := testenv.RequireDocker(t)
	img := testenv.BusyboxImage(t, cli)
	dk, err := docker.New(docker.Options{Client: cli, PullPolicy: docker.PullNever})
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	p := withVars(shellJob("plant", plantHooks,
		`printf '[core]\n\tfsmonitor = "echo fsmonitor >> %s; false"\n' "$MARKER" >> .git/config`), "MARKER", marker)
	p.Image = &pipeline.Image{Name: img}
	plantAndCheck(t, func(o *Options) {
		o.Config.Executor = ExecutorAuto
		shellOf := o.Executors
		o.Executors = func(name string) (executor.Executor, error) {
			if name == ExecutorDocker {
				return dk, nil
			}
			return shellOf(name)
		}
	}, p, marker)
}

// secretFile writes a file outside any build directory that a job must never get.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret.env")
	if err := os.WriteFile(p, []byte("STOLEN=host-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dotenvAttack runs a job with reports:dotenv paths and checks that no host file was read.
func dotenvAttack(t *testing.T, script string, reports []string, secret string) {
	t.Helper()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	p := withVars(shellJob("dotenv", script, "echo OWN=mine > own.env"), "SECRET", secret)
	p.Artifacts = &pipeline.Artifacts{Reports: map[string][]string{"dotenv": append(reports, "own.env")}}
	f.job(1, sha, p)
	f.start(t)
	u := f.final(t, 1)
	if u.State != status.Success {
		t.Fatalf("job: %+v\n%s", u, f.logOf(1))
	}
	for _, v := range u.Dotenv {
		if v.Key != "OWN" || strings.Contains(v.Value, "host-secret") {
			t.Errorf("dotenv of the job holds %s=%q, read from outside its build directory", v.Key, v.Value)
		}
	}
	if len(u.Dotenv) != 1 {
		t.Errorf("dotenv %+v: want the job's own OWN=mine", u.Dotenv)
	}
	if log := f.logOf(1); !strings.Contains(log, "WARNING: dotenv report") {
		t.Errorf("the log does not warn about the refused report:\n%s", log)
	}
}

func TestAttackDotenvSymlinkEscape(t *testing.T) {
	t.Parallel()
	secret := secretFile(t)
	dotenvAttack(t, `ln -s "$SECRET" build.env; ln -s /proc/self/environ env.env; mkdir d; ln -s "$(dirname "$SECRET")" d/up`,
		[]string{"build.env", "env.env", "d/up/secret.env"}, secret)
}

func TestAttackDotenvDotDot(t *testing.T) {
	t.Parallel()
	secret := secretFile(t)
	// Enough ".." to reach / from any build directory, then the secret's absolute path.
	up := strings.Repeat("../", 40) + strings.TrimPrefix(secret, "/")
	dotenvAttack(t, "true", []string{up, secret}, secret)
}

// TestDotenvLimits: a report over the runner's max_dotenv_size is refused with a warning.
func TestDotenvLimits(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	p := shellJob("dotenv", "echo A=1234567890 > a.env; echo B=1 > b.env")
	p.Artifacts = &pipeline.Artifacts{Reports: map[string][]string{"dotenv": {"a.env", "b.env"}}}
	f.job(1, sha, p)
	f.startWith(t, func(o *Options) { o.Config.MaxDotenvSize = 8 })
	u := f.final(t, 1)
	if len(u.Dotenv) != 1 || u.Dotenv[0].Key != "B" {
		t.Errorf("dotenv %+v: want only B (a.env is over 8 bytes)", u.Dotenv)
	}
	if log := f.logOf(1); !strings.Contains(log, "larger than 8 bytes") {
		t.Errorf("no warning about the limit:\n%s", log)
	}
}

// TestAttackArtifactSymlinkEscape: links to the host in artifacts:paths are kept as links,
// never followed, and nothing outside the build directory is archived.
func TestAttackArtifactSymlinkEscape(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	secret := secretFile(t)
	p := withVars(shellJob("art", `ln -s "$(dirname "$SECRET")" out; ln -s "$SECRET" file.env; mkdir -p dist; echo ok > dist/a`),
		"SECRET", secret)
	p.Artifacts = &pipeline.Artifacts{Paths: []string{"out/secret.env", "out/", "file.env", "dist/", "out/*"}}
	f.job(1, sha, p)
	f.start(t)
	if u := f.final(t, 1); u.State != status.Success {
		t.Fatalf("job: %+v\n%s", u, f.logOf(1))
	}
	var files map[string]string
	f.locked(func() { files = untargz(t, f.artifacts[1]) })
	for name, body := range files {
		if strings.Contains(body, "host-secret") {
			t.Errorf("artifact %s holds the host's secret", name)
		}
	}
	if files["dist/a"] != "ok\n" {
		t.Errorf("artifacts %v: want dist/a", slices.Sorted(mapsKeys(files)))
	}
}

// TestArtifactsTooLarge: artifacts over max_artifacts_size are not uploaded, and the log says
// which setting bounds them.
func TestArtifactsTooLarge(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	p := shellJob("big", "truncate -s 2M big.bin")
	p.Artifacts = &pipeline.Artifacts{Paths: []string{"big.bin"}}
	f.job(1, sha, p)
	f.startWith(t, func(o *Options) { o.Config.MaxArtifactsSize = 1 })
	f.final(t, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.artifacts[1]; ok {
		t.Error("artifacts over the limit were uploaded")
	}
	if log := string(f.logs[1]); !strings.Contains(log, "max_artifacts_size") {
		t.Errorf("the log does not name the limit:\n%s", log)
	}
}

// tarEntry is an entry of an archive made for a test: a regular file has a body.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func makeArchive(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := e.hdr
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func TestAttackArchiveTraversal(t *testing.T) {
	t.Parallel()
	reg := func(name, body string) tarEntry {
		return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
	}
	link := func(name, target string) tarEntry {
		return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
	}
	for _, tc := range []struct {
		name    string
		entries func(outside string) []tarEntry
		refused bool
	}{
		{name: "dotdot", refused: true, entries: func(string) []tarEntry { return []tarEntry{reg("../evil", "x")} }},
		{name: "deep dotdot", refused: true, entries: func(string) []tarEntry { return []tarEntry{reg("a/../../evil", "x")} }},
		{name: "absolute", refused: true, entries: func(o string) []tarEntry { return []tarEntry{reg(o+"/evil", "x")} }},
		{name: "through a link to outside", refused: true, entries: func(o string) []tarEntry {
			return []tarEntry{link("l", o), reg("l/evil", "x")}
		}},
		{name: "through a relative link that leaves", refused: true, entries: func(string) []tarEntry {
			return []tarEntry{link("l", "../.."), reg("l/evil", "x")}
		}},
		{name: "a file over a link to outside", entries: func(o string) []tarEntry {
			return []tarEntry{link("f", o+"/evil"), reg("f", "replaced, not written through")}
		}},
		{name: "a hard link to a host file", entries: func(o string) []tarEntry {
			return []tarEntry{{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: o + "/target"}}, reg("after", "ok")}
		}},
		{name: "more than the limit", refused: true, entries: func(string) []tarEntry {
			return []tarEntry{reg("a", strings.Repeat("x", 600)), reg("b", strings.Repeat("y", 600))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.MkdirAll(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte("host"), 0o644); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(base, "x", "y", "dst")
			err := extractArchive(bytes.NewReader(makeArchive(t, tc.entries(outside)...)), dst, 1000, 100)
			if tc.refused != (err != nil) {
				t.Errorf("extract: %v, want refused %v", err, tc.refused)
			}
			got := listAll(t, base)
			for _, p := range got {
				if strings.Contains(p, "evil") {
					t.Errorf("%s was written outside the directory", p)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "target")); string(b) != "host" {
				t.Errorf("the host file was changed: %q", b)
			}
			if fi, err := os.Lstat(filepath.Join(dst, "h")); err == nil {
				t.Errorf("a hard link entry was extracted: %v", fi.Mode())
			}
		})
	}
}

// listAll lists every path below dir.
func listAll(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestAttackRestoreThroughCheckoutLink: the repository commits a link named like a directory
// of a dependency's artifacts, pointing outside; restoring the artifacts must replace the link,
// never write through it.
func TestAttackRestoreThroughCheckoutLink(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	outside := t.TempDir()
	sha := f.repoWithLink("app", "dist", outside)
	f.artifacts[99] = targz(t, map[string]string{"dist/app.js": "from the artifacts\n"})
	j := f.job(1, sha, shellJob("use", "cat dist/app.js; test ! -L dist"))
	j.Dependencies = []jobapi.Dependency{{JobID: 99, Name: "build", HasArtifacts: true}}
	f.start(t)
	if u := f.final(t, 1); u.State != status.Success {
		t.Errorf("job: %+v\n%s", u, f.logOf(1))
	}
	if got := listAll(t, outside); len(got) != 1 {
		t.Errorf("written outside the build directory: %v", got)
	}
}

// TestAttackRefusedArchiveDownloadedAgain: a dependency's artifacts archive names a file
// outside the build directory. The runner refuses it once and fails the job with the reason:
// it does not download it again and again (a refusal is no network failure), nor call it a
// system failure that retry:when would run again.
func TestAttackRefusedArchiveDownloadedAgain(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.artifacts[99] = makeArchive(t, tarEntry{hdr: tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Size: 1}, body: "x"})
	j := f.job(1, sha, shellJob("use", "true"))
	j.Dependencies = []jobapi.Dependency{{JobID: 99, Name: "build", HasArtifacts: true}}
	f.start(t)
	u := f.final(t, 1)
	if u.State != status.Failed {
		t.Errorf("job: %+v, want failed\n%s", u, f.logOf(1))
	}
	if log := f.logOf(1); !strings.Contains(log, "path outside the archive") {
		t.Errorf("the log does not say why:\n%s", log)
	}
	f.locked(func() {
		if f.artifactGets != 1 {
			t.Errorf("the refused archive was downloaded %d times, want once", f.artifactGets)
		}
	})
}

// repoWithLink is repo with one commit holding a symbolic link name → target.
func (f *fake) repoWithLink(name, link, target string) string {
	work := f.t.TempDir()
	if err := os.Symlink(target, filepath.Join(work, link)); err != nil {
		f.t.Fatal(err)
	}
	return f.repoFrom(name, work)
}

// TestAttackCrossProjectCache: two projects use the same cache key on one runner; neither
// may restore or overwrite the other's cache.
func TestAttackCrossProjectCache(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	cache := []pipeline.Cache{{Key: "deps", Paths: []string{"vendor/"}}}
	job := func(id, project int64, script string) {
		p := shellJob(fmt.Sprintf("job%d", id), script)
		p.Cache = cache
		j := f.job(id, sha, p)
		j.Project = jobapi.Project{ID: project, Path: fmt.Sprintf("team/p%d", project)}
	}
	job(1, 3, "mkdir -p vendor; echo secret-of-A > vendor/lib")
	job(2, 4, "cat vendor/lib || echo no cache here; mkdir -p vendor; echo poison-from-B > vendor/lib")
	job(3, 3, "cat vendor/lib")
	f.start(t)
	for id := int64(1); id <= 3; id++ {
		if u := f.final(t, id); u.State != status.Success {
			t.Fatalf("job %d: %+v\n%s", id, u, f.logOf(id))
		}
	}
	if log := f.logOf(2); strings.Contains(log, "secret-of-A") || !strings.Contains(log, "no cache here") {
		t.Errorf("project B restored project A's cache:\n%s", log)
	}
	if log := f.logOf(3); !strings.Contains(log, "\nsecret-of-A\n") || strings.Contains(log, "poison") {
		t.Errorf("project A's cache was overwritten by project B:\n%s", log)
	}
}

// TestCacheLocalCopy: the runner's local copy is used when the server's version is the same
// (304 to its ETag), and not once the server has another.
func TestCacheLocalCopy(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	job := func(id int64, script string) {
		p := shellJob(fmt.Sprintf("job%d", id), script)
		p.Cache = []pipeline.Cache{{Key: "deps", Paths: []string{"vendor/"}, Policy: "pull"}}
		if id == 1 {
			p.Cache[0].Policy = "pull-push"
		}
		f.job(id, sha, p)
	}
	job(1, "mkdir -p vendor; echo v1 > vendor/lib")
	job(2, "cat vendor/lib")
	f.start(t)
	f.final(t, 1)
	if u := f.final(t, 2); u.State != status.Success || !strings.Contains(f.logOf(2), "\nv1\n") {
		t.Fatalf("job 2: %+v\n%s", u, f.logOf(2))
	}
	f.locked(func() {
		if f.cacheHits != 1 || f.cacheGets != 0 {
			t.Errorf("%d answers 304, %d downloads: want the local copy of the uploaded version", f.cacheHits, f.cacheGets)
		}
		// Another runner saves a new version.
		f.caches["3/deps"] = targz(t, map[string]string{"vendor/lib": "v2\n"})
	})
	job(3, "cat vendor/lib")
	if u := f.final(t, 3); u.State != status.Success || !strings.Contains(f.logOf(3), "\nv2\n") {
		t.Errorf("job 3 did not get the server's new version: %+v\n%s", u, f.logOf(3))
	}
}

// TestCacheNotSavedWhenUploadFails: a cache whose upload, or whose collection before it,
// fails is never reported as saved.
func TestCacheNotSavedWhenUploadFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script string
		adjust func(*fake, *Options)
	}{
		{name: "upload refused", script: "mkdir -p vendor; echo x > vendor/lib",
			adjust: func(f *fake, _ *Options) { f.putCacheStatus = http.StatusRequestEntityTooLarge }},
		{name: "collect over the limit", script: "mkdir -p vendor; truncate -s 2M vendor/big",
			adjust: func(_ *fake, o *Options) { o.Config.MaxCacheSize = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			sha := f.repo("app", map[string]string{"README": "x\n"})
			p := shellJob("deps", tc.script)
			p.Cache = []pipeline.Cache{{Key: "deps", Paths: []string{"vendor/"}}}
			f.job(1, sha, p)
			f.startWith(t, func(o *Options) { tc.adjust(f, o) })
			f.final(t, 1)
			log := f.logOf(1)
			if strings.Contains(log, "Saved cache") || !strings.Contains(log, "WARNING: cache deps not saved") {
				t.Errorf("log:\n%s", log)
			}
			f.locked(func() {
				if _, ok := f.caches["3/deps"]; ok {
					t.Error("the server has the cache")
				}
			})
		})
	}
}

// TestUntrackedWithoutGit: artifacts:untracked takes the files git did not track at checkout,
// ignored ones included, never .git, as GitLab does, without running git after the job.
func TestUntrackedWithoutGit(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n", ".gitignore": "*.log\n"})
	p := shellJob("u", "echo changed > README; echo new > new.txt; echo log > build.log; mkdir -p d; echo deep > d/e; ln -s README lnk")
	p.Artifacts = &pipeline.Artifacts{Untracked: true}
	f.job(1, sha, p)
	f.start(t)
	f.final(t, 1)
	var files map[string]string
	f.locked(func() { files = untargz(t, f.artifacts[1]) })
	got := slices.Sorted(mapsKeys(files))
	want := []string{"build.log", "d/", "d/e", "lnk", "new.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("untracked artifacts %q, want %q", got, want)
	}
}

// TestUndecodableJobFails: a job the runner cannot read — a spec that does not decode, a
// version above the runner's, a heartbeat no clock has — is failed with
// data_integrity_failure and a log line that says why, and nothing runs.
func TestUndecodableJobFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// job is the answer to the claim; %[1]q is the job token and %[2]s the marker the
		// job's script would touch.
		job, log string
	}{
		{"a script that is not a list",
			`{"version":1,"id":1,"token":%[1]q,"spec":{"version":1,"name":"x","script":"touch %[2]s"},"project":{"id":3,"path":"team/app"},"heartbeat_seconds":0.1}`,
			"cannot unmarshal string"},
		{"a payload of a newer version",
			`{"version":99,"id":1,"token":%[1]q,"spec":{"version":1,"name":"x","script":["touch %[2]s"]},"project":{"id":3,"path":"team/app"},"heartbeat_seconds":0.1}`,
			"the server sent version 99 and this runner reads up to 1: upgrade the runner"},
		{"a spec of a newer version",
			`{"version":1,"id":1,"token":%[1]q,"spec":{"version":2,"name":"x","script":["touch %[2]s"]},"project":{"id":3,"path":"team/app"},"heartbeat_seconds":0.1}`,
			"version 2 (this program reads 0 to 1)"},
		{"a negative heartbeat",
			`{"version":1,"id":1,"token":%[1]q,"spec":{"version":1,"name":"x","script":["touch %[2]s"]},"project":{"id":3,"path":"team/app"},"heartbeat_seconds":-1}`,
			"heartbeat_seconds"},
		{"a payload that is not an object",
			`{"version":1,"id":1,"token":%[1]q,"spec":[],"project":{"id":3,"path":"team/app"},"heartbeat_seconds":0.1}`,
			"not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			marker := filepath.Join(t.TempDir(), "ran")
			j := f.job(1, "0000000000000000000000000000000000000000", shellJob("x", "touch "+marker))
			f.raw[1] = fmt.Sprintf(tt.job, j.Token, marker)
			f.start(t)
			u := f.final(t, 1)
			if u.State != status.Failed || u.FailureReason != status.DataIntegrityFailure {
				t.Errorf("final %+v, want failed with %s", u, status.DataIntegrityFailure)
			}
			if log := f.logOf(1); !strings.Contains(log, "cannot read the job's specification") || !strings.Contains(log, tt.log) {
				t.Errorf("log does not say %q:\n%s", tt.log, log)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the job ran")
			}
		})
	}
}

// TestFutureFieldsIgnored: a payload with fields this runner does not know, in the job and
// in its spec, as a newer server may add them, runs as if they were not there.
func TestFutureFieldsIgnored(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "hi\n"})
	j := f.job(1, sha, shellJob("x", "echo ran-$GREETING"))
	j.Spec.Variables = append(j.Spec.Variables, jobapi.Var{Key: "GREETING", Value: "hello"})
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["sandbox"] = map[string]any{"profile": "strict", "seccomp": []string{"a", "b"}}
	spec := m["spec"].(map[string]any)
	spec["secrets"] = []any{map[string]any{"name": "vault", "path": "x"}}
	spec["variables"].([]any)[0].(map[string]any)["scope"] = "job"
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f.raw[1] = string(b)
	f.start(t)
	if u := f.final(t, 1); u.State != status.Success {
		t.Fatalf("final %+v, want success\n%s", u, f.logOf(1))
	}
	if log := f.logOf(1); !strings.Contains(log, "ran-hello") {
		t.Errorf("log:\n%s", log)
	}
}

// recorder is an executor that records the jobs prepared on it and fails them.
type recorder struct {
	name string
	mu   sync.Mutex
	jobs []string
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Prepare(_ context.Context, j *executor.Job, _ io.Writer) (executor.Env, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, j.Name)
	return nil, errors.New("recorded")
}

// TestExecutorPerJob: ExecutorAuto runs jobs with image: on Docker and the others in the
// shell; a docker runner without a default image fails a job without image: saying which flag
// sets one, and takes its default image otherwise.
func TestExecutorPerJob(t *testing.T) {
	t.Parallel()
	withImage := shellJob("img", "true")
	withImage.Image = &pipeline.Image{Name: "alpine"}
	plain := shellJob("plain", "true")
	for _, tc := range []struct {
		name     string
		executor string
		image    string
		job      *plan.Job
		want     string // executor, or an error's text
	}{
		{name: "auto with image", executor: ExecutorAuto, job: withImage, want: ExecutorDocker},
		{name: "auto without image", executor: ExecutorAuto, job: plain, want: ExecutorShell},
		{name: "default is shell", job: withImage, want: ExecutorShell},
		{name: "docker without default image", executor: ExecutorDocker, job: plain, want: "--docker-image IMAGE"},
		{name: "docker with default image", executor: ExecutorDocker, image: "busybox", job: plain, want: ExecutorDocker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{Executor: tc.executor, Docker: DockerConfig{Image: tc.image}}
			got, err := executorFor(c, tc.job)
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("executorFor = %q, want %q", got, tc.want)
			}
		})
	}

	// And through a runner: the Docker job reaches the docker executor, the plain one runs.
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.job(1, sha, withImage)
	f.job(2, sha, withVars(shellJob("plain", "echo on the shell"), "X", "y"))
	dk := &recorder{name: ExecutorDocker}
	f.startWith(t, func(o *Options) {
		o.Config.Executor = ExecutorAuto
		sh := o.Executors
		o.Executors = func(name string) (executor.Executor, error) {
			if name == ExecutorDocker {
				return dk, nil
			}
			return sh(name)
		}
	})
	f.final(t, 1)
	if u := f.final(t, 2); u.State != status.Success || !strings.Contains(f.logOf(2), "\non the shell\n") {
		t.Errorf("plain job: %+v\n%s", u, f.logOf(2))
	}
	dk.mu.Lock()
	defer dk.mu.Unlock()
	if !slices.Equal(dk.jobs, []string{"img"}) {
		t.Errorf("docker got %q, want the job with image: only", dk.jobs)
	}
}

// TestDockerRunnerWithoutImage: the job fails with the flag to set in its log.
func TestDockerRunnerWithoutImage(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.job(1, sha, shellJob("plain", "true"))
	f.startWith(t, func(o *Options) { o.Config.Executor = ExecutorDocker })
	u := f.final(t, 1)
	if u.State != status.Failed || !strings.Contains(f.logOf(1), "--docker-image IMAGE") {
		t.Errorf("final %+v\n%s", u, f.logOf(1))
	}
}

// TestOutageDuringJob: the server answers 503, 401 or drops the connection for a while in the
// middle of a job, and while it ends; the job must end with its real status, its artifacts
// and cache saved and every log byte on the server.
func TestOutageDuringJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	goFile := filepath.Join(t.TempDir(), "go")
	p := withVars(shellJob("long",
		`echo start; seq 1 20000; while [ ! -e "$GO" ]; do sleep 0.05; done; echo end > out.txt; cat out.txt; exit 3`),
		"GO", goFile)
	p.Artifacts = &pipeline.Artifacts{Paths: []string{"out.txt"}, When: "always"}
	p.Cache = []pipeline.Cache{{Key: "k", Paths: []string{"out.txt"}, When: "always"}}
	f.job(1, sha, p)
	var down bool
	f.outage = func(n int) string {
		if !down {
			return ""
		}
		return []string{"503", "drop", "401"}[n%3]
	}
	f.start(t)
	waitFor(t, 30*time.Second, "the job to start", func() bool { return strings.Contains(f.logOf(1), "\nstart\n") })
	calls := func() (n int) { f.locked(func() { n = f.outageCalls }); return n }
	f.locked(func() { down, f.outageCalls = true, 0 })
	waitFor(t, 30*time.Second, "calls during the outage", func() bool { return calls() >= 9 })
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	at := calls()
	waitFor(t, 30*time.Second, "the job's end during the outage", func() bool { return calls() >= at+12 })
	f.locked(func() { down = false })

	u := f.final(t, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	log := string(f.logs[1])
	if u.State != status.Failed || u.FailureReason != status.ScriptFailure || u.ExitCode != 3 {
		t.Errorf("final %+v: want the script's failure, exit code 3", u)
	}
	var seq strings.Builder
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&seq, "%d\n", i)
	}
	for _, want := range []string{"\nstart\n" + seq.String(), "\nend\n", "Uploading artifacts", "Saved cache k"} {
		if strings.Count(log, want) != 1 {
			t.Errorf("the log has %q %d times, want once", want[:min(len(want), 30)], strings.Count(log, want))
		}
	}
	if u.LogSize != int64(len(log)) {
		t.Errorf("final log size %d, the server has %d bytes", u.LogSize, len(log))
	}
	if files := untargz(t, f.artifacts[1]); files["out.txt"] != "end\n" {
		t.Errorf("artifacts %v", files)
	}
	if _, ok := f.caches["3/k"]; !ok {
		t.Error("the cache was not saved")
	}
}

// asRoot adjusts a runner's Options for the attacks between projects on one root runner:
// builds in a directory every user can search, shell jobs as a root runner runs them by
// default (each as a uid of its own), jobs with image: on dk (when set).
func asRoot(t *testing.T, dk executor.Executor) func(*Options) {
	t.Helper()
	testenv.RequireRoot(t)
	sh, err := shell.New(ShellConfig{}.Options())
	if err != nil {
		t.Fatal(err)
	}
	builds := t.TempDir()
	for d := builds; d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return func(o *Options) {
		o.Config.BuildsDir = builds
		o.Config.Executor = ExecutorAuto
		o.Executors = func(name string) (executor.Executor, error) {
			if name == ExecutorDocker && dk != nil {
				return dk, nil
			}
			return sh, nil
		}
	}
}

// otherProjectsJob queues job id of project, whose script gets in $OTHER the build dir of
// project 3 in slot 0 of the runner's builds dir.
func (f *fake) otherProjectsJob(id, project int64, sha string, p *plan.Job) {
	j := f.job(id, sha, p)
	j.Project = jobapi.Project{ID: project, Path: fmt.Sprintf("team/p%d", project)}
}

// TestAttackReadOtherProjectsBuildDir: a shell job of project A leaves a file in its build
// dir; a later shell job of project B in the same slot must not read it.
func TestAttackReadOtherProjectsBuildDir(t *testing.T) {
	t.Parallel()
	adjust := asRoot(t, nil)
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "source of project A\n"})
	f.otherProjectsJob(1, 3, sha, shellJob("a", "echo secret-of-A > out.txt"))
	f.otherProjectsJob(2, 4, sha, shellJob("b",
		`for p in "$CI_BUILDS_DIR"/../../../*/3/team/p3/*; do cat "$p" 2>/dev/null || true; done; echo done`))
	f.startWith(t, adjust)
	for id := int64(1); id <= 2; id++ {
		if u := f.final(t, id); u.State != status.Success {
			t.Fatalf("job %d: %+v\n%s", id, u, f.logOf(id))
		}
	}
	if log := f.logOf(2); strings.Contains(log, "secret-of-A") || strings.Contains(log, "source of project A") {
		t.Errorf("project B read project A's build dir:\n%s", log)
	}
}

// TestAttackSetuidFromDockerJob: a Docker job, root in its container, makes a set-user-ID
// copy of a program in its bind-mounted build dir. A shell job of another project
// must not reach it: run, it would be root on the host.
func TestAttackSetuidFromDockerJob(t *testing.T) {
	t.Parallel()
	cli := testenv.RequireDocker(t)
	img := testenv.BusyboxImage(t, cli)
	dk, err := docker.New(docker.Options{Client: cli, PullPolicy: docker.PullNever})
	if err != nil {
		t.Fatal(err)
	}
	adjust := asRoot(t, dk)
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	plant := shellJob("plant", "mkdir bin && cp /bin/busybox bin/busybox && chmod 4755 bin/busybox && ls -l bin/busybox")
	plant.Image = &pipeline.Image{Name: img}
	f.otherProjectsJob(1, 3, sha, plant)
	f.otherProjectsJob(2, 4, sha, shellJob("use",
		`for p in "$CI_BUILDS_DIR"/../../../*/3/team/p3/bin/busybox; do if test -u "$p" && "$p" true; then echo "ran $p"; fi; done; echo done`))
	f.startWith(t, adjust)
	if u := f.final(t, 1); u.State != status.Success || !strings.Contains(f.logOf(1), "rws") {
		t.Fatalf("planting job: %+v\n%s", u, f.logOf(1))
	}
	if u := f.final(t, 2); u.State != status.Success {
		t.Fatalf("job of project B: %+v\n%s", u, f.logOf(2))
	}
	if log := f.logOf(2); strings.Contains(log, "\nran ") {
		t.Errorf("a shell job ran a set-user-ID root program of a Docker job:\n%s", log)
	}
}
