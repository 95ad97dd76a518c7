package local

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/status"
)

// event reports a job's new status: a line for people, an object for --json-events.
func (r *runner) event(n *node) {
	j := n.job
	ev := map[string]any{"type": "job", "job": j.Name, "stage": j.Stage, "status": n.status}
	switch n.status {
	case status.Running:
		r.out.note("%s: started (%s)", j.Name, j.Stage)
	case status.Success, status.Failed, status.Warning, status.Canceled:
		ev["duration_s"] = n.result.Duration.Seconds()
		if n.result.Reason != "" && n.status != status.Success {
			ev["failure_reason"] = n.result.Reason
			ev["exit_code"] = n.result.ExitCode
		}
		r.out.note("%s: %s in %s", j.Name, n.status, n.result.Duration.Round(time.Millisecond))
	default:
		r.out.note("%s: %s", j.Name, n.status)
	}
	r.out.event(ev)
	if done(n.status) {
		r.out.flush()
	}
}

// summary decides the pipeline's status, prints the final table and the last event.
func (r *runner) summary(ctx context.Context) *Summary {
	s := &Summary{Status: status.Success}
	for _, n := range r.nodes {
		st := n.status
		if !done(st) {
			st = status.Skipped
		}
		jr := JobResult{Name: n.job.Name, Stage: n.job.Stage, Status: st, Duration: n.result.Duration,
			Seconds: n.result.Duration.Seconds(), ExitCode: n.result.ExitCode, Attempts: n.tries}
		if st == status.Failed || st == status.Warning {
			jr.Reason = n.result.Reason
		}
		s.Jobs = append(s.Jobs, jr)
		if st == status.Failed && s.Status == status.Success {
			s.Status = status.Failed
		}
	}
	if ctx.Err() != nil {
		s.Status = status.Canceled
	}
	if r.o.Events {
		jobs := make([]map[string]any, len(s.Jobs))
		for i, jr := range s.Jobs {
			jobs[i] = map[string]any{"name": jr.Name, "stage": jr.Stage, "status": jr.Status, "duration_s": jr.Seconds}
		}
		r.out.event(map[string]any{"type": "pipeline", "status": s.Status, "jobs": jobs})
		return s
	}
	r.table(s)
	return s
}

// table prints job, stage, status and duration of every job.
func (r *runner) table(s *Summary) {
	rows := [][]string{{"JOB", "STAGE", "STATUS", "DURATION"}}
	for _, jr := range s.Jobs {
		d := "-"
		if jr.Duration > 0 {
			d = jr.Duration.Round(10 * time.Millisecond).String()
		}
		rows = append(rows, []string{jr.Name, jr.Stage, string(jr.Status), d})
	}
	widths := make([]int, 4)
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	b.WriteString("\n")
	for _, row := range rows {
		for i, c := range row {
			cell := c + strings.Repeat(" ", widths[i]-len(c))
			if i == 2 && r.o.Color {
				cell = statusColor(status.Status(c)) + cell + "\x1b[0m"
			}
			b.WriteString(cell)
			if i < 3 {
				b.WriteString("  ")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\npipeline %s\n", s.Status)
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	r.out.w.Write([]byte(b.String()))
}

func statusColor(s status.Status) string {
	switch s {
	case status.Success:
		return "\x1b[32m"
	case status.Failed, status.Canceled:
		return "\x1b[31m"
	case status.Warning:
		return "\x1b[33m"
	}
	return "\x1b[2m"
}
