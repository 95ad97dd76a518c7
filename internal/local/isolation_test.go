package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// inPlaceWrites are the ways a job can change a file of its build dir. In each, $F is a
// tracked file (content "original", mode 644) and $L a symbolic link to it in the tree.
var inPlaceWrites = []struct{ name, script string }{
	{"append", `echo x >> "$F"`},
	{"truncate-write", `echo x > "$F"`},
	{"chmod", `chmod 600 "$F"`},
	{"delete", `rm "$F" "$L"`},
	{"rename-over", `echo x > new.tmp && mv new.tmp "$F" && ln -sf elsewhere "$L"`},
	{"write-through-symlink", `echo x >> "$L"`},
	{"hard-link-by-job", `ln "$F" "$F.hard" && echo x >> "$F.hard"`},
}

// isolationRepo makes a repository with, per case, NAME.txt and the symbolic link NAME.link
// to it, and a pipeline of a job that runs the cases' writes (attempt 1 checks the snapshot
// first and ends with exit 3, which is retried; attempt 2 checks it again) and a later job
// that checks the files are the snapshot's. A check that fails prints "LEAKED: NAME" and
// exits 1. image, when set, runs both jobs in it.
func isolationRepo(t *testing.T, image string, cases []string, scripts map[string]string) string {
	t.Helper()
	files := map[string]string{}
	var check, write strings.Builder
	for _, name := range cases {
		files[name+".txt"] = "original\n"
		fmt.Fprintf(&check, "F=%[1]s.txt; L=%[1]s.link\n", name)
		fmt.Fprintf(&check, `if [ "$(cat "$F")" != original ] || [ "$(stat -c %%a "$F")" != 644 ] || [ "$(readlink "$L")" != "$F" ]; then echo "LEAKED: %s"; leaked=1; fi`+"\n", name)
		fmt.Fprintf(&write, "F=%[1]s.txt; L=%[1]s.link\n%[2]s\n", name, scripts[name])
	}
	check.WriteString(`test -z "$leaked"` + "\n")
	indent := func(s string) string { return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ") }
	img := ""
	if image != "" {
		img = "default:\n  image: " + image + "\n"
	}
	files[".gitlab-ci.yml"] = img + `stages: [write, read]
write:
  stage: write
  retry: {max: 1, exit_codes: [3]}
  allow_failure: true
  script:
    - |
` + indent(check.String()) + `
` + indent(write.String()) + `
      exit 3
read:
  stage: read
  script:
    - |
` + indent(check.String()) + "\n"
	dir := repo(t, files)
	for _, name := range cases {
		// Not committed: the snapshot holds untracked files too.
		if err := os.Symlink(name+".txt", filepath.Join(dir, name+".link")); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkIsolated checks that neither the retried attempt of the writing job nor the later job
// saw a write of the first attempt, and that the work tree is untouched.
func checkIsolated(t *testing.T, dir string, cases []string, sum *Summary, out string) {
	t.Helper()
	got := map[string]JobResult{}
	for _, j := range sum.Jobs {
		got[j.Name] = j
	}
	if w := got["write"]; w.Attempts != 2 || w.ExitCode != 3 {
		t.Errorf("write: %d attempts ending with exit code %d, want 2 ending with 3 (exit 1: the retry saw the first attempt's writes)", w.Attempts, w.ExitCode)
	}
	if r := got["read"]; r.Status != status.Success {
		t.Errorf("read: %s, want success: a later job saw the writes", r.Status)
	}
	if strings.Contains(out, "LEAKED") || t.Failed() {
		t.Errorf("output:\n%s", out)
	}
	for _, name := range cases {
		if b, err := os.ReadFile(filepath.Join(dir, name+".txt")); err != nil || string(b) != "original\n" {
			t.Errorf("the work tree's %s.txt: %q, %v", name, b, err)
		}
	}
}

// TestAttackInPlaceWriteSeenByLaterJob: a job writes its build dir's files in place; neither
// a later job of the run nor its own retry may see it (each gets its own copy of the
// snapshot, as a fresh checkout on GitLab), and the work tree stays as it was.
func TestAttackInPlaceWriteSeenByLaterJob(t *testing.T) {
	t.Parallel()
	for _, tc := range inPlaceWrites {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cases := []string{tc.name}
			dir := isolationRepo(t, "", cases, map[string]string{tc.name: tc.script})
			sum, out := runPipeline(t, dir, nil)
			checkIsolated(t, dir, cases, sum, out)
		})
	}
}

// TestAttackInPlaceWriteSeenByLaterJobDocker is the same attack from Docker jobs, which write
// the build dir through a bind mount as root. One job makes every kind of write (on files of
// its own), for two containers rather than two per kind.
func TestAttackInPlaceWriteSeenByLaterJobDocker(t *testing.T) {
	cli := testenv.RequireDocker(t)
	busybox := testenv.BusyboxImage(t, cli)
	var cases []string
	scripts := map[string]string{}
	for _, tc := range inPlaceWrites {
		cases = append(cases, tc.name)
		scripts[tc.name] = tc.script
	}
	dir := isolationRepo(t, busybox, cases, scripts)
	sum, out := dockerRun(t, context.Background(), dir, nil)
	checkIsolated(t, dir, cases, sum, out)
	assertNoLeftovers(t, cli)
}
