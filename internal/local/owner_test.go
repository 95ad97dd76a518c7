package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// nonRootUID is the user the ownership test runs Slipway as when the test runs as root.
const nonRootUID = 4242

// TestBuildDirOwnedByInvokingUser runs a Docker job (as root inside its container) for a
// user who is not root but may use the Docker socket, and checks that every file the job made
// in its build directory belongs to that user: the classic root-owned-files pain of Docker in
// development. Run as root (CI), it re-runs itself as uid 4242 in the socket's group.
func TestBuildDirOwnedByInvokingUser(t *testing.T) {
	if os.Getenv("SLIPWAY_OWNER_CHILD") != "" {
		ownerChild(t, os.Getenv("SLIPWAY_OWNER_CHILD"))
		return
	}
	cli := testenv.RequireDocker(t)
	image := testenv.BusyboxImage(t, cli)
	uid := os.Getuid()
	dir, err := os.MkdirTemp("", "slipway-owner-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	repoDir := filepath.Join(dir, "repo")
	src := repo(t, map[string]string{".gitlab-ci.yml": `make-files:
  image: ` + image + `
  script:
    - id -u
    - mkdir -p out/deep && echo data > out/deep/file && touch made-in-container
`})
	if err := os.Rename(src, repoDir); err != nil {
		cp := exec.Command("cp", "-a", src, repoDir)
		if out, err := cp.CombinedOutput(); err != nil {
			t.Fatalf("copy repo: %v %s", err, out)
		}
	}
	if uid != 0 {
		ownerChild(t, repoDir)
		checkOwned(t, repoDir, uid)
		return
	}
	st, err := os.Stat("/var/run/docker.sock")
	if err != nil {
		t.Skipf("no local Docker socket to share with a non-root user: %v", err)
	}
	sockGID := st.Sys().(*syscall.Stat_t).Gid
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nonRootUID, nonRootUID) })
	// The test binary lives in a directory only root may enter: run a copy.
	self := filepath.Join(dir, "local.test")
	if out, err := exec.Command("cp", os.Args[0], self).CombinedOutput(); err != nil {
		t.Fatalf("copy test binary: %v %s", err, out)
	}
	cmd := exec.Command(self, "-test.run=^TestBuildDirOwnedByInvokingUser$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLIPWAY_OWNER_CHILD="+repoDir, "HOME="+dir, "GIT_CONFIG_GLOBAL=/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonRootUID, Gid: nonRootUID, Groups: []uint32{sockGID}}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("run as uid %d: %v\n%s", nonRootUID, err, out)
	}
	checkOwned(t, repoDir, nonRootUID)
}

// ownerChild runs the repository's pipeline (in the re-run test process).
func ownerChild(t *testing.T, repoDir string) {
	sum, out := dockerRun(t, t.Context(), repoDir, nil)
	if sum.Status != status.Success {
		t.Fatalf("pipeline %s\n%s", sum.Status, out)
	}
	if !strings.Contains(out, "│ 0\n") {
		t.Errorf("the job did not run as root in its container:\n%s", out)
	}
}

// checkOwned checks that everything in the job's build dir belongs to uid.
func checkOwned(t *testing.T, repoDir string, uid int) {
	t.Helper()
	build := filepath.Join(repoDir, ".slipway", "builds", "make-files")
	found := 0
	filepath.Walk(build, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if owner := int(info.Sys().(*syscall.Stat_t).Uid); owner != uid {
			t.Errorf("%s is owned by uid %d, want %d", p, owner, uid)
		}
		if strings.HasSuffix(p, "made-in-container") || strings.HasSuffix(p, "out/deep/file") {
			found++
		}
		return nil
	})
	if found != 2 {
		t.Errorf("found %d of the 2 files the job made in %s", found, build)
	}
}
