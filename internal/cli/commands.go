package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/slipway/slipway/internal/plan"
)

func newFlags(name string, io IO, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(io.Stderr, "Usage: slipway %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// fileArg takes an optional FILE argument into the --file flag.
func fileArg(io IO, f *pipelineFlags, pos []string, name string) bool {
	switch len(pos) {
	case 0:
		return true
	case 1:
		f.file = pos[0]
		return true
	}
	fmt.Fprintf(io.Stderr, "slipway %s: too many arguments\n", name)
	return false
}

// runLint loads and plans the pipeline for the current branch: a configuration GitLab would
// refuse to create a pipeline from is an error too.
func runLint(ctx context.Context, io IO, args []string) int {
	f := pipelineFlags{listOnly: true}
	fs := newFlags("lint", io, "[FILE] [flags]")
	f.register(fs)
	pos, err := parse(fs, args)
	if err != nil || !fileArg(io, &f, pos, "lint") {
		return exitUsage
	}
	if _, p, code := f.plan(ctx, io); p == nil {
		return code
	}
	fmt.Fprintln(io.Stdout, "valid")
	return exitOK
}

func runConfig(ctx context.Context, io IO, args []string) int {
	var f pipelineFlags
	fs := newFlags("config", io, "[FILE] [flags]")
	f.register(fs)
	pos, err := parse(fs, args)
	if err != nil || !fileArg(io, &f, pos, "config") {
		return exitUsage
	}
	s, code := f.load(ctx, io)
	if s == nil {
		return code
	}
	out, err := s.cfg.Tree.YAML()
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway config: %v\n", err)
		return exitFail
	}
	fmt.Fprint(io.Stdout, "---\n"+string(out))
	return exitOK
}

func runJobs(ctx context.Context, io IO, args []string) int {
	f := pipelineFlags{listOnly: true}
	asJSON := false
	fs := newFlags("jobs", io, "[flags]")
	f.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print a JSON array")
	pos, err := parse(fs, args)
	if err != nil || len(pos) > 0 {
		return exitUsage
	}
	_, p, code := f.plan(ctx, io)
	if p == nil {
		return code
	}
	if !p.Created {
		fmt.Fprintln(io.Stderr, p.Reason.Text)
	}
	if asJSON {
		if err := writeJobsJSON(io.Stdout, p); err != nil {
			return exitFail
		}
		return exitOK
	}
	printTable(io, p)
	return exitOK
}

func printTable(io IO, p *plan.Plan) {
	rows := [][]string{{"NAME", "STAGE", "WHEN", "ALLOW_FAILURE", "NEEDS"}}
	for _, stage := range p.Stages {
		for _, j := range p.Jobs {
			if j.Stage != stage {
				continue
			}
			needs := "-"
			if j.Needs != nil {
				names := make([]string, len(j.Needs))
				for i, n := range j.Needs {
					names[i] = n.Job
				}
				needs = "[" + strings.Join(names, ", ") + "]"
			}
			rows = append(rows, []string{j.Name, j.Stage, j.When, fmt.Sprint(j.AllowFailure), needs})
		}
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)+2))
		}
		fmt.Fprintln(io.Stdout, b.String())
	}
}
