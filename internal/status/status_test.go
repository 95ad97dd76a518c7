package status

import (
	"slices"
	"testing"
)

// A status or reason declared twice with the same text cannot compile: Known lists each
// constant as a case of one switch, and Go refuses duplicate constant cases ("duplicate case
// "success" (constant of type Status) in expression switch"). These tests check the lists
// agree with each other and with GitLab's meaning of final.
func TestAll(t *testing.T) {
	all := All()
	seen := map[Status]bool{}
	for _, s := range all {
		if seen[s] {
			t.Errorf("%q listed twice by All", s)
		}
		seen[s] = true
		if !s.Known() {
			t.Errorf("%q in All but not Known", s)
		}
	}
	if len(all) != 11 {
		t.Errorf("All has %d statuses, want 11: %v", len(all), all)
	}
	for _, s := range []Status{"", "passed", "start", "Success"} {
		if s.Known() {
			t.Errorf("%q is Known", s)
		}
	}
}

func TestFinal(t *testing.T) {
	var final []Status
	for _, s := range All() {
		if s.Final() {
			final = append(final, s)
		}
	}
	// GitLab's completed statuses, and Slipway's warning; not manual, which may still run.
	want := []Status{Success, Failed, Warning, Canceled, Skipped}
	if !slices.Equal(final, want) {
		t.Errorf("final statuses %v, want %v", final, want)
	}
	if Manual.Final() {
		t.Error("manual is final")
	}
}

func TestReasonKnown(t *testing.T) {
	for _, r := range []Reason{ScriptFailure, JobExecutionTimeout, RunnerSystemFailure,
		DataIntegrityFailure, DownstreamPipelineCreationFailed, UnknownFailure} {
		if !r.Known() {
			t.Errorf("%q is not Known", r)
		}
	}
	for _, r := range []Reason{"", "canceled", "some_future_failure"} {
		if r.Known() {
			t.Errorf("%q is Known", r)
		}
	}
}
