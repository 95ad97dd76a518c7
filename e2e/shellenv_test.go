package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/testenv"
)

// smtpPassword is a secret `slipway server` takes from its environment.
const smtpPassword = "e2e-smtp-password-4a1b"

// reachableTempDir returns a new directory that every user can search down to, as a data or
// builds directory under /var/lib would be: shell jobs of a root server run as uids of their own.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writableTempDir returns a new directory every user can write, for jobs that record what
// they did outside their build dir.
func writableTempDir(t *testing.T) string {
	t.Helper()
	dir := reachableTempDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newShellServer starts `slipway server` with a built-in shell runner and secrets in its
// environment (env adds more), and returns it with its data directory.
func newShellServer(t *testing.T, env []string, extra ...string) (*server, string) {
	t.Helper()
	return newDataServer(t, append([]string{"SLIPWAY_SMTP_PASSWORD=" + smtpPassword}, env...),
		append([]string{"--runners", "1", "--executor", "shell", "--smtp-addr", "127.0.0.1:1"}, extra...)...)
}

// newDataServer starts `slipway server` with args, on a data directory that shell jobs
// (which a root server runs as uids of their own) can reach their build dirs in, with env added to its
// environment, and returns it with its data directory.
func newDataServer(t *testing.T, env []string, args ...string) (*server, string) {
	t.Helper()
	data := filepath.Join(reachableTempDir(t), "data")
	s := &server{t: t, addr: freeAddr(t), env: env}
	s.args = append([]string{"server", "--data", data, "--addr", s.addr}, args...)
	s.start()
	return s, data
}

// runPipeline runs the pipeline ci in a new project and returns its only job's log once it
// ended, failing the test unless it succeeded.
func (s *server) runPipeline(t *testing.T, name, ci string) (job, string) {
	t.Helper()
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": ci})
	id := s.project(name, dir, "")
	var p pipelineView
	if code := s.api("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main"}, &p); code != http.StatusCreated {
		t.Fatalf("trigger: %d", code)
	}
	p = s.wait(p.ID, 2*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	if len(p.Jobs) != 1 {
		t.Fatalf("pipeline %+v", p)
	}
	log := string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", p.Jobs[0].ID)))
	if p.Status != "success" {
		t.Fatalf("pipeline %s:\n%s", p.Status, log)
	}
	return p.Jobs[0], log
}

// ownUID is what `id` prints for a shell job of a root runner: a uid of its own from 70000,
// the same number as its group, no other group.
var ownUID = regexp.MustCompile(`\buid=(7\d{4}) gid=(7\d{4}) groups=(7\d{4})\n`)

// envDump prints the job's environment between markers, then its parent's (the server or
// the runner: the process that started the job's shell) and every readable process's.
const envDump = `dump:
  script:
    - echo ENV-START; env; echo ENV-END
    - tr '\0' '\n' < /proc/$PPID/environ || true
`

// TestAttackShellJobReadsServerEnv: a shell job runs env and reads its parent's
// /proc/PID/environ, on the built-in runner of `slipway server` (SQLite, and Postgres named
// by SLIPWAY_DB) and on a separate `slipway runner`. Its log holds none of the server's
// secrets, and the runner's own variables are not in the job's environment.
func TestAttackShellJobReadsServerEnv(t *testing.T) {
	secrets := func(extra ...string) []string {
		return append([]string{adminToken, regToken, smtpPassword}, extra...)
	}
	check := func(t *testing.T, log string, secrets []string, notInEnv []string) {
		t.Helper()
		if !strings.Contains(log, "ENV-END") {
			t.Fatalf("the job did not dump its environment:\n%s", log)
		}
		for _, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("the job's log holds the secret %q:\n%s", s, log)
			}
		}
		_, rest, _ := strings.Cut(log, "\nENV-START")
		jobEnv, _, _ := strings.Cut(rest, "\nENV-END")
		for _, s := range notInEnv {
			if strings.Contains(jobEnv, s) {
				t.Errorf("the job's environment holds %q:\n%s", s, jobEnv)
			}
		}
	}

	t.Run("built-in runner, sqlite", func(t *testing.T) {
		s, _ := newShellServer(t, nil)
		_, log := s.runPipeline(t, "acme/env-sqlite", envDump)
		check(t, log, secrets(), []string{"SLIPWAY_"})
	})

	t.Run("built-in runner, postgres from SLIPWAY_DB", func(t *testing.T) {
		dsn := testenv.PostgresSchema(t)
		s, _ := newShellServer(t, []string{"SLIPWAY_DB=" + dsn})
		_, log := s.runPipeline(t, "acme/env-postgres", envDump)
		check(t, log, secrets(dsn), []string{"SLIPWAY_"})
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.p.cmd.Process.Pid))
		if err != nil || strings.Contains(string(cmdline), "postgres://") {
			t.Errorf("the server's command line: %q, %v", cmdline, err)
		}
	})

	t.Run("separate runner", func(t *testing.T) {
		s := newServer(t, "")
		cfg := filepath.Join(t.TempDir(), "runner.yml")
		reg := exec.Command(slipwayBinary(t), "runner", "register", "--url", s.url(), "--executor", "shell", "--name", "e2e", "--config", cfg)
		reg.Env = append(os.Environ(), "SLIPWAY_REGISTRATION_TOKEN="+regToken)
		if out, err := reg.CombinedOutput(); err != nil {
			t.Fatalf("runner register: %v\n%s", err, out)
		}
		c, err := runner.LoadConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			// Root's default, /var/lib/slipway/builds, is shared with other tests' runners.
			c.BuildsDir = filepath.Join(reachableTempDir(t), "builds")
			if err := runner.SaveConfig(cfg, c); err != nil {
				t.Fatal(err)
			}
		}
		// The runner's own environment: the registration token, and the host's secrets.
		start(t, "runner", []string{"SLIPWAY_REGISTRATION_TOKEN=" + regToken, "DEPLOY_PASSWORD=runner-host-secret"},
			"runner", "run", "--config", cfg)
		_, log := s.runPipeline(t, "acme/env-runner", envDump)
		check(t, log, secrets(c.Token), []string{"SLIPWAY_", "DEPLOY_PASSWORD", "runner-host-secret"})
	})
}

// TestAttackServerSecretsInProcEnviron: /proc/PID/environ of `slipway server` and `slipway
// runner` shows their initial environment to every process of their user for as long as they
// run; the secrets they take from it are not in it.
func TestAttackServerSecretsInProcEnviron(t *testing.T) {
	s, _ := newShellServer(t, nil)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{adminToken, regToken, smtpPassword} {
		if strings.Contains(string(environ), secret) {
			t.Errorf("/proc/PID/environ of the server holds %q", secret)
		}
	}
	// And the server still took them.
	if code := s.api("GET", "/api/v1/projects", nil, nil); code != http.StatusOK {
		t.Errorf("the admin token from the environment: %d", code)
	}
}

// TestAttackShellJobReadsDataDir: on a root server, a shell job of the built-in runner runs as
// a uid of its own, and cannot read the data directory (the SQLite database with every project's
// variables, the built-in runner's configuration and token, the runner cache) nor the
// server's environment; the files it writes, even private ones, are still the runner's to
// upload as artifacts.
func TestAttackShellJobReadsDataDir(t *testing.T) {
	testenv.RequireRoot(t)
	s, data := newShellServer(t, nil)
	other := s.project("acme/other", t.TempDir(), "")
	const otherSecret = "other-project-secret-7f3e"
	if code := s.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/DEPLOY_KEY", other), map[string]any{"value": otherSecret}, nil); code != http.StatusNoContent {
		t.Fatalf("set a variable of the other project: %d", code)
	}
	c, err := runner.LoadConfig(filepath.Join(data, "builtin-runner.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for marker, cmd := range map[string]string{
		"READ-DB":       "cat " + filepath.Join(data, "slipway.db"),
		"READ-WAL":      "cat " + filepath.Join(data, "slipway.db-wal"),
		"LISTED-DATA":   "ls -la " + data,
		"READ-CONFIG":   "cat " + filepath.Join(data, "builtin-runner.yml"),
		"LISTED-CACHE":  "ls -la " + filepath.Join(data, "runner-cache"),
		"LISTED-GIT":    "ls -la " + filepath.Join(data, "git"),
		"READ-ENVIRON":  "cat /proc/$PPID/environ",
		"WROTE-DATADIR": "touch " + filepath.Join(data, "planted"),
	} {
		// The marker is printed only when cmd succeeded; split, so that the echoed command
		// line does not hold it.
		fmt.Fprintf(&script, "    - %s && echo \"%s\"\"%s\" || true\n", cmd, marker[:4], marker[4:])
	}
	ci := "steal:\n  script:\n    - id\n" + script.String() +
		"    - umask 077 && mkdir -p out && echo made by the job > out/private.txt\n" +
		"  artifacts:\n    paths: [out/]\n"
	j, log := s.runPipeline(t, "acme/attacker", ci)
	if m := ownUID.FindStringSubmatch(log); m == nil || m[1] != m[2] || m[1] != m[3] {
		t.Errorf("the job did not run as a uid of its own:\n%s", log)
	}
	for _, marker := range []string{"READ-DB", "READ-WAL", "LISTED-DATA", "READ-CONFIG", "LISTED-CACHE", "LISTED-GIT", "READ-ENVIRON", "WROTE-DATADIR"} {
		if strings.Contains(log, marker) {
			t.Errorf("the job could: %s\n%s", marker, log)
		}
	}
	for _, secret := range []string{otherSecret, c.Token, adminToken, regToken, smtpPassword} {
		if strings.Contains(log, secret) {
			t.Errorf("the job's log holds %q:\n%s", secret, log)
		}
	}
	files := untar(t, s.raw(fmt.Sprintf("/api/v1/jobs/%d/artifacts", j.ID)))
	if files["out/private.txt"] != "made by the job\n" {
		t.Errorf("artifacts: %v", files)
	}
}
