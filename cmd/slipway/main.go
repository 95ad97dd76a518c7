// Command slipway runs GitLab CI pipelines: `slipway lint|config|jobs|explain` locally today.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"

	"github.com/slipway/slipway/internal/cli"
)

func main() {
	if err := cli.HideEnvSecrets(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "slipway: warning: %v\n", err)
	}
	if len(os.Args) > 1 {
		tuneGC(os.Args[1])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	dir, err := os.Getwd()
	if err != nil {
		dir = "."
	}
	code := cli.Main(ctx, cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Dir: dir, Env: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// gcLimit is the heap size up to which the commands tuneGC names run without collecting.
const gcLimit = 256 << 20

// tuneGC turns the garbage collector off for the commands that read a configuration, print
// and exit (lint, config, jobs, explain), unless GOGC or GOMEMLIMIT say otherwise. What they
// allocate stays live almost to the end, so collecting it costs (a third of their
// instructions with the default GOGC) and frees little. A memory limit of gcLimit bounds
// them: past it the collector runs again, as often as that limit needs, so a huge
// configuration costs time, not memory.
func tuneGC(command string) {
	switch command {
	case "lint", "config", "jobs", "explain":
	default:
		return
	}
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(gcLimit)
}
