package web

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

func TestNewGraph(t *testing.T) {
	mk := func(id int64, name string, si int, st status.Status, attempt int, retried bool, p *plan.Job) *store.Job {
		p.Name, p.StageIndex = name, si
		p.Stage = fmt.Sprint("s", si)
		return &store.Job{ID: id, Name: name, Stage: p.Stage, StageIndex: si, Status: st, Attempt: attempt, Retried: retried, Spec: spec(t, p)}
	}
	jobs := []*store.Job{
		mk(1, "a", 0, status.Success, 1, false, &plan.Job{}),
		mk(2, "b", 0, status.Failed, 1, false, &plan.Job{AllowFailure: true}),
		mk(3, "c", 2, status.Failed, 1, true, &plan.Job{Needs: []plan.Need{{Job: "a"}}}),
		mk(4, "c", 2, status.Failed, 2, false, &plan.Job{Needs: []plan.Need{{Job: "a"}, {Job: "gone", Optional: true}}}),
		mk(5, "d", 2, status.Created, 1, false, &plan.Job{Needs: []plan.Need{{Job: "c"}}}),
		{ID: 6, Name: "broken", Stage: "s2", StageIndex: 2, Status: status.Failed, Attempt: 1, Spec: []byte("not json")},
		mk(7, "w", 0, status.Warning, 1, false, &plan.Job{AllowFailure: true}),
	}
	g := newSite(t).NewGraph(jobs)
	if len(g.Stages) != 2 || g.Stages[0].Name != "s0" || g.Stages[1].Name != "s2" {
		t.Fatalf("stages %+v", g.Stages)
	}
	if n := len(g.Stages[1].Cards); n != 3 {
		t.Fatalf("stage s2 has %d cards, want 3 (the retried row hidden)", n)
	}
	c := g.Stages[1].Cards[0]
	if c.Job.ID != 4 || c.Retries != 1 {
		t.Errorf("card c: job %d, %d retries; want the latest attempt, 4, with 1 retry", c.Job.ID, c.Retries)
	}
	if !g.Stages[0].Cards[1].AllowFailure {
		t.Error("b does not show allow_failure")
	}
	actions := map[string]string{}
	for _, st := range g.Stages {
		for _, c := range st.Cards {
			actions[c.Job.Name] = c.Action
		}
	}
	if fmt.Sprint(actions) != "map[a: b:retry broken:retry c:retry d: w:retry]" {
		t.Errorf("actions %v: want retry on failed jobs and on jobs that failed, allowed to (warning)", actions)
	}
	if g.Failed != 3 {
		t.Errorf("Failed = %d, want 3 (b, c, broken)", g.Failed)
	}
	// Two columns of 208 px, one gap of 56, padding 16 each side; three rows of 56+12 under a
	// 40 px head.
	if g.Width != 16*2+2*208+56 || g.Height != 40+3*68 {
		t.Errorf("box %dx%d", g.Width, g.Height)
	}
	want := []Edge{
		// a (col 0, row 0) → c (col 1, row 0): right edge of a to left edge of c.
		{From: "a", To: "c", D: "M224,68 C252,68 252,68 280,68"},
		// c → d in one column: bows out to the left.
		{From: "c", To: "d", D: "M280,68 C256,68 256,136 280,136"},
	}
	if fmt.Sprint(g.Edges) != fmt.Sprint(want) {
		t.Errorf("edges\n%v\nwant\n%v", g.Edges, want)
	}
}

// TestCardSpecAgreesWithDecodeSpec checks that the two fields NewGraph reads of a stored spec
// are what jobapi.DecodeSpec reads, for the current format and for version 0 (a stored
// plan.Job).
func TestCardSpecAgreesWithDecodeSpec(t *testing.T) {
	p := &plan.Job{Name: "x", AllowFailure: true, Needs: []plan.Need{{Job: "a", Artifacts: true}, {Job: "b", Optional: true}}}
	v0, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"current": spec(t, p), "v0": v0} {
		want, err := jobapi.DecodeSpec(b)
		if err != nil {
			t.Fatal(err)
		}
		var got cardSpec
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		var needs []string
		for _, n := range got.Needs {
			needs = append(needs, n.Job)
		}
		var wantNeeds []string
		for _, n := range want.Needs {
			wantNeeds = append(wantNeeds, n.Job)
		}
		if got.AllowFailure != want.AllowFailure || fmt.Sprint(needs) != fmt.Sprint(wantNeeds) {
			t.Errorf("%s: card reads %v %v, DecodeSpec %v %v", name, got.AllowFailure, needs, want.AllowFailure, wantNeeds)
		}
	}
}
