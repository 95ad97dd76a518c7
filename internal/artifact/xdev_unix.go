//go:build unix

package artifact

import (
	"errors"
	"syscall"
)

// crossDevice reports whether a hard link failed because source and target are on
// different file systems, which no later link between the same trees can fix.
func crossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }
