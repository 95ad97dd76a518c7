package gitcmd

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

func TestErrorHidesPasswords(t *testing.T) {
	e := &Error{Args: []string{"fetch", "https://u:secret@h/x.git"}, Stderr: "fatal: https://u:secret@h/x.git/: 404"}
	if got := e.Error(); strings.Contains(got, "secret") || !strings.Contains(got, "u:xxxxx@h") {
		t.Errorf("error %q: want the password replaced", got)
	}
}

func TestRun(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	out, _, err := Run(ctx, Env(nil), nil, []string{"-C", dir}, "--version")
	if err != nil || !strings.HasPrefix(string(out), "git version") {
		t.Fatalf("git --version = %q, %v", out, err)
	}
	_, stderr, err := Run(ctx, Env(nil), nil, []string{"-C", dir}, "rev-parse", "HEAD")
	if code := ExitCode(err); code != 128 {
		t.Fatalf("rev-parse outside a repository: exit code %d (%v), want 128", code, err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "git rev-parse HEAD: ") || strings.Contains(msg, dir) || stderr == "" {
		t.Errorf("error %q (stderr %q): want it to name the command, not the directory", msg, stderr)
	}
	if ExitCode(context.Canceled) != -1 {
		t.Error("ExitCode of a non-git error is not -1")
	}
}
