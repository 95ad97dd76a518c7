package shell

import (
	"context"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/testenv"
)

// reachableDir returns a new directory every user can search down to.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// nobody is the user the tests run jobs as.
func nobody(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func ownerOf(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func write(t *testing.T, path, body string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
}

// prepareAs prepares a job running as nobody in build dir dir.
func prepareAs(t *testing.T, dir, fileDir string, vars ...string) (*env, error) {
	t.Helper()
	x, err := New(Options{User: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := x.Prepare(t.Context(), &executor.Job{Name: "as nobody", ID: 9, BuildDir: dir, ProjectDir: dir, Env: vars, FileDir: fileDir}, io.Discard)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { e.Cleanup(context.Background()) })
	return e.(*env), nil
}

// A job of a root runner runs as the job user, without supplementary groups, with a HOME of
// its own, in a build dir given to it; Cleanup gives everything back to the runner's user.
func TestUserRunsTheJob(t *testing.T) {
	testenv.RequireRoot(t)
	uid, gid := nobody(t)
	dir := filepath.Join(reachableDir(t), "build")
	write(t, filepath.Join(dir, "checked-out", "file"), "from the checkout\n", 0o600)
	files := t.TempDir() // as run.Run makes it: 0700, files 0600
	write(t, filepath.Join(files, "KUBECONFIG"), "file variable\n", 0o600)
	e, err := prepareAs(t, dir, files, "KUBECONFIG="+filepath.Join(files, "KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runScript(t, e,
		`echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) user=$USER logname=$LOGNAME home=$HOME"`,
		`test -d "$HOME" && test -w "$HOME" && touch "$HOME/.history"`,
		"cat checked-out/file", `cat "$KUBECONFIG"`,
		"umask 077", "mkdir -p out && echo made by the job > out/private.txt")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	want := "uid=" + strconv.Itoa(uid) + " gid=" + strconv.Itoa(gid) + " groups=" + strconv.Itoa(gid) + " user=nobody logname=nobody home=" + filepath.Join(e.tmp, "home") + "\n"
	for _, s := range []string{want, "from the checkout\n", "file variable\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if err := e.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "checked-out", "file"), filepath.Join(dir, "out"), filepath.Join(dir, "out", "private.txt")} {
		if u, g := ownerOf(t, p); u != os.Getuid() || g != os.Getgid() {
			t.Errorf("%s is owned by %d:%d after Cleanup, want the runner's", p, u, g)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out", "private.txt")); err != nil || string(b) != "made by the job\n" {
		t.Errorf("the job's file, for artifacts: %q, %v", b, err)
	}
}

// What the runner's user keeps to itself stays its own: a private directory, its process's
// environment, a file hard-linked into the build dir (the runner's cache store), and what a
// symbolic link in the build dir points at.
func TestUserCannotReadTheRunners(t *testing.T) {
	testenv.RequireRoot(t)
	top := reachableDir(t)
	data := filepath.Join(top, "data")
	write(t, filepath.Join(data, "slipway.db"), "every project's variables\n", 0o600)
	if err := os.Chmod(data, 0o711); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(top, "outside")
	write(t, outside, "the runner's\n", 0o644)
	dir := filepath.Join(top, "build")
	write(t, filepath.Join(dir, "keep"), "x", 0o644)
	if err := os.Link(outside, filepath.Join(dir, "cached")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLIPWAY_T_RUNNER_SECRET", "runner-secret-value")
	e, err := prepareAs(t, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{outside, filepath.Join(dir, "cached")} {
		if u, _ := ownerOf(t, p); u != os.Getuid() {
			t.Errorf("%s was given to the job user", p)
		}
	}
	for name, cmd := range map[string]string{
		"database":     "cat " + filepath.Join(data, "slipway.db"),
		"list data":    "ls " + data,
		"environ":      "cat /proc/$PPID/environ",
		"cached file":  "echo poisoned > cached",
		"through link": "echo poisoned > link",
	} {
		out, err := runScript(t, e, cmd)
		if err == nil || strings.Contains(out, "every project") || strings.Contains(out, "runner-secret-value") {
			t.Errorf("%s: %s succeeded (%v):\n%s", name, cmd, err, out)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "the runner's\n" {
		t.Errorf("the job wrote the runner's file: %q", b)
	}
}

// A build dir the job user cannot reach fails Prepare with a message that says why.
func TestUserUnreachableBuildDir(t *testing.T) {
	testenv.RequireRoot(t)
	private := t.TempDir() // 0700
	dir := filepath.Join(private, "build")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := prepareAs(t, dir, "")
	if err == nil || !strings.Contains(err.Error(), "cannot reach it") || !strings.Contains(err.Error(), private) {
		t.Errorf("Prepare = %v, want: the job user cannot reach it, naming %s", err, private)
	}
	x, err := New(Options{User: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.CheckBuildsDir(filepath.Join(private, "builds", "not", "yet")); err == nil || !strings.Contains(err.Error(), private) {
		t.Errorf("CheckBuildsDir under %s = %v, want: cannot reach it", private, err)
	}
	if err := x.CheckBuildsDir(filepath.Join(reachableDir(t), "builds", "not", "yet")); err != nil {
		t.Errorf("CheckBuildsDir of a reachable dir: %v", err)
	}
}

// The runner's own user, by name or uid, runs jobs as is; another user needs root.
func TestLookupUser(t *testing.T) {
	t.Parallel()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{me.Username, me.Uid} {
		if u, err := lookupUser(name); err != nil || u != nil {
			t.Errorf("lookupUser(%q) = %v, %v: want this process's user", name, u, err)
		}
	}
	if _, err := lookupUser("no-such-user-slipway"); err == nil {
		t.Error("an unknown user was found")
	}
	if os.Geteuid() != 0 {
		if _, err := lookupUser("nobody"); err == nil || !strings.Contains(err.Error(), "needs root") {
			t.Errorf("lookupUser(nobody) as uid %d = %v, want: needs root", os.Geteuid(), err)
		}
	}
}
