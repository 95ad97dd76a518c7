package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway/slipway/internal/pipeline"
)

// exitInternal is the exit code of a bug in Slipway (sysexits' EX_SOFTWARE), apart from
// exitFail, a configuration or environment the user can fix.
const exitInternal = 70

// guarded runs c. A panic in it (a bug) is reported as an internal error, never as a bare stack
// dump: see internalError.
func (c command) guarded(ctx context.Context, io IO, args []string) (code int) {
	defer func() {
		if v := recover(); v != nil {
			code = internalError(io, c.name, pipeline.Recovered(pipeline.Pos{}, v))
		}
	}()
	return c.run(ctx, io, args)
}

// internalError reports ie, a bug met by `slipway name` (name may be empty): its message, which names the
// configuration's file and line being read when the loader or the planner knew them, and a
// request to report it; the stack only when SLIPWAY_DEBUG is set. It returns the exit code.
func internalError(io IO, name string, ie *pipeline.InternalError) int {
	prefix := "slipway"
	if name != "" {
		prefix += " " + name
	}
	fmt.Fprintf(io.Stderr, "%s: %v\n", prefix, ie)
	if env(io, "SLIPWAY_DEBUG") != "" {
		fmt.Fprintf(io.Stderr, "%s\n", ie.Stack)
	} else {
		fmt.Fprintln(io.Stderr, "slipway: please report this bug; SLIPWAY_DEBUG=1 prints where in Slipway it happened")
	}
	return exitInternal
}

// asInternal returns the InternalError in err, or nil.
func asInternal(err error) *pipeline.InternalError {
	var ie *pipeline.InternalError
	if errors.As(err, &ie) {
		return ie
	}
	return nil
}
