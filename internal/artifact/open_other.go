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
