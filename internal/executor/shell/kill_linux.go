package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// canKillUIDs reports whether killUID works here: it needs pidfd_open(2) (Linux 5.3).
func canKillUIDs() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("killing the processes of a job's uid needs pidfd_open (Linux 5.3 or later): %w", err)
	}
	return unix.Close(fd)
}

// killUID sends SIGKILL to every process of uid, again and again until none is left or ctx
// ends: a process may fork while the processes are listed, but not once it is killed.
// Zombies count as gone: they run nothing and wait for a parent to reap them.
func killUID(ctx context.Context, uid int) error {
	pause := time.Millisecond
	for {
		n, err := signalUID(uid, unix.SIGKILL)
		if err != nil {
			return fmt.Errorf("kill the processes of uid %d: %w", uid, err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill the processes of uid %d: %d still running: %w", uid, n, context.Cause(ctx))
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// signalUID sends sig to the live processes of uid (real, effective, saved or file-system
// uid: a set-user-ID program a job started counts) and returns how many it found. Each
// process is held by a pidfd from before its status is read to the signal, so that a PID
// reused meanwhile by another process is never signaled.
func signalUID(uid int, sig unix.Signal) (int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone
		}
		if ofUID(pid, uid) {
			if err := unix.PidfdSendSignal(fd, sig, nil, 0); err == nil {
				n++
			} else if !errors.Is(err, unix.ESRCH) {
				unix.Close(fd)
				return n, fmt.Errorf("signal process %d: %w", pid, err)
			}
		}
		unix.Close(fd)
	}
	return n, nil
}

// ofUID reports whether process pid is alive (not a zombie) and has uid among its uids.
func ofUID(pid, uid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	want := strconv.Itoa(uid)
	mine := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), ":")
		switch key {
		case "State":
			if s := strings.TrimSpace(value); strings.HasPrefix(s, "Z") || strings.HasPrefix(s, "X") {
				return false
			}
		case "Uid":
			for _, f := range strings.Fields(value) {
				mine = mine || f == want
			}
		}
	}
	return mine
}
