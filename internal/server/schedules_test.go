package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// TestSchedules runs a cron schedule's pipeline once it is due, in the schedule's time zone,
// with its variables, and moves its next run forward.
func TestSchedules(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 5, 30, 0, 0, time.UTC) // 06:30 in Paris
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, "nightly:\n  rules: [{if: '$CI_PIPELINE_SOURCE == \"schedule\" && $KIND == \"nightly\"'}]\n  script: [\"true\"]\n",
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

// TestAttackImpossibleCron: a cron that never matches (0 0 30 2 *) fired every 15 s; now it
// is refused when created, and one already stored is turned off without running.
func TestAttackImpossibleCron(t *testing.T) {
	e := newEnv(t, "job:\n  script: [\"true\"]\n")
	id := e.project("cron", "")
	path := fmt.Sprintf("/api/v1/projects/%d/schedules", id)
	for _, c := range []struct{ cron, tz, want string }{
		{cron: "0 0 30 2 *", want: `cron \"0 0 30 2 *\" never fires`},
		{cron: "0 0 31 4,6,9,11 *", want: "never fires"},
		{cron: "@every 1h", want: "want 5 fields"},
		{cron: "@daily", want: "want 5 fields"},
		{cron: "CRON_TZ=Asia/Tokyo 0 6 * * *", want: "want 5 fields"},
		{cron: "0 0 * * * *", want: "want 5 fields"},
		{cron: "61 * * * *", want: "cron \\\"61 * * * *\\\": "},
		{cron: "0 3 * * *", tz: "Mars/Olympus", want: `cron_timezone \"Mars/Olympus\": not a time zone`},
	} {
		r := e.do("POST", path, adminToken, map[string]any{"cron": c.cron, "cron_timezone": c.tz}, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("cron %q zone %q: got %s, want 400 saying %s", c.cron, c.tz, r, c.want)
		}
	}
	var scs []struct{ ID int64 }
	e.api("GET", path, nil, http.StatusOK, &scs)
	if len(scs) != 0 {
		t.Fatalf("%d schedules stored, want none", len(scs))
	}

	// One stored before schedules were checked: never due, yet it came round every tick.
	sc := &store.Schedule{ProjectID: id, Cron: "0 0 30 2 *", Ref: "main", Active: true}
	if err := e.srv.store.CreateSchedule(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.srv.dueSchedules(t.Context())
	}
	if n := len(e.pipelines(id)); n != 0 {
		t.Errorf("the impossible schedule made %d pipelines", n)
	}
	all, err := e.srv.store.Schedules(t.Context(), id)
	if err != nil || len(all) != 1 || all[0].Active {
		t.Errorf("schedules after the loop: %+v, %v; want it turned off", all, err)
	}
}
