// Command slipway runs GitLab CI pipelines: `slipway lint|config|jobs|explain` locally today.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/slipway/slipway/internal/cli"
)

func main() {
	if err := cli.HideEnvSecrets(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "slipway: warning: %v\n", err)
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
