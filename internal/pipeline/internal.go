package pipeline

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// InternalError is a panic of the loader or the planner — a bug in Slipway, never a fault of
// the configuration — turned into an error that says which file, and where in it, was being
// read. Load and plan.Compile return one instead of crashing; Error leaves the stack out, for
// callers to put it in a debug log.
type InternalError struct {
	// Pos is where the loader (or planner) was: a file, a job, a key, an include or a
	// reference; zero when unknown.
	Pos Pos
	// Value is what panicked.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *InternalError) Error() string {
	if e.Pos.File == "" {
		return fmt.Sprintf("internal error (a bug in Slipway): %v", e.Value)
	}
	return fmt.Sprintf("%s: internal error while reading this (a bug in Slipway, not in the configuration): %v", e.Pos, e.Value)
}

// Recovered makes the InternalError of v, a value recover returned, while reading at pos; call
// it in the deferred function that recovered, for the stack to be the panic's. A value that
// is (or wraps) an InternalError already is returned as it is: it knows better where it was.
func Recovered(pos Pos, v any) *InternalError {
	var ie *InternalError
	if err, ok := v.(error); ok && errors.As(err, &ie) {
		return ie
	}
	return &InternalError{Pos: pos, Value: v, Stack: debug.Stack()}
}

// reading records where the loader is, for an InternalError to say.
func (d *diags) reading(pos Pos) { d.at = pos }
