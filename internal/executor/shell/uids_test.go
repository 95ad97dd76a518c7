package shell

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/executortest"
	"github.com/slipway/slipway/internal/testenv"
)

// The conformance suite, with each job as a uid of its own.
func TestSuiteOwnUIDs(t *testing.T) {
	testenv.RequireRoot(t)
	x, err := New(Options{UIDs: &UIDRange{}})
	if err != nil {
		t.Fatal(err)
	}
	executortest.Run(t, executortest.Suite{
		New: func(*testing.T) executor.Executor { return x },
		Job: func(t *testing.T, dir string) *executor.Job {
			reachable(t, dir)
			return &executor.Job{BuildDir: dir, ProjectDir: dir}
		},
		Leftovers: executortest.HostProcesses,
	})
}

// reachable makes every directory from dir up to the temp dir searchable by every user.
func reachable(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// prepareOwn prepares a job with a uid of its own from r in a new build dir holding a file
// variable's dir, as run.Run makes it, and cleans it up when the test ends.
func prepareOwn(t *testing.T, r UIDRange) (*env, *executor.Job) {
	t.Helper()
	x, err := New(Options{UIDs: &r})
	if err != nil {
		t.Fatal(err)
	}
	top := t.TempDir()
	reachable(t, top)
	dir := filepath.Join(top, "build")
	write(t, filepath.Join(dir, "README"), "checked out\n", 0o644)
	files := executor.TmpDir(dir)
	write(t, filepath.Join(files, "KUBECONFIG"), "file-variable-secret\n", 0o600)
	job := &executor.Job{Name: "own uid", ID: 5, BuildDir: dir, ProjectDir: dir, FileDir: files,
		Env: []string{"KUBECONFIG=" + filepath.Join(files, "KUBECONFIG")}}
	e, err := x.Prepare(t.Context(), job, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Cleanup(context.Background()) })
	return e.(*env), job
}

// processesOf lists the live processes whose real or effective uid is uid.
func processesOf(t *testing.T, uid int) []string {
	t.Helper()
	names, err := filepath.Glob("/proc/[0-9]*/status")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		var state, uids string
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				uids = v
			}
		}
		f := strings.Fields(uids)
		if len(f) >= 2 && (f[0] == strconv.Itoa(uid) || f[1] == strconv.Itoa(uid)) && !strings.HasPrefix(state, "Z") {
			cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(name), "cmdline"))
			found = append(found, filepath.Base(filepath.Dir(name))+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return found
}

// A job runs as a uid of its own that no user of the host has, with a HOME and a TMPDIR of
// its own, its name in USER and LOGNAME, no supplementary groups, and its build dir, script
// and file variables readable by it alone.
func TestOwnUIDRunsTheJob(t *testing.T) {
	testenv.RequireRoot(t)
	e, job := prepareOwn(t, UIDRange{})
	uid := e.as.uid
	if uid < DefaultUIDBase || uid >= DefaultUIDBase+DefaultUIDCount {
		t.Fatalf("uid %d, want one of %d+%d", uid, DefaultUIDBase, DefaultUIDCount)
	}
	out, err := runScript(t, e,
		`echo "ids=$(id -u):$(id -g):$(id -G) user=$USER logname=$LOGNAME"`,
		`echo "home=$HOME tmpdir=$TMPDIR"`,
		`touch "$HOME/h" "$TMPDIR/t" && echo writable`,
		`cat README "$KUBECONFIG"`,
		`ls -ln "$0" | cut -c1-10`,
		`stat -c '%a %u' . "$KUBECONFIG" "$(dirname "$KUBECONFIG")" "$HOME" "$TMPDIR"`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	u := strconv.Itoa(uid)
	for _, want := range []string{
		"ids=" + u + ":" + u + ":" + u + " user=" + u + " logname=" + u + "\n",
		"home=" + filepath.Join(e.tmp, "home") + " tmpdir=" + filepath.Join(e.tmp, "tmp") + "\n",
		"writable\n", "checked out\nfile-variable-secret\n", "-rwx------\n",
		"700 " + u + "\n600 " + u + "\n700 " + u + "\n700 " + u + "\n700 " + u + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if err := e.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if owner, _ := ownerOf(t, filepath.Join(job.BuildDir, "README")); owner != os.Getuid() {
		t.Errorf("the build dir is uid %d's after Cleanup", owner)
	}
}

// TestAttackBackgroundProcessOutlivesJob: a job leaves processes that leave its process group
// (setsid, a double fork) and a file in /tmp, to read what later jobs of its uid do. When the
// job is cleaned up, nothing of its uid remains.
func TestAttackBackgroundProcessOutlivesJob(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Fatalf("setsid: %v", err)
	}
	e, _ := prepareOwn(t, UIDRange{})
	uid := e.as.uid
	leftover := filepath.Join(os.TempDir(), "slipway-test-spy-"+strconv.Itoa(uid))
	out, err := runScript(t, e,
		`setsid sh -c 'touch "$TMPDIR/a"; exec sleep 1000' </dev/null >/dev/null 2>&1 &`,
		`( setsid sh -c 'sh -c "touch $TMPDIR/b; exec sleep 1001" </dev/null >/dev/null 2>&1 &' & )`,
		`setsid sh -c 'touch "$TMPDIR/c"; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &`,
		// Each has left the script's process group once it made its file.
		`i=0; until [ -e "$TMPDIR/a" ] && [ -e "$TMPDIR/b" ] && [ -e "$TMPDIR/c" ]; do i=$((i+1)); [ $i -lt 1000 ] || exit 1; sleep 0.01; done`,
		`echo spy > `+leftover)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	// The script is done and its process group killed: what left the group still runs.
	if left := processesOf(t, uid); len(left) < 3 {
		t.Fatalf("the job's background processes did not start: %v\n%s", left, out)
	}
	if err := e.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left := processesOf(t, uid); len(left) > 0 {
		t.Errorf("processes of the job's uid %d outlived it: %v", uid, left)
	}
	if _, err := os.Lstat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the job's file in the temp dir outlived it: %v", err)
	}
}

// Jobs that run at once hold different uids, over executors that share the range (as the
// runners of a host do), and a range with none free fails Prepare saying why.
func TestOwnUIDsApart(t *testing.T) {
	testenv.RequireRoot(t)
	r := UIDRange{Base: 79900, Count: 2}
	a, _ := prepareOwn(t, r)
	b, _ := prepareOwn(t, r)
	if a.as.uid == b.as.uid {
		t.Fatalf("two jobs hold uid %d", a.as.uid)
	}
	x, err := New(Options{UIDs: &r})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	reachable(t, dir)
	if _, err := x.Prepare(t.Context(), &executor.Job{BuildDir: dir, ProjectDir: dir}, io.Discard); err == nil || !strings.Contains(err.Error(), "held by running jobs") {
		t.Errorf("Prepare with every uid held = %v, want: held by running jobs", err)
	}
	if err := a.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, _ := prepareOwn(t, r)
	if c.as.uid != a.as.uid {
		t.Errorf("the job after a's took uid %d, want a's %d, free again", c.as.uid, a.as.uid)
	}
}

// What a job left running when its runner died (no Cleanup) is killed before another job
// takes its uid.
func TestOwnUIDKillsLeftovers(t *testing.T) {
	testenv.RequireRoot(t)
	const uid = 79910
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	e, _ := prepareOwn(t, UIDRange{Base: uid, Count: 1})
	if e.as.uid != uid {
		t.Fatalf("uid %d, want %d", e.as.uid, uid)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the leftover process of the uid still runs after Prepare")
	}
}

func TestUIDRangeChecked(t *testing.T) {
	t.Parallel()
	for _, r := range []UIDRange{{Base: -1}, {Count: -5}, {Base: 65000, Count: 600}, {Base: 1 << 31, Count: 1}} {
		if _, err := New(Options{UIDs: &r}); err == nil {
			t.Errorf("New with uids %+v: no error", r)
		}
	}
	if _, err := New(Options{UIDs: &UIDRange{}, User: "nobody"}); err == nil {
		t.Error("New with uids and a user: no error")
	}
	if os.Geteuid() != 0 {
		if _, err := New(Options{UIDs: &UIDRange{}}); err == nil || !strings.Contains(err.Error(), "needs root") {
			t.Errorf("New with uids as uid %d = %v, want: needs root", os.Geteuid(), err)
		}
	}
}
