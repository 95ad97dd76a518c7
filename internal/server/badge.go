package server

import (
	"errors"
	"fmt"
	"html"
	"net/http"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// badgeColors are the right-hand colours of status badges.
var badgeColors = map[status.Status]string{
	status.Success: "#4c1", status.Warning: "#dfb317", status.Failed: "#e05d44",
	status.Running: "#007ec6", status.Pending: "#dfb317", status.Canceled: "#9f9f9f",
	status.Skipped: "#9f9f9f", status.Manual: "#9f9f9f", status.Created: "#9f9f9f",
}

// badgePipelines lists up to limit newest pipelines of the ref of a badge URL (default
// branch when ?ref= is empty). An unknown project has none, rather than a 404, as badges are
// embedded in READMEs; so has a project the viewer may not read (a private or internal one,
// for anyone but its members signed in: GitLab shows badges of private projects only to
// them), which thus looks like one that does not exist. A store that fails is an error (503),
// not "unknown".
func (s *Server) badgePipelines(r *http.Request, limit int) ([]*store.Pipeline, error) {
	p, err := s.store.ProjectByPath(r.Context(), r.PathValue("namespace")+"/"+r.PathValue("project"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p.Visibility != store.VisibilityPublic {
		v, err := s.viewerOf(r)
		if err != nil {
			return nil, err
		}
		var u *store.User
		if v != nil {
			u = v.user
		}
		role, err := s.projectRole(r.Context(), u, p)
		if err != nil {
			return nil, err
		}
		if role < store.RoleReporter {
			return nil, nil
		}
	}
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = p.DefaultBranch
	}
	return s.store.Pipelines(r.Context(), p.ID, store.PipelineFilter{Ref: ref, Limit: limit})
}

// statusBadge is GET /{namespace}/{project}/badge.svg?ref=: the newest pipeline's status.
func (s *Server) statusBadge(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ps, err := s.badgePipelines(r, 1)
	if err != nil {
		return err
	}
	text, color := "unknown", ""
	if len(ps) > 0 {
		text, color = string(ps[0].Status), badgeColors[ps[0].Status]
		if ps[0].Status == status.Success {
			text = "passed"
		}
	}
	writeBadge(w, "pipeline", text, color)
	return nil
}

// coverageBadge is GET /{namespace}/{project}/coverage.svg?ref=: the newest finished
// pipeline's coverage.
func (s *Server) coverageBadge(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ps, err := s.badgePipelines(r, 20)
	if err != nil {
		return err
	}
	value, color := "unknown", "#9f9f9f"
	for _, pl := range ps {
		if pl.Coverage == nil {
			continue
		}
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
