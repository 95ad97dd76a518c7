// Command slipway runs GitLab CI pipelines: `slipway lint|config|jobs|explain` locally today.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/slipway/slipway/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	dir, err := os.Getwd()
	if err != nil {
		dir = "."
	}
	code := cli.Main(ctx, cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Dir: dir, Env: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}
