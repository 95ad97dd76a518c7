//go:build !linux

package shell

import (
	"context"
	"errors"
)

var errNoKillUID = errors.New("running jobs as uids of their own needs Linux (/proc and pidfd)")

func canKillUIDs() error { return errNoKillUID }

func killUID(context.Context, int) error { return errNoKillUID }
