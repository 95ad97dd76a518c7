package server

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestSchedules runs a cron schedule's pipeline once it is due, in the schedule's time zone,
// with its variables, and moves its next run forward.
func TestSchedules(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 5, 30, 0, 0, time.UTC) // 06:30 in Paris
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, "nightly:\n  rules: [{if: '$CI_PIPELINE_SOURCE == \"schedule\" && $KIND == \"nightly\"'}]\n  script: [true]\n",
		func(o *Options) { o.Now = clock })
	id := e.project("cron", "")
	var sc struct {
		ID      int64     `json:"id"`
		NextRun time.Time `json:"next_run_at"`
	}
	e.api("POST", fmt.Sprintf("/api/v1/projects/%d/schedules", id), map[string]any{
		"description": "nightly", "cron": "0 7 * * *", "cron_timezone": "Europe/Paris", "variables": map[string]string{"KIND": "nightly"},
	}, http.StatusCreated, &sc)
	if want := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC); !sc.NextRun.Equal(want) {
		t.Fatalf("next run %s, want %s (07:00 in Paris)", sc.NextRun, want)
	}
	e.api("POST", fmt.Sprintf("/api/v1/projects/%d/schedules", id), map[string]any{"cron": "not cron"}, http.StatusBadRequest, nil)

	e.srv.dueSchedules(t.Context())
	if n := len(e.pipelines(id)); n != 0 {
		t.Fatalf("%d pipelines before the schedule is due", n)
	}
	mu.Lock()
	now = now.Add(31 * time.Minute)
	mu.Unlock()
	e.srv.dueSchedules(t.Context())
	ps := e.pipelines(id)
	if len(ps) != 1 || ps[0].Source != "schedule" {
		t.Fatalf("pipelines after the schedule is due: %+v", ps)
	}
	if got := e.pipeline(ps[0].ID); len(got.Jobs) != 1 || got.Jobs[0].Name != "nightly" {
		t.Errorf("scheduled pipeline: %+v", got)
	}
	e.srv.dueSchedules(t.Context()) // not due again until tomorrow
	if n := len(e.pipelines(id)); n != 1 {
		t.Errorf("%d pipelines after a second look, want 1", n)
	}
}
