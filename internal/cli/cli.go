// Package cli is Slipway's command line: it parses arguments, gathers the repository's facts
// and prints what the engine decides. It owns wording and exit codes, not pipeline semantics.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// IO is where a command reads and writes, and the directory it runs in.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Dir            string
	// Env looks up environment variables (NO_COLOR, …); nil means none are set.
	Env func(string) string
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, io IO, args []string) int
}

func commands() []command {
	return []command{
		{"lint", "[FILE]", "check a pipeline file; every error as FILE:LINE:COL: message", runLint},
		{"config", "[FILE]", "print the expanded configuration (includes, extends, !reference, default applied)", runConfig},
		{"jobs", "[--json] [flags]", "list the jobs of the pipeline for this repository's push", runJobs},
		{"explain", "JOB [flags]", "say why a job is in or out of the pipeline", runExplain},
		{"run", "[JOB…] [flags]", "run the pipeline (or some jobs) on this machine, in containers or a shell", runRun},
		{"server", "[--data DIR] [--addr HOST:PORT] [--db URL] [flags]", "serve the API, webhooks and scheduler with a built-in runner", runServer},
		{"runner", "register|run", "register this machine with a Slipway server, or run the jobs it gives", runRunner},
	}
}

// Main runs the command line args (without the program name) and returns the exit code.
func Main(ctx context.Context, io IO, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(io.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.guarded(ctx, io, args[1:])
		}
	}
	fmt.Fprintf(io.Stderr, "slipway: unknown command %q\n", args[0])
	usage(io.Stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Slipway runs your .gitlab-ci.yml: locally, or as a CI server.")
	fmt.Fprintln(w, "\nUsage: slipway COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %-18s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun `slipway COMMAND -h` for a command's flags.")
}

// parse parses flags anywhere among the arguments and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// kvFlag collects repeatable K=V flags in order.
type kvFlag struct {
	keys   []string
	values map[string]string
}

func (f *kvFlag) String() string { return strings.Join(f.keys, ",") }

func (f *kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want KEY=VALUE")
	}
	if f.values == nil {
		f.values = map[string]string{}
	}
	if _, dup := f.values[k]; !dup {
		f.keys = append(f.keys, k)
	}
	f.values[k] = v
	return nil
}
