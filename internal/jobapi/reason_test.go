package jobapi

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/slipway/slipway/internal/plan"
)

func TestReasonRoundTrip(t *testing.T) {
	t.Parallel()
	r := plan.Reason{Clause: "rules[0]", Text: "rules[0] matched", Where: ".gitlab-ci.yml:3:7",
		Vars: []string{"A", "SECRET", "NONE"}, Values: map[string]string{"A": "a", "SECRET": "s"}, Undefined: []string{"NONE"}}
	s := NewSpec(&plan.Job{Name: "x", When: "on_success"})
	s.Reason = NewReason(r, func(name, _ string) bool { return name == "SECRET" })
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeSpec(b); err != nil {
		t.Fatalf("a spec with a reason: %v", err)
	}
	got, err := DecodeReason(b)
	if err != nil || got == nil {
		t.Fatalf("DecodeReason: %v %v", got, err)
	}
	pr, hidden := got.Plan()
	want := r
	want.Values = map[string]string{"A": "a", "SECRET": ""}
	if !reflect.DeepEqual(pr, want) || !reflect.DeepEqual(hidden, map[string]bool{"SECRET": true}) {
		t.Errorf("got %+v %v, want %+v", pr, hidden, want)
	}
}

func TestDecodeReasonOlderSpecs(t *testing.T) {
	t.Parallel()
	v0, err := os.ReadFile("testdata/v0-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(NewSpec(&plan.Job{Name: "x"}))
	for name, spec := range map[string][]byte{"version 0 (its reason kept every value)": v0, "version 1 without a reason": b} {
		if r, err := DecodeReason(spec); err != nil || r != nil {
			t.Errorf("%s: %+v %v, want none", name, r, err)
		}
	}
}
