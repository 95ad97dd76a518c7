package web

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/gitcmd"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// funcs are the template functions. They return plain strings (escaped by html/template)
// except statusIcon, whose SVG is a constant of this file.
func (s *Site) funcs() template.FuncMap {
	return template.FuncMap{
		"siteName":    func() string { return s.name },
		"asset":       s.assetURL,
		"statusIcon":  statusIcon,
		"statusLabel": statusLabel,
		"st":          func(s string) status.Status { return status.Status(s) },
		"final":       func(st status.Status) bool { return st.Final() },
		"iso":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"stamp":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"ago":         s.ago,
		"dur":         duration,
		"pipelineDur": func(p *store.Pipeline) time.Duration { return span(p.Started, p.Finished, s.now()) },
		"jobDur":      func(j *store.Job) time.Duration { return span(j.Started, j.Finished, s.now()) },
		"queuedDur": func(j *store.Job) time.Duration {
			from := j.Queued
			if from.IsZero() {
				from = j.Created
			}
			return span(from, j.Started, s.now())
		},
		"short":           shortSHA,
		"title":           firstLine,
		"refKind":         refKind,
		"redact":          gitcmd.Redact,
		"size":            size,
		"pct":             func(f *float64) string { return strconv.FormatFloat(*f, 'f', 2, 64) + "%" },
		"days":            func(d time.Duration) int { return int(d / (24 * time.Hour)) },
		"join":            strings.Join,
		"project":         ProjectURL,
		"pipeline":        PipelineURL,
		"job":             JobURL,
		"settings":        SettingsURL,
		"pipelinesEvents": PipelinesEventsURL,
		"pipelineEvents":  PipelineEventsURL,
		"jobEvents":       JobEventsURL,
		"artifactFile":    artifactFileURL,
		"pipelinesQuery":  pipelinesQuery,
		"id":              func(id int64) string { return strconv.FormatInt(id, 10) },
		"rowID":           func(id int64) string { return "pipeline-" + strconv.FormatInt(id, 10) },
		"roles":           func() []string { return []string{"reporter", "developer", "maintainer"} },
		"visibilities":    func() []string { return []string{"private", "internal", "public"} },
		"forges":          func() []string { return []string{"github", "gitlab", "gitea"} },
		"forgeName":       forgeName,
	}
}

// statusLabel is the word shown beside a status icon, as GitLab words it.
func statusLabel(st status.Status) string {
	switch st {
	case status.Success:
		return "passed"
	case status.WaitingForResource:
		return "waiting"
	case status.Warning:
		return "passed with warnings"
	case "":
		return "no pipeline"
	}
	return string(st)
}

// statusShapes draw each status inside the 16×16 icon; the colour comes from the CSS class
// status-<status>, and the shape alone tells statuses apart.
var statusShapes = map[status.Status]string{
	status.Success:            `<circle cx="8" cy="8" r="7"/><path d="M4.5 8.2l2.3 2.3 4.7-4.8"/>`,
	status.Failed:             `<circle cx="8" cy="8" r="7"/><path d="M5.5 5.5l5 5M10.5 5.5l-5 5"/>`,
	status.Warning:            `<path d="M8 1.5l6.8 12.5H1.2z"/><path d="M8 6v4M8 11.6v.6"/>`,
	status.Running:            `<circle cx="8" cy="8" r="7"/><path class="fill" d="M8 3a5 5 0 0 1 0 10z"/>`,
	status.Pending:            `<circle cx="8" cy="8" r="7"/><path d="M6.3 5.2v5.6M9.7 5.2v5.6"/>`,
	status.Created:            `<circle cx="8" cy="8" r="7" stroke-dasharray="2.2 2"/>`,
	status.WaitingForResource: `<circle cx="8" cy="8" r="7"/><path d="M5 8h.1M8 8h.1M11 8h.1"/>`,
	status.Scheduled:          `<circle cx="8" cy="8" r="7"/><path d="M8 4.5V8l2.5 1.8"/>`,
	status.Manual:             `<circle cx="8" cy="8" r="7"/><path class="fill" d="M6.3 5v6l4.9-3z"/>`,
	status.Canceled:           `<circle cx="8" cy="8" r="7"/><path d="M3.2 12.8l9.6-9.6"/>`,
	status.Skipped:            `<circle cx="8" cy="8" r="7"/><path d="M4.8 5.2l2.8 2.8-2.8 2.8M8.4 5.2l2.8 2.8-2.8 2.8"/>`,
}

// statusIcon is the inline SVG of a status, hidden from screen readers (the word beside it
// says the status).
func statusIcon(st status.Status) template.HTML {
	shape, ok := statusShapes[st]
	if !ok {
		shape = `<circle cx="8" cy="8" r="7"/><path d="M8 5v.1M8 8v3"/>`
	}
	return template.HTML(`<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">` + shape + `</svg>`)
}

// ago is t relative to now: "just now", "5 min ago", "3 h ago", "2 days ago", then the date.
func (s *Site) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := s.now().Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 30*24*time.Hour:
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "yesterday"
		}
		return fmt.Sprintf("%d days ago", n)
	}
	return t.UTC().Format("2006-01-02")
}

// span is the time from start to end, or to now while it has not ended; zero before start.
func span(start, end, now time.Time) time.Duration {
	if start.IsZero() {
		return 0
	}
	if end.IsZero() {
		end = now
	}
	return max(end.Sub(start), 0)
}

// duration is d as "1h 02m", "4m 05s" or "12s".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// firstLine is a commit message's title.
func firstLine(msg string) string {
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	return strings.TrimSpace(msg)
}

// refKind says what a pipeline's ref is: branch, tag or merge request.
func refKind(p *store.Pipeline) string {
	switch {
	case p.Tag:
		return "tag"
	case p.MergeRequest > 0:
		return "merge request"
	}
	return "branch"
}

// size is n bytes in B, KiB, MiB or GiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 2; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMG"[exp])
}

func forgeName(f string) string {
	switch f {
	case "github":
		return "GitHub"
	case "gitlab":
		return "GitLab"
	case "gitea":
		return "Gitea"
	}
	return f
}
