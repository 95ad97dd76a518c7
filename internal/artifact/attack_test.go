package artifact

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// TestAttackArtifactSymlinkEscape: a job still running while its artifacts are collected (a
// process it left behind) replaces a directory it named by a link to the host between the scan
// and the copy. Nothing of the host may be stored, linked or copied.
func TestAttackArtifactSymlinkEscape(t *testing.T) {
	t.Parallel()
	for _, link := range []bool{true, false} {
		name := "copy"
		if link {
			name = "hard link"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			root := filepath.Join(base, "build")
			mkTree(t, root, map[string]string{"dist/a.txt": "job file"})
			mkTree(t, base, map[string]string{"outside/a.txt": "host secret"})
			c, err := newCollector(root)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			c.addPath("dist/")
			entries := c.sorted()
			if err := os.Rename(filepath.Join(root, "dist"), filepath.Join(root, "dist.old")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "dist")); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(base, "store")
			_, _, err = writeTree(dst, entries, link)
			t.Logf("writeTree: %v", err)
			if b, err := os.ReadFile(filepath.Join(dst, "dist", "a.txt")); err == nil && strings.Contains(string(b), "host") {
				t.Errorf("the host's file was collected: %q", b)
			}
		})
	}
}

// TestAttackKeyFilesSymlink: cache:key:files never hashes (so never reads) a file outside the
// build directory.
func TestAttackKeyFilesSymlink(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{"lock": "-> ../outside/lock", "dir": "-> ../outside", "own": "x"})
	mkTree(t, base, map[string]string{"outside/lock": "host v1"})
	c := pipeline.Cache{KeyFiles: []string{"lock", "dir/lock", "own"}}
	k1, err := CacheKey(c, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	mkTree(t, base, map[string]string{"outside/lock2": ""})
	if err := os.WriteFile(filepath.Join(base, "outside", "lock"), []byte("host v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	k2, err := CacheKey(c, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != k2 {
		t.Errorf("the key changed with a host file: %s, %s", k1, k2)
	}
}

func TestReadDotenv(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{
		"ok.env":     "A=1\nB=2\n",
		"link.env":   "-> ok.env",
		"escape.env": "-> ../secret.env",
		"proc.env":   "-> /proc/self/environ",
		"dir":        "-> ..",
		"big.env":    strings.Repeat("X=1\n", 20),
		"many.env":   "A=1\nB=2\nC=3\n",
	})
	mkTree(t, base, map[string]string{"secret.env": "STOLEN=1\n"})
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.env"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := DotenvLimits{Size: 40, Vars: 2}
	for _, tc := range []struct {
		name string
		want string // the variables "K=V,…", or an error's text
	}{
		{name: "ok.env", want: "A=1,B=2"},
		{name: "link.env", want: "A=1,B=2"},
		{name: "escape.env", want: "escapes"},
		{name: "proc.env", want: "escapes"},
		{name: "dir/secret.env", want: "escapes"},
		{name: "../secret.env", want: "escapes"},
		{name: filepath.Join(base, "secret.env"), want: "escapes"},
		{name: "fifo.env", want: "not a regular file"},
		{name: "big.env", want: "larger than 40 bytes"},
		{name: "many.env", want: "more than 2 variables"},
		{name: "missing.env", want: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			var got string
			go func() {
				defer close(done)
				vs, err := ReadDotenv(root, tc.name, 0, l)
				if err != nil {
					got = err.Error()
					if strings.Contains(tc.want, "than") && !errors.Is(err, ErrDotenvLimit) {
						t.Errorf("%v is not ErrDotenvLimit", err)
					}
					return
				}
				var kv []string
				for _, v := range vs {
					kv = append(kv, v.Key+"="+v.Value)
				}
				got = strings.Join(kv, ",")
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadDotenv blocked")
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("ReadDotenv(%s) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

// TestAttackJunitSymlink: JUnit reports that are links to the host, or lie below a link that
// leaves the build directory, are never listed for reading.
func TestAttackJunitSymlink(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{
		"report.xml":   "<testsuite/>",
		"passwd.xml":   "-> /etc/passwd",
		"host.xml":     "-> ../outside/host.xml",
		"reports":      "-> ../outside",
		"in/inner.xml": "<testsuite/>",
		"in/up":        "-> ../..",
	})
	mkTree(t, base, map[string]string{"outside/host.xml": "<testsuite/>"})
	files := JUnitFiles(root, []string{"*.xml", "reports/*.xml", "reports/", "in/up/outside/host.xml", "in/"})
	want := []string{"in/inner.xml", "report.xml"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Errorf("JUnitFiles = %q, want %q", files, want)
	}
	// And JUnit opens what it is given beneath the build directory only.
	if got, err := JUnit(root, []string{"passwd.xml", "host.xml", "reports/host.xml", "in/up/outside/host.xml"}, 0, 0); err == nil || got.Tests != 0 {
		t.Errorf("links to the host were read: %+v, %v", got, err)
	}
}

// TestCollectMax: a selection over the limit is refused before anything is stored, and the
// error says so.
func TestCollectMax(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{"a": "12345", "b": "678"})
	dst := filepath.Join(base, "store")
	if _, err := CollectMax(root, dst, &pipeline.Artifacts{Paths: []string{"a", "b"}}, nil, nil, 7, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CollectMax over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("something was stored")
	}
	if rep, err := CollectMax(root, dst, &pipeline.Artifacts{Paths: []string{"a", "b"}}, nil, nil, 8, 0); err != nil || rep.Files != 2 {
		t.Errorf("CollectMax at the limit: %+v, %v", rep, err)
	}
}

// TestAttackSetuidThroughCache: a job (root in a Docker container) leaves a set-user-ID,
// set-group-ID file among its cache paths or artifacts; the tree made of it, and what a later
// job gets from that tree, has plain permissions.
func TestAttackSetuidThroughCache(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	bin := filepath.Join(src, "bin")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755|fs.ModeSetuid|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&fs.ModeSetuid == 0 {
		t.Skipf("this file system keeps no set-user-ID bit (%v)", err)
	}
	if err := Mirror(src, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); got&(fs.ModeSetuid|fs.ModeSetgid) != 0 || got.Perm() != 0o755 {
		t.Errorf("copied mode %v, want -rwxr-xr-x", got)
	}
}
