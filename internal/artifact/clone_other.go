//go:build !linux

package artifact

import (
	"errors"
	"os"
)

// cloneFile makes reflinks only on Linux; elsewhere files are copied.
func cloneFile(out, in *os.File) error { return errors.ErrUnsupported }

// cloneRefused reports whether a reflink failed for good: always, here.
func cloneRefused(err error) bool { return true }
