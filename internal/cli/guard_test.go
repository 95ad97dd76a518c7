package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

// TestCommandPanicIsAnInternalError injects a panic into a command: Main's guard reports an
// internal error and exits 70, and prints the stack only when SLIPWAY_DEBUG asks.
func TestCommandPanicIsAnInternalError(t *testing.T) {
	t.Parallel()
	boom := command{name: "lint", run: func(_ context.Context, _ IO, args []string) int {
		return []int{}[len(args)+1] // a runtime error, as a bug would make
	}}
	for _, debug := range []bool{false, true} {
		var out, errs bytes.Buffer
		io := IO{Stdout: &out, Stderr: &errs, Env: func(k string) string {
			if debug && k == "SLIPWAY_DEBUG" {
				return "1"
			}
			return ""
		}}
		code := boom.guarded(context.Background(), io, nil)
		got := errs.String()
		if code != exitInternal {
			t.Errorf("debug %v: exit %d, want %d", debug, code, exitInternal)
		}
		if !strings.HasPrefix(got, "slipway lint: internal error (a bug in Slipway): runtime error: index out of range [1] with length 0\n") {
			t.Errorf("debug %v: stderr %q", debug, got)
		}
		if stack := strings.Contains(got, "goroutine "); stack != debug {
			t.Errorf("debug %v: stack printed %v:\n%s", debug, stack, got)
		}
	}
}

// TestLoadInternalErrorNamesTheFile: an InternalError from the loader or the planner (see
// pipeline.TestLoadPanicIsAnInternalError) is printed with the file and line being read.
func TestLoadInternalErrorNamesTheFile(t *testing.T) {
	t.Parallel()
	var errs bytes.Buffer
	ie := pipeline.Recovered(pipeline.Pos{File: "ci/build.yml", Line: 12, Col: 5}, "injected panic")
	code := printErrors(IO{Stderr: &errs}, ie)
	if code != exitInternal {
		t.Errorf("exit %d, want %d", code, exitInternal)
	}
	want := "slipway: ci/build.yml:12:5: internal error while reading this (a bug in Slipway, not in the configuration): injected panic\n"
	if got := errs.String(); !strings.HasPrefix(got, want) || strings.Contains(got, "goroutine ") {
		t.Errorf("stderr %q, want %q and no stack", got, want)
	}
}
