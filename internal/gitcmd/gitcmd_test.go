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

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://u:secret@h/x.git", "https://u:xxxxx@h/x.git"},
		{"fatal: unable to access 'https://oauth2:glpat-secret@gitlab.example/g/p.git/': 403", "fatal: unable to access 'https://oauth2:xxxxx@gitlab.example/g/p.git/': 403"},
		{"https://ghp_secret@github.com/o/r", "https://xxxxx@github.com/o/r"},
		{"HTTP://secret@h", "HTTP://xxxxx@h"},
		{"https://u:p@ss@h/x", "https://u:xxxxx@h/x"},
		{"https://u:%zzsecret@h/x", "https://u:xxxxx@h/x"},
		{"a https://a:b@h and https://c:d@i", "a https://a:xxxxx@h and https://c:xxxxx@i"},
		{"ssh://git@h/x.git", "ssh://git@h/x.git"},
		{"ssh://git:secret@h/x.git", "ssh://git:xxxxx@h/x.git"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"https://h/x?mail=a@b", "https://h/x?mail=a@b"},
		{"/srv/repos/x.git", "/srv/repos/x.git"},
	} {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
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
