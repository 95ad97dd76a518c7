package flow

import (
	"slices"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

func TestPrereqs(t *testing.T) {
	jobs := []*plan.Job{
		{Name: "build", StageIndex: 0},
		{Name: "lint", StageIndex: 0},
		{Name: "test", StageIndex: 1},
		{Name: "fast", StageIndex: 1, Needs: []plan.Need{{Job: "build"}, {Job: "gone"}}},
		{Name: "first", StageIndex: 2, Needs: []plan.Need{}},
	}
	got := Prereqs(jobs)
	want := [][]int{nil, nil, {0, 1}, {0}, nil}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: prereqs %v, want %v", jobs[i].Name, got[i], want[i])
		}
	}
}

func TestDecide(t *testing.T) {
	manualRule := &plan.Job{Name: "gate", When: "manual"}                        // blocks
	manualOptional := &plan.Job{Name: "opt", When: "manual", AllowFailure: true} // does not
	job := func(when string) *plan.Job { return &plan.Job{Name: "j", When: when} }
	needing := &plan.Job{Name: "n", When: "on_success", Needs: []plan.Need{{Job: "opt"}}}
	ok := func(s status.Status) Prereq { return Prereq{Job: &plan.Job{Name: "p"}, Status: s} }
	tests := []struct {
		name    string
		job     *plan.Job
		prereqs []Prereq
		o       Options
		want    status.Status
		ready   bool
	}{
		{name: "no prereqs", job: job("on_success"), want: status.Pending, ready: true},
		{name: "prereq running", job: job("on_success"), prereqs: []Prereq{ok(status.Running)}},
		{name: "prereq created", job: job("always"), prereqs: []Prereq{ok(status.Created)}},
		{name: "after success", job: job("on_success"), prereqs: []Prereq{ok(status.Success), ok(status.Warning)}, want: status.Pending, ready: true},
		{name: "after failure", job: job("on_success"), prereqs: []Prereq{ok(status.Failed)}, want: status.Skipped, ready: true},
		{name: "after cancel", job: job("on_success"), prereqs: []Prereq{ok(status.Canceled)}, want: status.Skipped, ready: true},
		{name: "on_failure after failure", job: job("on_failure"), prereqs: []Prereq{ok(status.Failed)}, want: status.Pending, ready: true},
		{name: "on_failure after success", job: job("on_failure"), prereqs: []Prereq{ok(status.Success)}, want: status.Skipped, ready: true},
		{name: "always after failure", job: job("always"), prereqs: []Prereq{ok(status.Failed)}, want: status.Pending, ready: true},
		{name: "manual waits", job: job("manual"), want: status.Manual, ready: true},
		{name: "manual played", job: job("manual"), o: Options{Play: true}, want: status.Pending, ready: true},
		{name: "canceled", job: job("always"), o: Options{Canceled: true}, want: status.Canceled, ready: true},
		{name: "blocked locally", job: job("on_success"), prereqs: []Prereq{{Job: manualRule, Status: status.Manual}}, want: status.Skipped, ready: true},
		{name: "blocked on a server", job: job("on_success"), prereqs: []Prereq{{Job: manualRule, Status: status.Manual}}, o: Options{Hold: true}},
		{name: "optional manual does not block", job: job("on_success"), prereqs: []Prereq{{Job: manualOptional, Status: status.Manual}}, want: status.Pending, ready: true},
		{name: "a needed manual job holds", job: needing, prereqs: []Prereq{{Job: manualOptional, Status: status.Manual}}, o: Options{Hold: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ready := Decide(tt.job, tt.prereqs, tt.o)
			if got != tt.want || ready != tt.ready {
				t.Errorf("Decide = %q, %v; want %q, %v", got, ready, tt.want, tt.ready)
			}
		})
	}
}

func TestFailedStatus(t *testing.T) {
	tests := []struct {
		name string
		job  plan.Job
		code int
		want status.Status
	}{
		{name: "not allowed", job: plan.Job{}, code: 1, want: status.Failed},
		{name: "allowed", job: plan.Job{AllowFailure: true}, code: 1, want: status.Warning},
		{name: "allowed code", job: plan.Job{AllowFailure: true, ExitCodes: []int{3}}, code: 3, want: status.Warning},
		{name: "other code", job: plan.Job{AllowFailure: true, ExitCodes: []int{3}}, code: 1, want: status.Failed},
	}
	for _, tt := range tests {
		if got := FailedStatus(&tt.job, tt.code); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPipelineStatus(t *testing.T) {
	tests := []struct {
		name     string
		statuses []status.Status
		blocking []bool
		want     status.Status
	}{
		{name: "empty", want: status.Success},
		{name: "all success", statuses: []status.Status{status.Success, status.Warning, status.Skipped}, want: status.Success},
		{name: "running", statuses: []status.Status{status.Success, status.Running, status.Created}, want: status.Running},
		{name: "pending", statuses: []status.Status{status.Pending, status.Created, status.Skipped}, want: status.Pending},
		{name: "pending after an allowed failure", statuses: []status.Status{status.Warning, status.Pending}, want: status.Pending},
		{name: "pending after a success", statuses: []status.Status{status.Success, status.Pending}, want: status.Running},
		{name: "created only", statuses: []status.Status{status.Created}, want: status.Running},
		{name: "failed", statuses: []status.Status{status.Success, status.Failed, status.Skipped}, want: status.Failed},
		{name: "canceled", statuses: []status.Status{status.Success, status.Canceled}, want: status.Canceled},
		{name: "blocked by manual", statuses: []status.Status{status.Success, status.Manual, status.Created}, blocking: []bool{false, true, false}, want: status.Manual},
		{name: "optional manual", statuses: []status.Status{status.Success, status.Manual}, blocking: []bool{false, false}, want: status.Success},
		{name: "manual while running", statuses: []status.Status{status.Running, status.Manual}, blocking: []bool{false, true}, want: status.Running},
		{name: "all skipped", statuses: []status.Status{status.Skipped}, want: status.Skipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PipelineStatus(tt.statuses, func(i int) bool { return tt.blocking != nil && tt.blocking[i] })
			if got != tt.want {
				t.Errorf("PipelineStatus(%v) = %q, want %q", tt.statuses, got, tt.want)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name    string
		retry   pipeline.Retry
		attempt int
		reason  status.Reason
		code    int
		want    bool
	}{
		{name: "no retry", reason: "script_failure"},
		{name: "max 2 first", retry: pipeline.Retry{Max: 2}, reason: "script_failure", want: true},
		{name: "max 2 used up", retry: pipeline.Retry{Max: 2}, attempt: 2, reason: "script_failure"},
		{name: "when matches", retry: pipeline.Retry{Max: 1, When: []string{"runner_system_failure"}}, reason: "runner_system_failure", want: true},
		{name: "when differs", retry: pipeline.Retry{Max: 1, When: []string{"runner_system_failure"}}, reason: "script_failure"},
		{name: "unknown covers system", retry: pipeline.Retry{Max: 1, When: []string{"unknown_failure"}}, reason: "runner_system_failure", want: true},
		{name: "exit code matches", retry: pipeline.Retry{Max: 1, ExitCodes: []int{137}}, reason: "script_failure", code: 137, want: true},
		{name: "exit code differs", retry: pipeline.Retry{Max: 1, ExitCodes: []int{137}}, reason: "script_failure", code: 1},
	}
	for _, tt := range tests {
		if got := Retry(&plan.Job{Retry: tt.retry}, tt.attempt, tt.reason, tt.code); got != tt.want {
			t.Errorf("%s: Retry = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestArtifactSources(t *testing.T) {
	build := &plan.Job{Name: "build", StageIndex: 0}
	lint := &plan.Job{Name: "lint", StageIndex: 0}
	jobs := []*plan.Job{build, lint, nil}
	tests := []struct {
		name string
		job  *plan.Job
		want []int
	}{
		{name: "earlier stages", job: &plan.Job{Name: "t", StageIndex: 1}, want: []int{0, 1}},
		{name: "dependencies", job: &plan.Job{Name: "t", StageIndex: 1, Dependencies: []string{"lint"}}, want: []int{1}},
		{name: "needs with artifacts", job: &plan.Job{Name: "t", StageIndex: 1, Needs: []plan.Need{{Job: "build", Artifacts: true}, {Job: "lint"}}}, want: []int{0}},
		{name: "needs narrowed by dependencies", job: &plan.Job{Name: "t", StageIndex: 1, Needs: []plan.Need{{Job: "build", Artifacts: true}}, Dependencies: []string{}}, want: nil},
	}
	for _, tt := range tests {
		jobs[2] = tt.job
		if got := ArtifactSources(tt.job, jobs); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSettled checks the one difference between settled and final: a manual job lets the
// jobs after it be decided, but it is not final.
func TestSettled(t *testing.T) {
	for _, s := range status.All() {
		want := s.Final() || s == status.Manual
		if got := Settled(s); got != want {
			t.Errorf("Settled(%q) = %v, want %v", s, got, want)
		}
	}
	if !Settled(status.Manual) || status.Manual.Final() {
		t.Error("manual must be settled and not final")
	}
}
