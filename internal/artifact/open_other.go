//go:build !unix

package artifact

import (
	"io/fs"
	"os"
)

// openSource opens a regular file for reading.
func openSource(p string) (*os.File, error) { return os.Open(p) }

// createExcl creates the file p, which must not exist, for writing.
func createExcl(p string, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
}

// openIn opens the regular file name beneath r for reading, and refuses anything but a
// regular file.
func openIn(r *os.Root, name string) (*os.File, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	return regular(f)
}

// foreignLink cannot tell links here: a job runs as the user reading its files.
func foreignLink(fs.FileInfo, int) bool { return false }

// identity is unknown here: files of a build directory are copied, never linked.
func identity(fs.FileInfo) any { return nil }
