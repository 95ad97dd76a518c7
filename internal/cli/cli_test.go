package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo makes a git repository on branch main holding files, with an origin remote.
func gitRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.email", "dev@example.com"},
		{"config", "user.name", "Dev"},
		{"remote", "add", "origin", "git@gitlab.example.com:team/app.git"},
		{"add", "-A"},
		{"commit", "-q", "-m", "init"},
		{"update-ref", "refs/remotes/origin/main", "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func runCmd(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	code := Main(context.Background(), IO{Stdout: &o, Stderr: &e, Dir: dir}, args)
	return o.String(), e.String(), code
}

const sample = `stages: [build, test, deploy]
variables:
  GREETING: hello
build:
  stage: build
  script: [make]
unit:
  stage: test
  needs: [build]
  script: [make test]
lint:
  stage: test
  needs: []
  script: [make lint]
deploy:
  stage: deploy
  script: [make deploy]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      when: manual
release:
  stage: deploy
  script: [make release]
  rules:
    - if: $CI_COMMIT_TAG =~ /^v\d+/
`

func TestCommands(t *testing.T) {
	dir := gitRepo(t, map[string]string{
		".gitlab-ci.yml": sample,
		"bad.yml":        "job:\n  stage: nope\n  script: [x]\n  when: sometimes\n",
		"none.yml":       "workflow:\n  rules:\n    - if: $CI_COMMIT_TAG\njob:\n  script: [x]\n",
	})
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings
		stderr   []string
		noStdout []string
	}{
		{name: "lint valid", args: []string{"lint"}, code: 0, stdout: []string{"valid"}},
		{name: "lint errors with positions", args: []string{"lint", "bad.yml"}, code: 1,
			stderr: []string{"bad.yml:2:3: jobs:job chosen stage nope does not exist", "bad.yml:4:9: when \"sometimes\" is unknown"}},
		{name: "lint missing file", args: []string{"lint", "missing.yml"}, code: 1, stderr: []string{"missing.yml: file not found"}},
		{name: "config expands", args: []string{"config"}, code: 0, stdout: []string{"stages:\n    - .pre\n    - build", "GREETING: hello"}},
		{name: "jobs table on main", args: []string{"jobs"}, code: 0, stdout: []string{"deploy", "manual"}, noStdout: []string{"release"}},
		{name: "jobs for a tag", args: []string{"jobs", "--tag", "v1.0"}, code: 0, stdout: []string{"release"}, noStdout: []string{"\ndeploy"}},
		{name: "jobs on a feature branch", args: []string{"jobs", "--ref", "feature"}, code: 0, noStdout: []string{"deploy", "release"}},
		{name: "no pipeline", args: []string{"jobs", "--json", "--file", "none.yml"}, code: 0, stdout: []string{"[]"}, stderr: []string{"no rule matched"}},
		{name: "explain manual deploy", args: []string{"explain", "deploy"}, code: 0,
			stdout: []string{"IN the pipeline", "rules[0]", ".gitlab-ci.yml:19:7", `$CI_COMMIT_BRANCH = "main"`, `$CI_DEFAULT_BRANCH = "main"`, "when:          manual", "allow_failure: false"}},
		{name: "explain excluded release", args: []string{"explain", "release"}, code: 0,
			stdout: []string{"NOT in the pipeline", "no rule matched", "$CI_COMMIT_TAG is not defined"}},
		{name: "explain unknown job", args: []string{"explain", "nope"}, code: 1, stderr: []string{`no job "nope"`}},
		{name: "variable flag", args: []string{"explain", "deploy", "--variable", "CI_DEFAULT_BRANCH=other"}, code: 0, stdout: []string{"NOT in the pipeline"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{"unknown command"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runCmd(t, dir, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			for _, s := range tc.noStdout {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestJobsJSON(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": sample})
	out, errOut, code := runCmd(t, dir, "jobs", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var jobs []map[string]any
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, j := range jobs {
		byName[j["name"].(string)] = j
		for _, k := range []string{"name", "stage", "when", "allow_failure", "needs"} {
			if _, ok := j[k]; !ok {
				t.Errorf("job %v lacks %q", j["name"], k)
			}
		}
	}
	if len(jobs) != 4 {
		t.Fatalf("got %d jobs, want 4: %s", len(jobs), out)
	}
	if byName["build"]["needs"] != nil {
		t.Errorf("build has no needs: key, want needs null, got %v", byName["build"]["needs"])
	}
	if n, ok := byName["lint"]["needs"].([]any); !ok || len(n) != 0 {
		t.Errorf("lint has needs: [], want [], got %v", byName["lint"]["needs"])
	}
	if n, _ := byName["unit"]["needs"].([]any); len(n) != 1 || n[0] != "build" {
		t.Errorf("unit needs %v, want [build]", byName["unit"]["needs"])
	}
	if byName["deploy"]["when"] != "manual" || byName["deploy"]["allow_failure"] != false {
		t.Errorf("deploy: %v", byName["deploy"])
	}
}

func TestOutsideGitRepository(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("job:\n  script: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, dir, "jobs", "--json")
	if code != 0 || !strings.Contains(out, `"name": "job"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestRulesChanges(t *testing.T) {
	dir := gitRepo(t, map[string]string{
		".gitlab-ci.yml": `docs:
  script: [make docs]
  rules:
    - changes: ["docs/**/*"]
src:
  script: [make]
  rules:
    - changes: ["src/**/*.go"]
against-feature:
  script: [make]
  rules:
    - changes:
        paths: ["docs/**/*"]
        compare_to: refs/heads/feature
`,
		"docs/guide/index.md": "# guide\n",
		"src/app/main.go":     "package main\n",
	})
	for _, args := range [][]string{
		{"checkout", "-q", "-b", "feature"},
		{"commit", "-q", "--allow-empty", "-m", "empty"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	// An uncommitted change on the feature branch is tested too.
	if err := os.WriteFile(filepath.Join(dir, "docs/guide/index.md"), []byte("# guide, edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, dir, "jobs", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var jobs []struct{ Name string }
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	// docs changed against main; nothing under src did; against the feature branch itself
	// only the uncommitted edit counts, which is under docs.
	if got := strings.Join(names, ","); got != "docs,against-feature" {
		t.Errorf("jobs %s, want docs,against-feature", got)
	}
	out, _, _ = runCmd(t, dir, "jobs", "--json", "--compare-to", "feature")
	if !strings.Contains(out, `"docs"`) {
		t.Errorf("--compare-to feature: the uncommitted docs edit should still count:\n%s", out)
	}
	if _, errOut, code := runCmd(t, dir, "jobs", "--compare-to", "no-such-ref"); code != 1 || !strings.Contains(errOut, "--compare-to no-such-ref") {
		t.Errorf("a bad --compare-to: exit %d, %s", code, errOut)
	}
}

func TestRunShellOnFailure(t *testing.T) {
	dir := gitRepo(t, map[string]string{".gitlab-ci.yml": "broken:\n  variables:\n    GREETING: hi\n  script:\n    - touch made-by-job\n    - exit 4\n"})
	var o, e bytes.Buffer
	in := strings.NewReader("echo \"in the shell: $GREETING $CI_JOB_NAME\"; ls made-by-job\nexit\n")
	code := Main(context.Background(), IO{Stdin: in, Stdout: &o, Stderr: &e, Dir: dir}, []string{"run", "--executor", "shell", "--shell-on-failure"})
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, o.String(), e.String())
	}
	if !strings.Contains(o.String(), "in the shell: hi broken") || !strings.Contains(o.String(), "made-by-job") {
		t.Errorf("the shell did not run in the job's build dir with its variables:\n%s\n%s", o.String(), e.String())
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name string
		ci   string
		code int
	}{
		{name: "success", ci: "a:\n  script: [\"true\"]\n", code: 0},
		{name: "allowed failure is a warning", ci: "a:\n  script: [\"exit 2\"]\n  allow_failure: true\n", code: 0},
		{name: "failure", ci: "a:\n  script: [\"exit 2\"]\n", code: 1},
		{name: "config error", ci: "a:\n  scrip: [x]\n", code: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := gitRepo(t, map[string]string{".gitlab-ci.yml": tc.ci})
			out, errOut, code := runCmd(t, dir, "run", "--executor", "shell")
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tc.code, out, errOut)
			}
		})
	}
}
