//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package artifact

import "os"

// lockShared opens the lock file p (created when create is set). Without flock(2) it locks
// nothing; tryLockExclusive then never succeeds, so old cache versions are never removed
// while someone may read them.
func lockShared(p string, create bool) (unlock func(), err error) {
	flag := os.O_RDONLY
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flag, 0o666)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

func tryLockExclusive(string) (unlock func(), ok bool) { return nil, false }
