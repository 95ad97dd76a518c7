package flow

import (
	"slices"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
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
	ok := func(s string) Prereq { return Prereq{Job: &plan.Job{Name: "p"}, Status: s} }
	tests := []struct {
		name    string
		job     *plan.Job
		prereqs []Prereq
		o       Options
		want    string
		ready   bool
	}{
		{name: "no prereqs", job: job("on_success"), want: Start, ready: true},
		{name: "prereq running", job: job("on_success"), prereqs: []Prereq{ok(Running)}},
		{name: "prereq created", job: job("always"), prereqs: []Prereq{ok(Created)}},
		{name: "after success", job: job("on_success"), prereqs: []Prereq{ok(Success), ok(Warning)}, want: Start, ready: true},
		{name: "after failure", job: job("on_success"), prereqs: []Prereq{ok(Failed)}, want: Skipped, ready: true},
		{name: "after cancel", job: job("on_success"), prereqs: []Prereq{ok(Canceled)}, want: Skipped, ready: true},
		{name: "on_failure after failure", job: job("on_failure"), prereqs: []Prereq{ok(Failed)}, want: Start, ready: true},
		{name: "on_failure after success", job: job("on_failure"), prereqs: []Prereq{ok(Success)}, want: Skipped, ready: true},
		{name: "always after failure", job: job("always"), prereqs: []Prereq{ok(Failed)}, want: Start, ready: true},
		{name: "manual waits", job: job("manual"), want: Manual, ready: true},
		{name: "manual played", job: job("manual"), o: Options{Play: true}, want: Start, ready: true},
		{name: "canceled", job: job("always"), o: Options{Canceled: true}, want: Canceled, ready: true},
		{name: "blocked locally", job: job("on_success"), prereqs: []Prereq{{Job: manualRule, Status: Manual}}, want: Skipped, ready: true},
		{name: "blocked on a server", job: job("on_success"), prereqs: []Prereq{{Job: manualRule, Status: Manual}}, o: Options{Hold: true}},
		{name: "optional manual does not block", job: job("on_success"), prereqs: []Prereq{{Job: manualOptional, Status: Manual}}, want: Start, ready: true},
		{name: "a needed manual job holds", job: needing, prereqs: []Prereq{{Job: manualOptional, Status: Manual}}, o: Options{Hold: true}},
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
		want string
	}{
		{name: "not allowed", job: plan.Job{}, code: 1, want: Failed},
		{name: "allowed", job: plan.Job{AllowFailure: true}, code: 1, want: Warning},
		{name: "allowed code", job: plan.Job{AllowFailure: true, ExitCodes: []int{3}}, code: 3, want: Warning},
		{name: "other code", job: plan.Job{AllowFailure: true, ExitCodes: []int{3}}, code: 1, want: Failed},
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
		statuses []string
		blocking []bool
		want     string
	}{
		{name: "empty", want: Success},
		{name: "all success", statuses: []string{Success, Warning, Skipped}, want: Success},
		{name: "running", statuses: []string{Success, Running, Created}, want: Running},
		{name: "pending", statuses: []string{Pending, Created, Skipped}, want: Pending},
		{name: "pending after an allowed failure", statuses: []string{Warning, Pending}, want: Pending},
		{name: "pending after a success", statuses: []string{Success, Pending}, want: Running},
		{name: "created only", statuses: []string{Created}, want: Running},
		{name: "failed", statuses: []string{Success, Failed, Skipped}, want: Failed},
		{name: "canceled", statuses: []string{Success, Canceled}, want: Canceled},
		{name: "blocked by manual", statuses: []string{Success, Manual, Created}, blocking: []bool{false, true, false}, want: Manual},
		{name: "optional manual", statuses: []string{Success, Manual}, blocking: []bool{false, false}, want: Success},
		{name: "manual while running", statuses: []string{Running, Manual}, blocking: []bool{false, true}, want: Running},
		{name: "all skipped", statuses: []string{Skipped}, want: Skipped},
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
		reason  string
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
