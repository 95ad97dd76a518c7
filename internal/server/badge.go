package server

import (
	"fmt"
	"html"
	"net/http"

	"github.com/slipway/slipway/internal/store"
)

// badgeColors are the right-hand colours of status badges.
var badgeColors = map[string]string{
	store.StatusSuccess: "#4c1", store.StatusWarning: "#dfb317", store.StatusFailed: "#e05d44",
	store.StatusRunning: "#007ec6", store.StatusPending: "#dfb317", store.StatusCanceled: "#9f9f9f",
	store.StatusSkipped: "#9f9f9f", store.StatusManual: "#9f9f9f", store.StatusCreated: "#9f9f9f",
}

// badgeProject finds the project of a badge URL; unknown projects get an "unknown" badge
// rather than a 404, as badges are embedded in READMEs.
func (s *Server) badgeProject(r *http.Request) (*store.Project, string) {
	p, err := s.store.ProjectByPath(r.Context(), r.PathValue("namespace")+"/"+r.PathValue("project"))
	if err != nil {
		return nil, ""
	}
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = p.DefaultBranch
	}
	return p, ref
}

// latest is the newest pipeline of a ref that is not just created.
func (s *Server) latest(r *http.Request, p *store.Project, ref string) *store.Pipeline {
	ps, err := s.store.Pipelines(r.Context(), p.ID, store.PipelineFilter{Ref: ref, Limit: 1})
	if err != nil || len(ps) == 0 {
		return nil
	}
	return ps[0]
}

// statusBadge is GET /{namespace}/{project}/badge.svg?ref=: the newest pipeline's status.
func (s *Server) statusBadge(w http.ResponseWriter, r *http.Request, _ *caller) error {
	status := "unknown"
	if p, ref := s.badgeProject(r); p != nil {
		if pl := s.latest(r, p, ref); pl != nil {
			status = pl.Status
			if status == store.StatusSuccess {
				status = "passed"
			}
		}
	}
	color := badgeColors[status]
	if status == "passed" {
		color = badgeColors[store.StatusSuccess]
	}
	writeBadge(w, "pipeline", status, color)
	return nil
}

// coverageBadge is GET /{namespace}/{project}/coverage.svg?ref=: the newest finished
// pipeline's coverage.
func (s *Server) coverageBadge(w http.ResponseWriter, r *http.Request, _ *caller) error {
	value, color := "unknown", "#9f9f9f"
	if p, ref := s.badgeProject(r); p != nil {
		ps, err := s.store.Pipelines(r.Context(), p.ID, store.PipelineFilter{Ref: ref, Limit: 20})
		if err == nil {
			for _, pl := range ps {
				if pl.Coverage != nil {
					c := *pl.Coverage
					value = fmt.Sprintf("%.2f%%", c)
					switch {
					case c >= 90:
						color = "#4c1"
					case c >= 75:
						color = "#a3c51c"
					case c >= 50:
						color = "#dfb317"
					default:
						color = "#e05d44"
					}
					break
				}
			}
		}
	}
	writeBadge(w, "coverage", value, color)
	return nil
}

// writeBadge draws a flat two-part badge; widths follow the text at ~7 px per character.
func writeBadge(w http.ResponseWriter, label, value, color string) {
	if color == "" {
		color = "#9f9f9f"
	}
	lw, vw := 10+7*len(label), 10+7*len(value)
	label, value = html.EscapeString(label), html.EscapeString(value)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache, max-age=0")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%[1]d" height="20" role="img" aria-label="%[4]s: %[5]s">
<title>%[4]s: %[5]s</title>
<rect width="%[2]d" height="20" fill="#555"/><rect x="%[2]d" width="%[3]d" height="20" fill="%[6]s"/>
<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">
<text x="%[7]d" y="14">%[4]s</text><text x="%[8]d" y="14">%[5]s</text>
</g>
</svg>
`, lw+vw, lw, vw, label, value, color, lw/2, lw+vw/2)
}
