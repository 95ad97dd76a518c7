package web

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// parseEvents reads an SSE stream into (event, data) pairs.
func parseEvents(t *testing.T, s string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, block := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		var ev [2]string
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("bad SSE line %q", line)
			}
			switch k {
			case "event":
				ev[0] = v
			case "data":
				ev[1] = v
			default:
				t.Fatalf("unexpected field %q", k)
			}
		}
		out = append(out, ev)
	}
	return out
}

// TestLiveEvents renders each fragment as an SSE replace event whose HTML is the same element
// the page holds (same id), so the script can swap it.
func TestLiveEvents(t *testing.T) {
	s := newSite(t)
	pages := map[string]Page{}
	for _, f := range fixtures(t, "") {
		pages[f.name] = f.page
	}
	var b bytes.Buffer
	if err := s.PipelineRowEvent(&b, pages["pipelines"].(Pipelines).Rows[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.PipelineEvent(&b, pages["pipeline"].(Pipeline)); err != nil {
		t.Fatal(err)
	}
	if err := s.JobEvent(&b, pages["job"].(Job)); err != nil {
		t.Fatal(err)
	}
	if err := EndEvent(&b); err != nil {
		t.Fatal(err)
	}
	evs := parseEvents(t, b.String())
	wantTargets := []string{"pipeline-42", "pipeline-live", "job-summary"}
	if len(evs) != 4 || evs[3] != [2]string{"end", "{}"} {
		t.Fatalf("events %q", evs)
	}
	for i, target := range wantTargets {
		var r replaceEvent
		if evs[i][0] != "replace" {
			t.Fatalf("event %d is %q", i, evs[i][0])
		}
		if err := json.Unmarshal([]byte(evs[i][1]), &r); err != nil {
			t.Fatal(err)
		}
		if r.Target != target || !strings.Contains(r.HTML, `id="`+target+`"`) {
			t.Errorf("event %d: target %q, html %.120s", i, r.Target, r.HTML)
		}
		// The fragment is exactly what the page has.
		page := map[string]string{"pipeline-42": "pipelines", "pipeline-live": "pipeline", "job-summary": "job"}[target]
		if body := render(t, s, pages[page]).Body.String(); !strings.Contains(body, strings.TrimSpace(r.HTML)) {
			t.Errorf("the %s fragment differs from the page's", target)
		}
	}
	// A running pipeline's page and row ask for updates; a finished one's do not.
	p := pages["pipeline"].(Pipeline)
	if !strings.Contains(evs[1][1], `data-live=\"/acme/shop/-/pipelines/42/events\"`) {
		t.Error("running pipeline without data-live")
	}
	done := *p.Pipeline
	done.Status = "success"
	p.Pipeline = &done
	b.Reset()
	if err := s.PipelineEvent(&b, p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "data-live") {
		t.Error("finished pipeline still asks for updates")
	}
	if !strings.Contains(render(t, s, pages["pipelines"]).Body.String(), `<tr id="pipeline-42" data-live-id="42">`) {
		t.Error("running row without data-live-id")
	}
}
