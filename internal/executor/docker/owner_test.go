//go:build unix

package docker

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/testenv"
)

// testOwner stands for the invoking user: the tests run as root, which needs no fixing.
var testOwner = Owner{UID: 4242, GID: 4242}

// notOwned lists the paths under dir not owned by o.
func notOwned(t *testing.T, dir string, o Owner) []string {
	t.Helper()
	var bad []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if uid, ok := fileOwner(info); !ok || uid != o.UID {
			bad = append(bad, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// ownedBuildDir returns job's build directory made owned by testOwner and writable by all.
func ownedBuildDir(t *testing.T, job *executor.Job) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to give the build directory to another user")
	}
	if err := os.Chown(job.BuildDir, testOwner.UID, testOwner.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(job.BuildDir, 0o777); err != nil {
		t.Fatal(err)
	}
}

func TestOwnership(t *testing.T) {
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	x := newExecutor(t, cli, Options{Owner: &testOwner})
	create := []string{"mkdir -p sub/deeper", "echo x > sub/deeper/f", "touch top", "ln -s /etc/passwd link"}

	tests := []struct {
		name string
		user string
	}{
		{name: "root step (trap)"},
		{name: "non-root step (chown container)", user: "1000:1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := newJob(t, image)
			job.User = tt.user
			ownedBuildDir(t, job)
			e, _ := prepare(t, cli, x, job)
			// A failing step gives the files back too.
			out, err := run(t, e, append(create, "exit 5")...)
			if code, ok := executor.ExitCode(err); !ok || code != 5 {
				t.Fatalf("Run = %v, want exit code 5\n%s", err, out)
			}
			if bad := notOwned(t, job.BuildDir, testOwner); len(bad) > 0 {
				t.Errorf("after the step, not owned by uid %d: %q", testOwner.UID, bad)
			}
			// The symlink itself changed owner; its target in the container did not matter.
			if fi, err := os.Lstat(filepath.Join(job.BuildDir, "link")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("link: %v %v", fi, err)
			}
		})
	}

	t.Run("killed step (Cleanup)", func(t *testing.T) {
		t.Parallel()
		job := newJob(t, image)
		ownedBuildDir(t, job)
		var log strings.Builder
		e, err := x.Prepare(t.Context(), job, &log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Cleanup(context.Background()) }) // if the test stops early
		var out syncBuffer
		err = e.Run(t.Context(), executor.Script{Name: "step_script", Timeout: time.Second,
			Commands: []string{"touch late", "sleep 30"}}, &out)
		if err == nil {
			t.Fatal("Run did not time out")
		}
		// The kill skipped the trap: root owns the file until Cleanup.
		if bad := notOwned(t, job.BuildDir, testOwner); len(bad) != 1 || filepath.Base(bad[0]) != "late" {
			t.Logf("before Cleanup, not owned: %q", bad)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		if bad := notOwned(t, job.BuildDir, testOwner); len(bad) > 0 {
			t.Errorf("after Cleanup, not owned by uid %d: %q", testOwner.UID, bad)
		}
		if left := leftovers(t, cli, job); len(left) > 0 {
			t.Errorf("left behind: %q", left)
		}
	})

	t.Run("root owner (nothing to do)", func(t *testing.T) {
		t.Parallel()
		x := newExecutor(t, cli, Options{Owner: &Owner{}})
		job := newJob(t, image)
		e, _ := prepare(t, cli, x, job)
		if text := e.(*env).scriptText(executor.Script{Commands: []string{"true"}}); strings.Contains(text, "trap") {
			t.Errorf("script for a root owner has a trap:\n%s", text)
		}
		if out, err := run(t, e, "touch f"); err != nil {
			t.Fatalf("Run: %v\n%s", err, out)
		}
		if bad := notOwned(t, job.BuildDir, Owner{}); len(bad) > 0 {
			t.Errorf("not owned by root: %q", bad)
		}
	})
}
