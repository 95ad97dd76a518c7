package web

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// The pipeline graph's geometry, in CSS pixels. app.css sizes .graph, .stage and .card with
// the same numbers, so the needs edges drawn here meet the cards without any script.
const (
	graphPad  = 16  // .graph padding-left and padding-right
	colWidth  = 208 // .stage width
	colGap    = 56  // .graph gap
	headH     = 40  // .stage h3 height + margin-bottom
	cardH     = 56  // .card height
	cardGap   = 12  // .card margin-bottom
	curveBend = 24  // how far an edge between jobs of one stage bows out to the left
)

// Graph is a pipeline's jobs laid out as stage columns, with its needs edges.
type Graph struct {
	Stages []Stage
	// Edges are the needs edges as SVG paths, in a Width×Height box over the columns.
	Edges         []Edge
	Width, Height int
	// Failed counts the failed jobs (shown with the "retry failed" button).
	Failed int
}

// Stage is one column.
type Stage struct {
	Name  string
	Cards []Card
}

// Card is one job's card: its latest attempt.
type Card struct {
	Job *store.Job
	// Retries counts the earlier attempts.
	Retries      int
	AllowFailure bool
	// Needs names the jobs this one waits for.
	Needs []string
	// Duration is how long the job ran (or runs), "" before it started.
	Duration string
	// Action is the button a developer gets: "play" (manual), "retry" (failed, allowed to
	// fail or canceled) or "".
	Action string
}

// cardSpec is what a card shows of a job's stored spec: two fields that every version of
// jobapi.Spec names alike (TestCardSpecAgreesWithDecodeSpec checks it). Decoding only them,
// rather than the whole job with jobapi.DecodeSpec, keeps a 200-job page fast.
type cardSpec struct {
	AllowFailure bool `json:"allow_failure"`
	Needs        []struct {
		Job string `json:"job"`
	} `json:"needs"`
}

// Edge is one needs edge: D is the SVG path from the needed job's card to the card of the
// job that needs it.
type Edge struct {
	From, To string
	D        string
}

// NewGraph lays out a pipeline's jobs (as store.Pipelines.Jobs lists them: by position,
// retried rows included) in stage columns and draws the needs edges between their cards.
// A job whose spec cannot be decoded is shown without needs or allow_failure.
func (s *Site) NewGraph(jobs []*store.Job) Graph {
	now := s.now()
	var g Graph
	col := map[int]int{} // stage index → column
	type at struct{ col, row int }
	pos := map[string]at{}
	for _, j := range jobs {
		if j.Retried {
			continue
		}
		c := Card{Job: j, Retries: max(j.Attempt-1, 0)}
		if !j.Started.IsZero() {
			c.Duration = duration(span(j.Started, j.Finished, now))
		}
		switch j.Status {
		case status.Manual:
			c.Action = "play"
		case status.Failed, status.Canceled, status.Warning:
			c.Action = "retry"
		}
		var spec cardSpec
		if err := json.Unmarshal(j.Spec, &spec); err == nil {
			c.AllowFailure = spec.AllowFailure
			for _, n := range spec.Needs {
				c.Needs = append(c.Needs, n.Job)
			}
		}
		if j.Status == status.Failed {
			g.Failed++
		}
		i, ok := col[j.StageIndex]
		if !ok || g.Stages[i].Name != j.Stage {
			i = len(g.Stages)
			col[j.StageIndex] = i
			g.Stages = append(g.Stages, Stage{Name: j.Stage})
		}
		pos[j.Name] = at{i, len(g.Stages[i].Cards)}
		g.Stages[i].Cards = append(g.Stages[i].Cards, c)
	}
	rows := 0
	for _, st := range g.Stages {
		rows = max(rows, len(st.Cards))
	}
	n := len(g.Stages)
	g.Width = 2*graphPad + n*colWidth + max(n-1, 0)*colGap
	g.Height = headH + rows*(cardH+cardGap)
	left := func(c int) int { return graphPad + c*(colWidth+colGap) }
	mid := func(r int) int { return headH + r*(cardH+cardGap) + cardH/2 }
	for _, st := range g.Stages {
		for _, c := range st.Cards {
			to := pos[c.Job.Name]
			for _, need := range c.Needs {
				from, ok := pos[need]
				if !ok {
					continue // an optional need that is not in the pipeline
				}
				var d string
				if from.col < to.col {
					x1, y1, x2, y2 := left(from.col)+colWidth, mid(from.row), left(to.col), mid(to.row)
					d = pt('M', x1, y1) + pt('C', x1+colGap/2, y1) + pt(' ', x2-colGap/2, y2) + pt(' ', x2, y2)
				} else {
					x1, y1, x2, y2 := left(from.col), mid(from.row), left(to.col), mid(to.row)
					d = pt('M', x1, y1) + pt('C', x1-curveBend, y1) + pt(' ', x2-curveBend, y2) + pt(' ', x2, y2)
				}
				g.Edges = append(g.Edges, Edge{From: need, To: c.Job.Name, D: strings.TrimSpace(d)})
			}
		}
	}
	return g
}

// pt is one command of an SVG path: "M10,20 ".
func pt(cmd byte, x, y int) string {
	s := strconv.Itoa(x) + "," + strconv.Itoa(y) + " "
	if cmd == ' ' {
		return s
	}
	return string(cmd) + s
}
