package artifact

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/testenv"
)

// TestAttackDotenvDeviceOpened: a dotenv report that is a device (a Docker job, root in its
// container, makes any with mknod) must not even be opened: opening some acts (a watchdog
// starts its countdown). inotify sees the open of a FIFO in its place.
func TestAttackDotenvDeviceOpened(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fifo := filepath.Join(root, "build.env")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, fifo, syscall.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDotenv(root, "build.env", 0, DotenvLimits{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadDotenv of a FIFO: %v", err)
	}
	// ReadDotenv has returned: an open it made is queued by now.
	buf := make([]byte, 4096)
	if n, err := syscall.Read(fd, buf); n > 0 {
		t.Error("ReadDotenv opened the FIFO")
	} else if err != syscall.EAGAIN {
		t.Fatalf("read inotify events: %v", err)
	}
}

// TestAttackHardLinkedHostFile: a shell job, running as a uid of its own, hard-links a file of
// the host it cannot read (the server's database; fs.protected_hardlinks=0 allows it) into its
// build dir, as an artifact, a cache path and a dotenv report. The runner, root, reads them
// after the job: what it collects must not hold the host's file, while the job's own files,
// hard-linked ones too, and those given back to the runner (one link) are collected.
func TestAttackHardLinkedHostFile(t *testing.T) {
	testenv.RequireRoot(t)
	const jobUID = 79950
	base := t.TempDir()
	mkTree(t, base, map[string]string{"data/slipway.db": "every project's secrets", "data/env": "STOLEN=every project's secrets"})
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{"out/own.txt": "the job's", "out/given.txt": "given back", "own.env": "MINE=1"})
	for _, p := range []string{"out/own.txt", "own.env"} {
		if err := os.Chown(filepath.Join(root, p), jobUID, jobUID); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"out/db":       filepath.Join(base, "data/slipway.db"),
		"out/own2.txt": filepath.Join(root, "out/own.txt"), // the job's own, linked twice
		"build.env":    filepath.Join(base, "data/env"),
		"own2.env":     filepath.Join(root, "own.env"),
	} {
		// Made as root here: the sysctl does not stop root, and the job could make it with 0.
		if err := os.Link(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, paths := range [][]string{{"out/"}, {"out/db", "out/*.txt"}} {
		dst := filepath.Join(t.TempDir(), "store")
		rep, err := CollectMax(root, dst, &pipeline.Artifacts{Paths: paths}, nil, nil, 1<<20, jobUID)
		if err != nil {
			t.Fatal(err)
		}
		diffTrees(t, listTree(t, dst), map[string]string{"out/": "", "out/own.txt": "the job's", "out/own2.txt": "the job's", "out/given.txt": "given back"})
		if !strings.Contains(strings.Join(rep.Warnings, "\n"), "out/db: skipped: a hard link") {
			t.Errorf("paths %v: warnings %q", paths, rep.Warnings)
		}
	}
	if _, err := ReadDotenv(root, "build.env", jobUID, DotenvLimits{}); err == nil || !strings.Contains(err.Error(), "a hard link") {
		t.Errorf("ReadDotenv of a link to the host's file = %v, want: a hard link", err)
	}
	if vs, err := ReadDotenv(root, "own2.env", jobUID, DotenvLimits{}); err != nil || len(vs) != 1 || vs[0].Value != "1" {
		t.Errorf("ReadDotenv of the job's own linked report = %v, %v", vs, err)
	}
	// Without a job uid (the job ran as the reader), the link is the reader's own business.
	dst := filepath.Join(t.TempDir(), "store")
	if _, err := CollectMax(root, dst, &pipeline.Artifacts{Paths: []string{"out/db"}}, nil, nil, 1<<20, 0); err != nil {
		t.Fatal(err)
	} else if got := listTree(t, dst); got["out/db"] == "" {
		t.Errorf("without a job uid: %v", got)
	}
}
