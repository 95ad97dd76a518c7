package shell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Defaults of UIDRange: 70000 … 70999 lies between nobody (65534) and the ranges that
// useradd gives out for user namespaces (/etc/subuid, from 100000), and outside the ranges
// systemd allocates (dynamic service users 61184 … 65519, containers from 524288).
const (
	DefaultUIDBase  = 70000
	DefaultUIDCount = 1000
)

// UIDRange is a range of uids that belong to Slipway's shell jobs alone on this host: no
// user of the user database, no service, no container uses them. Every process of such a
// uid is a job's, and is killed when its job ends.
type UIDRange struct {
	// Base is the first uid; zero means DefaultUIDBase.
	Base int
	// Count is how many uids jobs may take from Base: as many shell jobs can run at once on
	// this host, over all the runners that share the range. Zero means DefaultUIDCount.
	Count int
}

// uidLockDir holds a lock file per uid of a UIDRange. It is the host's, not a runner's: the
// runners of a host (the server's built-in one and `slipway runner`s) share a range unless
// configured apart, and a uid must never be given to two jobs at once.
const uidLockDir = "/run/slipway/uids"

// killTimeout bounds the killing of a uid's processes.
const killTimeout = 10 * time.Second

// uidPool hands out the uids of a UIDRange, each to one job at a time on this host: the job
// holds an flock(2) on uidLockDir/UID while it runs.
type uidPool struct {
	first, last int
	log         *slog.Logger
}

// newUIDPool checks r and that this process can run jobs as its uids.
func newUIDPool(r UIDRange, log *slog.Logger) (*uidPool, error) {
	if r.Base == 0 {
		r.Base = DefaultUIDBase
	}
	if r.Count == 0 {
		r.Count = DefaultUIDCount
	}
	p := &uidPool{first: r.Base, last: r.Base + r.Count - 1, log: log}
	switch {
	case r.Base < 1 || r.Count < 1 || p.last > 1<<31-2:
		return nil, fmt.Errorf("job uids %d+%d: want a base of 1 or more and a count of 1 or more, within 2147483646", r.Base, r.Count)
	case p.first <= 65535 && p.last >= 65534:
		return nil, fmt.Errorf("job uids %d … %d: 65534 (nobody) and 65535 are no job's", p.first, p.last)
	case os.Geteuid() != 0:
		return nil, fmt.Errorf("job uids %d … %d: running jobs as uids of their own needs root (this process runs as uid %d)", p.first, p.last, os.Geteuid())
	}
	if err := canKillUIDs(); err != nil {
		return nil, fmt.Errorf("job uids: %w", err)
	}
	if err := os.MkdirAll(uidLockDir, 0o700); err != nil {
		return nil, fmt.Errorf("job uids: %w", err)
	}
	fi, err := os.Lstat(uidLockDir)
	if err != nil {
		return nil, fmt.Errorf("job uids: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || !fi.IsDir() || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("job uids: %s must be a directory of root's that no one else can write (it is %v, %s)", uidLockDir, fi.Mode(), owner(fi))
	}
	return p, nil
}

// lease is a uid held by one job.
type lease struct {
	uid  int
	lock *os.File
}

// take leases the first uid of the range that no job holds, after killing what a job of it
// left when its runner died. A uid whose processes cannot be killed is passed over.
func (p *uidPool) take(ctx context.Context) (*lease, error) {
	for uid := p.first; uid <= p.last; uid++ {
		path := filepath.Join(uidLockDir, strconv.Itoa(uid))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lease a job uid: %w", err)
		}
		if err := flockNB(f); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue // another job's
			}
			return nil, fmt.Errorf("lease a job uid: lock %s: %w", path, err)
		}
		l := &lease{uid: uid, lock: f}
		if err := sweep(ctx, uid); err != nil {
			p.log.Warn("job uid passed over", "uid", uid, "err", err)
			l.release()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return l, nil
	}
	return nil, fmt.Errorf("lease a job uid: all of %d … %d are held by running jobs (raise the runners' shell.uid_count)", p.first, p.last)
}

// release lets another job take the uid.
func (l *lease) release() { l.lock.Close() }

// user is the job user of a leased uid: its group is the uid's number, and its name the one
// the user database gives the uid, else the number.
func (l *lease) user() *jobUser {
	u := &jobUser{name: strconv.Itoa(l.uid), uid: l.uid, gid: l.uid}
	if pw, err := user.LookupId(u.name); err == nil {
		u.name = pw.Username
	}
	return u
}

func flockNB(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// sweep removes what a job of uid may have left outside its build and script directories:
// its processes (setsid, daemons: all of them, the uid is the job's alone), then its files
// and directories at the top of the shared temporary directories.
func sweep(ctx context.Context, uid int) error {
	ctx, cancel := context.WithTimeout(ctx, killTimeout)
	defer cancel()
	if err := killUID(ctx, uid); err != nil {
		return err
	}
	return removeTempFiles(uid)
}

// sharedTempDirs are where any user can make files that outlive a job.
func sharedTempDirs() []string {
	dirs := []string{"/tmp", "/var/tmp", "/dev/shm"}
	if d := os.TempDir(); d != "/tmp" {
		dirs = append(dirs, d)
	}
	return dirs
}

// removeTempFiles removes the entries of the shared temporary directories that uid owns,
// beneath an os.Root of each (a symbolic link is removed, never followed).
func removeTempFiles(uid int) error {
	var errs []error
	for _, dir := range sharedTempDirs() {
		r, err := os.OpenRoot(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		list, err := fs.ReadDir(r.FS(), ".")
		if err != nil {
			errs = append(errs, fmt.Errorf("remove the job's temporary files: %w", err))
		}
		for _, d := range list {
			fi, err := d.Info()
			if err != nil {
				continue // gone
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid {
				if err := r.RemoveAll(d.Name()); err != nil {
					errs = append(errs, fmt.Errorf("remove the job's temporary files: %w", err))
				}
			}
		}
		r.Close()
	}
	return errors.Join(errs...)
}
