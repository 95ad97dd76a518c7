package artifact

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// cloneFile makes out, an empty file, share in's data (a reflink, FICLONE): one call and no
// data written whatever the size, on file systems that have them (Btrfs, XFS, bcachefs). A
// later write to either file gives it blocks of its own, so a copy made this way is as
// independent as one made byte by byte.
func cloneFile(out, in *os.File) error {
	return unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
}

// cloneRefused reports whether a reflink failed because the file systems cannot make one
// (none on this one: ext4, tmpfs; or source and target on two file systems), which no later
// file of the same trees would change.
func cloneRefused(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || // EOPNOTSUPP, ENOSYS
		errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EBADF)
}
