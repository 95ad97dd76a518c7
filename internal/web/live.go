package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Live updates. A page element with a data-live attribute (its value an SSE URL) makes
// live.js open an EventSource on that URL; the server answers with these events:
//
//	event: replace
//	data: {"target":"pipeline-5","html":"<tr id=\"pipeline-5\" …>…</tr>"}
//
// replaces the element whose id is target with html (rendered by the page's own templates),
// and
//
//	event: end
//	data: {}
//
// closes the stream (the pipeline or job is final; nothing more will change). The pipelines
// list opens PipelinesEventsURL with one id=N query parameter per running row. Replaces carry
// whole fragments, so a reconnect needs no resume point: the server sends the current state.
// The handler sets Content-Type: text/event-stream and flushes after each event.

// replaceEvent is the data of a replace event.
type replaceEvent struct {
	Target string `json:"target"`
	HTML   string `json:"html"`
}

// PipelineRowEvent writes a replace event with a pipelines list row.
func (s *Site) PipelineRowEvent(w io.Writer, row PipelineRow) error {
	return s.event(w, "pipeline-row", "pipeline-"+fmt.Sprint(row.Pipeline.ID), row)
}

// PipelineEvent writes a replace event with the live part of a pipeline page: its status,
// buttons and graph (target "pipeline-live").
func (s *Site) PipelineEvent(w io.Writer, p Pipeline) error {
	return s.event(w, "pipeline-live", "pipeline-live", p)
}

// JobEvent writes a replace event with a job page's summary: status, times, runner and
// buttons (target "job-summary").
func (s *Site) JobEvent(w io.Writer, j Job) error {
	return s.event(w, "job-summary", "job-summary", j)
}

// EndEvent writes the end event: the page stops listening.
func EndEvent(w io.Writer) error {
	_, err := io.WriteString(w, "event: end\ndata: {}\n\n")
	return err
}

func (s *Site) event(w io.Writer, tmpl, target string, data any) error {
	var b bytes.Buffer
	if err := s.parts.ExecuteTemplate(&b, tmpl, data); err != nil {
		return fmt.Errorf("render %s event: %w", tmpl, err)
	}
	j, err := json.Marshal(replaceEvent{Target: target, HTML: b.String()})
	if err != nil {
		return fmt.Errorf("encode %s event: %w", tmpl, err)
	}
	if _, err := fmt.Fprintf(w, "event: replace\ndata: %s\n\n", j); err != nil {
		return fmt.Errorf("write %s event: %w", tmpl, err)
	}
	return nil
}
