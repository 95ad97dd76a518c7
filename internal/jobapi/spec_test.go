package jobapi

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// fullJob sets every field of plan.Job that the scheduler, the server's payload, the runner
// and package run read. testdata/v0-spec.json is this job (with a few fields Specs do not
// carry: base, node_index, node_total, tags, reason) as the server stored it before
// versions, written by that release's code.
func fullJob() *plan.Job {
	pub := true
	return &plan.Job{
		Name: "deploy 1/2", Stage: "deploy", StageIndex: 3,
		When: "delayed", StartIn: 90 * time.Second,
		AllowFailure: true, ExitCodes: []int{3, 4},
		Needs:        []plan.Need{{Job: "build", Artifacts: true}, {Job: "lint", Optional: true}},
		Dependencies: []string{"build"},
		Image:        &pipeline.Image{Name: "alpine:3.20", Entrypoint: []string{""}, PullPolicy: []string{"if-not-present"}, User: "1000", Platform: "linux/amd64"},
		Services: []pipeline.Service{{
			Image: pipeline.Image{Name: "postgres:16", Entrypoint: []string{"docker-entrypoint.sh"}, PullPolicy: []string{"always"}, User: "postgres", Platform: "linux/arm64"},
			Alias: "db", Command: []string{"postgres", "-c", "fsync=off"}, Entrypoint: []string{"docker-entrypoint.sh"},
			Variables: []pipeline.VarDef{{Key: "POSTGRES_PASSWORD", Value: "$DB_PASS", Raw: true}},
		}},
		BeforeScript: []string{"echo before"},
		Script:       []string{"echo one", "echo two"},
		AfterScript:  []string{"echo after"},
		Variables: []plan.Var{
			{Key: "CI_JOB_NAME", Value: "deploy 1/2", Public: true},
			{Key: "TOKEN", Value: "s3cret", Masked: true},
			{Key: "KUBECONFIG", Value: "apiVersion: v1", File: true},
			{Key: "RAW", Value: "$NOT_EXPANDED", Raw: true},
		},
		Retry:         pipeline.Retry{Max: 2, When: []string{"runner_system_failure", "script_failure"}, ExitCodes: []int{137}},
		Timeout:       90 * time.Minute,
		Interruptible: true,
		ResourceGroup: "production",
		Environment:   &pipeline.Environment{Name: "production", URL: "https://example.com", Action: "start", OnStop: "stop", AutoStopIn: "1 day", DeploymentTier: "production"},
		Coverage:      "/total: (\\d+)%/",
		Artifacts: &pipeline.Artifacts{Name: "dist", Paths: []string{"dist/"}, Exclude: []string{"dist/*.map"}, Untracked: true,
			When: "always", ExpireIn: "1 week", ExposeAs: "Dist", Public: &pub,
			Reports: map[string][]string{"dotenv": {"build.env"}, "junit": {"report.xml"}}},
		Cache: []pipeline.Cache{
			{Key: "deps-$CI_COMMIT_REF_SLUG", Paths: []string{"node_modules/"}, Policy: "pull", When: "on_success", FallbackKeys: []string{"deps-main"}},
			{KeyFiles: []string{"go.sum"}, KeyPrefix: "go", Paths: []string{".go/"}, Untracked: true, Unprotect: true, Policy: "pull-push", When: "always"},
		},
	}
}

// roundTrip encodes p as the server stores and sends it, and decodes it as the scheduler and
// the runner do.
func roundTrip(t *testing.T, p *plan.Job) *plan.Job {
	t.Helper()
	b, err := json.Marshal(NewSpec(p))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSpec(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return got
}

func TestSpecRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		job  func(j *plan.Job)
	}{
		{"every field", func(*plan.Job) {}},
		{"minimal", func(j *plan.Job) {
			*j = plan.Job{Name: "a", Stage: "test", When: "on_success", Script: []string{"true"}}
		}},
		{"no needs: waits for earlier stages", func(j *plan.Job) { j.Needs = nil }},
		{"needs: [] starts at once", func(j *plan.Job) { j.Needs = []plan.Need{} }},
		{"all dependencies", func(j *plan.Job) { j.Dependencies = nil }},
		{"no dependencies", func(j *plan.Job) { j.Dependencies = []string{} }},
		{"shell job", func(j *plan.Job) { j.Image, j.Services = nil, nil }},
		{"fractions of seconds", func(j *plan.Job) { j.Timeout, j.StartIn = 1500*time.Millisecond, 100*time.Millisecond }},
		{"long timeout", func(j *plan.Job) { j.Timeout = 30 * 24 * time.Hour }},
		{"no retry", func(j *plan.Job) { j.Retry = pipeline.Retry{} }},
		{"failure allowed for every code", func(j *plan.Job) { j.ExitCodes = nil }},
		{"private artifacts", func(j *plan.Job) { f := false; j.Artifacts.Public = &f }},
		{"unicode and quotes", func(j *plan.Job) { j.Script = []string{`echo "héllo" 'wörld' \ $X`} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := fullJob()
			tt.job(want)
			if got := roundTrip(t, want); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

// TestSpecSnakeCase checks that the wire names are explicit snake_case, nested types
// included, and durations are seconds named so.
func TestSpecSnakeCase(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(NewSpec(fullJob()))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k != strings.ToLower(k) {
					t.Errorf("key %q is not snake_case", k)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	// The reports map's keys are the user's (dotenv, junit), not field names.
	delete(v["artifacts"].(map[string]any), "reports")
	walk(v)
	if v["version"] != float64(Version) || v["timeout_seconds"] != float64(5400) || v["start_in_seconds"] != float64(90) {
		t.Errorf("version, timeout_seconds, start_in_seconds: %v, %v, %v", v["version"], v["timeout_seconds"], v["start_in_seconds"])
	}
}

// TestDecodeSpecV0 reads a spec stored before versions, as that release wrote it.
func TestDecodeSpecV0(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/v0-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := fullJob(); !reflect.DeepEqual(got, want) {
		t.Errorf("version 0 spec:\n got  %+v\n want %+v", got, want)
	}
}

// TestDecodeSpecSkipsUnknownFields reads a spec of this version with fields a newer writer
// added, at the top and nested: they are skipped.
func TestDecodeSpecSkipsUnknownFields(t *testing.T) {
	t.Parallel()
	b := []byte(`{"version": 1, "name": "a", "stage": "test", "when": "on_success", "script": ["true"],
		"future_field": {"x": [1, 2]}, "image": {"name": "alpine", "digest": "sha256:00"},
		"variables": [{"key": "A", "value": "1", "scope": "job"}], "retry": {"max": 1, "backoff": "exp"}}`)
	got, err := DecodeSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &plan.Job{Name: "a", Stage: "test", When: "on_success", Script: []string{"true"},
		Image: &pipeline.Image{Name: "alpine"}, Variables: []plan.Var{{Key: "A", Value: "1"}}, Retry: pipeline.Retry{Max: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDecodeSpecRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec, want string
		version          bool // errors.Is ErrVersion
	}{
		{"a newer version", `{"version": 2, "name": "a"}`, "version 2", true},
		{"version 0 written out", `{"version": 0, "name": "a"}`, "version 0", true},
		{"null", `null`, "not a JSON object", false},
		{"not JSON", `{"name": `, "unexpected end", false},
		{"not an object", `["a"]`, "not a JSON object", false},
		{"a script that is not a list", `{"version": 1, "name": "a", "script": 5}`, "script", false},
		{"a negative timeout", `{"version": 1, "name": "a", "timeout_seconds": -1}`, "timeout_seconds", false},
		{"a timeout past any clock", `{"version": 1, "name": "a", "timeout_seconds": 1e300}`, "timeout_seconds", false},
		{"version 0 with a negative timeout", `{"name": "a", "timeout": -5}`, "negative", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := DecodeSpec([]byte(tt.spec))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeSpec(%s) = %+v, %v; want an error with %q", tt.spec, p, err, tt.want)
			}
			if errors.Is(err, ErrVersion) != tt.version {
				t.Errorf("errors.Is(%v, ErrVersion) = %v", err, !tt.version)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		runner  int
		want    int
		upgrade bool
	}{
		{"a runner of before versions", 0, 0, true},
		{"a runner of this version", Version, Version, false},
		{"a newer runner gets this server's version", Version + 3, Version, false},
	}
	for _, tt := range tests {
		got, err := Negotiate(tt.runner)
		if tt.upgrade {
			if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "upgrade the runner") {
				t.Errorf("%s: Negotiate(%d) = %d, %v; want an error that says to upgrade", tt.name, tt.runner, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: Negotiate(%d) = %d, %v; want %d", tt.name, tt.runner, got, err, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, time.Nanosecond, 100 * time.Millisecond, time.Hour, 100 * 365 * 24 * time.Hour} {
		if got, err := Duration(Seconds(d)); err != nil || got != d {
			t.Errorf("Duration(Seconds(%v)) = %v, %v", d, got, err)
		}
	}
	for _, s := range []float64{-1, -1e-9, 1e12} {
		if d, err := Duration(s); err == nil {
			t.Errorf("Duration(%v) = %v, want an error", s, d)
		}
	}
}

// notCarried are the fields of plan.Job (and of the pipeline types in it) that a Spec does
// not carry: nothing after planning reads them.
var notCarried = map[string]bool{
	"Base": true, "NodeIndex": true, "NodeTotal": true, "Tags": true, "Trigger": true,
	"Reason": true, "Pos": true, "Config": true, "Services.Pos": true,
	"Services.Variables.Description": true, "Services.Variables.Options": true,
	"Services.Variables.Pos": true, "Environment.Kubernetes": true,
}

// TestFullJobSetsEveryField makes a field added to plan.Job (or to a pipeline type in it) a
// decision: fullJob must set it, so that the round trip covers it, or notCarried names it.
func TestFullJobSetsEveryField(t *testing.T) {
	t.Parallel()
	set := map[string]bool{} // each field path, and whether some value of it is not zero
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), path)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				name := strings.TrimPrefix(path+"."+f.Name, ".")
				if !f.IsExported() || notCarried[name] {
					continue
				}
				if f.Anonymous {
					walk(v.Field(i), path)
					continue
				}
				set[name] = set[name] || !v.Field(i).IsZero()
				walk(v.Field(i), name)
			}
		}
	}
	walk(reflect.ValueOf(fullJob()), "")
	for name, ok := range set {
		if !ok {
			t.Errorf("fullJob leaves %s zero: set it, or list it in notCarried", name)
		}
	}
}
