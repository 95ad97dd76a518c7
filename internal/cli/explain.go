package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/slipway/slipway/internal/plan"
)

func runExplain(ctx context.Context, io IO, args []string) int {
	f := pipelineFlags{listOnly: true}
	fs := newFlags("explain", io, "JOB [flags]")
	f.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	name := pos[0]
	s, p, code := f.plan(ctx, io)
	if p == nil {
		return code
	}
	w := io.Stdout
	kind := "branch"
	if s.ctx.Tag {
		kind = "tag"
	}
	src := s.ctx.Source
	if src == "" {
		src = plan.SourcePush
	}
	fmt.Fprintf(w, "pipeline: %s for %s %q (source %s)\n", map[bool]string{true: "created", false: "NOT created"}[p.Created], kind, s.ctx.Ref, src)
	if !p.Created || s.cfg.Workflow != nil {
		printReason(io, "workflow", p.Reason)
	}
	if !p.Created {
		return exitOK
	}
	var matched []*plan.Job
	for _, j := range append(append([]*plan.Job(nil), p.Jobs...), p.Excluded...) {
		if j.Name == name || j.Base == name {
			matched = append(matched, j)
		}
	}
	if len(matched) == 0 {
		if cj := s.cfg.Job(name); cj == nil {
			fmt.Fprintf(io.Stderr, "slipway explain: no job %q in %s\n", name, strings.Join(s.cfg.Files, ", "))
			return exitFail
		}
	}
	for _, j := range matched {
		in := j.When != "never"
		fmt.Fprintf(w, "\njob %q (%s): %s\n", j.Name, j.Pos, map[bool]string{true: "IN the pipeline", false: "NOT in the pipeline"}[in])
		printReason(io, "decided by", j.Reason)
		if !in {
			continue
		}
		fmt.Fprintf(w, "  stage:         %s (#%d of %s)\n", j.Stage, j.StageIndex, strings.Join(p.Stages, ", "))
		fmt.Fprintf(w, "  when:          %s\n", j.When)
		if j.StartIn > 0 {
			fmt.Fprintf(w, "  start_in:      %s\n", j.StartIn)
		}
		af := fmt.Sprint(j.AllowFailure)
		if len(j.ExitCodes) > 0 {
			af += fmt.Sprintf(" (exit codes %v)", j.ExitCodes)
		}
		fmt.Fprintf(w, "  allow_failure: %s\n", af)
		if j.Image != nil {
			fmt.Fprintf(w, "  image:         %s\n", j.Image.Name)
		}
		if j.Environment != nil {
			fmt.Fprintf(w, "  environment:   %s %s\n", j.Environment.Name, j.Environment.URL)
		}
		switch {
		case j.Needs == nil:
			fmt.Fprintf(w, "  needs:         (no needs: waits for every job of earlier stages)\n")
		case len(j.Needs) == 0:
			fmt.Fprintf(w, "  needs:         [] (starts at once)\n")
		default:
			var names []string
			for _, n := range j.Needs {
				s := n.Job
				if n.Optional {
					s += " (optional)"
				}
				if !n.Artifacts {
					s += " (no artifacts)"
				}
				names = append(names, s)
			}
			fmt.Fprintf(w, "  needs:         %s\n", strings.Join(names, ", "))
		}
	}
	return exitOK
}

func printReason(io IO, label string, r plan.Reason) {
	where := ""
	if r.Where != "" {
		where = " at " + r.Where
	}
	fmt.Fprintf(io.Stdout, "  %s: %s%s\n    %s\n", label, r.Clause, where, r.Text)
	if len(r.Vars) == 0 {
		return
	}
	fmt.Fprintln(io.Stdout, "    variables read:")
	names := append([]string(nil), r.Vars...)
	sort.Strings(names)
	for _, n := range names {
		if v, ok := r.Values[n]; ok {
			fmt.Fprintf(io.Stdout, "      $%s = %q\n", n, v)
		} else {
			fmt.Fprintf(io.Stdout, "      $%s is not defined\n", n)
		}
	}
}
