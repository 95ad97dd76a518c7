package artifact

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
	if _, err := ReadDotenv(root, "build.env", DotenvLimits{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
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
