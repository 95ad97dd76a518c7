package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

// Shell jobs of a root runner between each other: each runs as a uid of its own.

// sharedDir returns a new directory that every job can write, for jobs that tell each other
// (or the test) where they are.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitScript waits for the file path, up to 60 s.
func waitScript(path string) string {
	return `i=0; until [ -e "` + path + `" ]; do i=$((i+1)); [ $i -lt 3000 ] || exit 1; sleep 0.02; done`
}

// TestAttackConcurrentShellJobReadsEnviron: two shell jobs of different projects run at once
// on two slots of one root runner. Job B, knowing job A's PID and directories, tries to read
// A's environment (a protected variable, the job token) from /proc/PID/environ, its build
// dir, its HOME and TMPDIR, and its file variable, and to write into A's build dir. It must
// get none of them.
func TestAttackConcurrentShellJobReadsEnviron(t *testing.T) {
	t.Parallel()
	adjust := asRoot(t, nil)
	shared := sharedDir(t)
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "source of project A\n"})
	a := shellJob("a",
		`echo "$$" > `+shared+`/a.pid`,
		`echo tmp-secret-of-A > "$TMPDIR/secret"; echo home-secret-of-A > "$HOME/secret"; echo build-secret-of-A > secret.txt`,
		`for v in CI_PROJECT_DIR TMPDIR HOME A_FILE; do printenv $v > `+shared+`/a.$v; done`,
		`touch `+shared+`/a.ready`,
		waitScript(shared+"/b.done"),
		`if [ -e planted ]; then echo "B PLANTED"" IN A"; fi`)
	a.Variables = append(a.Variables,
		plan.Var{Key: "A_SECRET", Value: "protected-secret-of-A", Masked: true},
		plan.Var{Key: "CI_JOB_TOKEN", Value: "job-token-of-A", Masked: true},
		plan.Var{Key: "A_FILE", Value: "file-secret-of-A\n", File: true})
	b := shellJob("b",
		waitScript(shared+"/a.ready"),
		`tr '\0' '\n' < /proc/$(cat `+shared+`/a.pid)/environ || true`,
		`d=$(cat `+shared+`/a.CI_PROJECT_DIR); ls -la "$d" || true; cat "$d/secret.txt" "$d/README" || true`,
		`echo x > "$d/planted" || true`,
		`cat "$(cat `+shared+`/a.TMPDIR)/secret" "$(cat `+shared+`/a.HOME)/secret" "$(cat `+shared+`/a.A_FILE)" || true`,
		`touch `+shared+`/b.done`)
	f.otherProjectsJob(1, 3, sha, a)
	f.otherProjectsJob(2, 4, sha, b)
	f.startWith(t, func(o *Options) {
		adjust(o)
		o.Config.Concurrency = 2
	})
	for id := int64(1); id <= 2; id++ {
		if u := f.final(t, id); u.State != status.Success {
			t.Fatalf("job %d: %+v\n%s", id, u, f.logOf(id))
		}
	}
	logB := f.logOf(2)
	for _, secret := range []string{"protected-secret-of-A", "job-token-of-A", "file-secret-of-A",
		"tmp-secret-of-A", "home-secret-of-A", "build-secret-of-A", "source of project A"} {
		if strings.Contains(logB, secret) {
			t.Errorf("job B read %q of job A:\n%s", secret, logB)
		}
	}
	if !strings.Contains(logB, "Permission denied") {
		t.Errorf("job B's attempts did not run:\n%s", logB)
	}
	if logA := f.logOf(1); strings.Contains(logA, "B PLANTED IN A") {
		t.Errorf("job B wrote into job A's build dir:\n%s", logA)
	}
}

// TestAttackHardLinkedHostFile: a shell job hard-links a file of the host it cannot read into
// its build dir (fs.protected_hardlinks=0 lets it; the test makes the links as root while the
// job waits) as an artifact, a cache path and a dotenv report. The runner, root, must not
// send the host's file anywhere, and still sends the job's own files.
func TestAttackHardLinkedHostFile(t *testing.T) {
	t.Parallel()
	adjust := asRoot(t, nil)
	shared := sharedDir(t)
	secret := secretFile(t)
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	p := shellJob("link",
		`mkdir -p out && echo mine > out/mine.txt && echo OWN=mine > own.env`,
		`echo "$CI_PROJECT_DIR" > `+shared+`/dir`,
		waitScript(shared+"/planted"),
		`ls -l out build.env`)
	p.Artifacts = &pipeline.Artifacts{Paths: []string{"out/"}, Reports: map[string][]string{"dotenv": {"build.env", "own.env"}}}
	p.Cache = []pipeline.Cache{{Key: "k", Paths: []string{"out/"}}}
	f.job(1, sha, p)
	f.startWith(t, adjust)

	var dir string
	waitFor(t, 60*time.Second, "the job's build dir", func() bool {
		b, err := os.ReadFile(filepath.Join(shared, "dir"))
		dir = strings.TrimSpace(string(b))
		return err == nil && dir != ""
	})
	for link, target := range map[string]string{"out/db": secret, "build.env": secret} {
		if err := os.Link(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(shared, "planted"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	u := f.final(t, 1)
	log := f.logOf(1)
	if u.State != status.Success {
		t.Fatalf("job: %+v\n%s", u, log)
	}
	f.mu.Lock()
	artifacts, cache := untargz(t, f.artifacts[1]), untargz(t, f.caches["3/k"])
	f.mu.Unlock()
	for what, files := range map[string]map[string]string{"artifacts": artifacts, "cache": cache} {
		if _, ok := files["out/db"]; ok || files["out/mine.txt"] != "mine\n" {
			t.Errorf("%s: %v", what, files)
		}
	}
	if len(u.Dotenv) != 1 || u.Dotenv[0].Key != "OWN" {
		t.Errorf("dotenv %+v: want only the job's own OWN=mine", u.Dotenv)
	}
	for _, want := range []string{"out/db: skipped: a hard link", "dotenv report build.env: read dotenv: build.env: a hard link"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
