package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

// varValues returns the variables as KEY=VALUE.
func varValues(vs []VarDef) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Key + "=" + v.Value
	}
	return out
}

// TestVariableValuesAreScalars checks that a variable's value is any scalar at every level where
// variables are written, as GitLab's Entry::Variable has it
// (lib/gitlab/ci/config/entry/variable.rb: SimpleVariable applies to what
// Gitlab::Config::Entry::Validators::ScalarValidator accepts, a String, Symbol, Integer, Float,
// true or false; ComplexVariable validates `value` with `scalar: true`), and that the value is
// Ruby's to_s of what Psych read (SimpleVariable#value is `@config.to_s`). GNOME's citemplates
// sets `LIBGL_ALWAYS_SOFTWARE: true` in flatpak/flatpak_ci_initiative.yml, included by 25 GNOME
// projects' pipelines.
func TestVariableValuesAreScalars(t *testing.T) {
	t.Parallel()
	// The same eight variables at each level, indented for it.
	scalars := func(indent int) string {
		var b strings.Builder
		for _, l := range []string{"A: true", "B: 0.4", "C: 1.0e+20", "D: yes", "E: 010", "F: '010'", "G:", "H: {value: off}"} {
			b.WriteString(strings.Repeat(" ", indent) + l + "\n")
		}
		return b.String()
	}
	src := "variables:\n" + scalars(2) +
		"workflow:\n  rules:\n    - variables:\n" + scalars(8) +
		"job:\n  script: x\n  variables:\n" + scalars(4) +
		"  services:\n    - name: db\n      variables:\n" + scalars(8) +
		"  rules:\n    - variables:\n" + scalars(8) +
		"bridge:\n  trigger: group/project\n  variables:\n" + scalars(4)
	cfg, err := loadFS(map[string]string{DefaultFile: src}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=true", "B=0.4", "C=1.0e+20", "D=true", "E=8", "F=010", "G=", "H=false"}
	job := cfg.Job("job")
	levels := map[string][]VarDef{
		"global":        cfg.Variables,
		"workflow rule": cfg.Workflow.Rules[0].Variables,
		"job":           job.Variables,
		"service":       job.Services[0].Variables,
		"job rule":      job.Rules[0].Variables,
		"trigger job":   cfg.Job("bridge").Variables,
	}
	for level, vs := range levels {
		if got := varValues(vs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s variables %v, want %v", level, got, want)
		}
	}
}

// TestVariableValueErrors checks what a variable may not be: a list, or a hash's value that is
// not a scalar (GitLab: "variable definition must be either a string or a hash", and
// ComplexVariable's `validates :config_value, scalar: true`).
func TestVariableValueErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, pos, want string
	}{
		{name: "list", src: "variables:\n  A: [1, 2]\njob: {script: x}\n", pos: ".gitlab-ci.yml:2:6", want: "variables:A should be a string, a number, a boolean or a hash"},
		{name: "hash value is a list", src: "variables:\n  A:\n    value: [1]\njob: {script: x}\n", pos: ".gitlab-ci.yml:3:12", want: "variables:A:value should be a string, a number or a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadFS(map[string]string{DefaultFile: tt.src}, Options{})
			wantLoadError(t, err, tt.pos, tt.want)
		})
	}
}

// TestInputsAreTyped checks include inputs against their spec's type as GitLab does, with the
// value Psych read (Gitlab::Ci::Config::Interpolation::Inputs: a boolean input takes true or
// false, `yes` included; a string input refuses the boolean `on`), and that an interpolated
// number is written as Ruby writes it.
func TestInputsAreTyped(t *testing.T) {
	t.Parallel()
	spec := "spec:\n  inputs:\n    flag: {type: boolean}\n    n: {type: number}\n    s: {type: string, default: x}\n---\n" +
		"job-$[[ inputs.s ]]:\n  script: echo $[[ inputs.flag ]] $[[ inputs.n ]]\n"
	cfg, err := loadFS(map[string]string{
		DefaultFile: "include:\n  - local: t.yml\n    inputs: {flag: yes, n: 1.0e+3}\n",
		"t.yml":     spec,
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Job("job-x").Script; !reflect.DeepEqual(got, []string{"echo true 1000.0"}) {
		t.Errorf("script %q, want [echo true 1000.0]", got)
	}
	_, err = loadFS(map[string]string{
		DefaultFile: "include:\n  - local: t.yml\n    inputs: {flag: true, n: 1, s: on}\n",
		"t.yml":     spec,
	}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:3:35", "`s` input: provided value is not a string")
}

// TestNeedsFlattened checks needs: as GitLab's Entry::Needs composes it (a ComposableArray:
// `[@config].flatten.each`, lib/gitlab/config/entry/composable_array.rb): lists nested by an
// alias of a list of needs are spliced in at any depth, null entries are unspecified and left
// out (Gitlab::Config::Entry::Factory#create! makes nil an Entry::Unspecified, which has no type
// and which Needs#value leaves out), a single hash is a need, and a null needs: is no needs at
// all (not `needs: []`).
func TestNeedsFlattened(t *testing.T) {
	t.Parallel()
	src := `stages: [build, test]
.common-needs: &common
  - a
  - [b]
a: {stage: build, script: x}
b: {stage: build, script: x}
c: {stage: build, script: x}
nested:
  script: x
  needs:
    - *common
    - [[[c]]]
    -
    - job: a
      artifacts: false
one-hash:
  script: x
  needs: {job: c}
null-needs:
  script: x
  needs:
in-rule:
  script: x
  rules:
    - needs: [*common, ~]
`
	cfg, err := loadFS(map[string]string{DefaultFile: src}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(ns []Need) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Job)
		}
		return out
	}
	if got := names(cfg.Job("nested").Needs); !reflect.DeepEqual(got, []string{"a", "b", "c", "a"}) {
		t.Errorf("nested needs %v, want [a b c a]", got)
	}
	if n := cfg.Job("nested").Needs[3]; n.Artifacts {
		t.Errorf("the hash need kept artifacts: true")
	}
	if got := names(cfg.Job("one-hash").Needs); !reflect.DeepEqual(got, []string{"c"}) {
		t.Errorf("one-hash needs %v, want [c]", got)
	}
	if j := cfg.Job("null-needs"); j.NeedsSet {
		t.Errorf("needs: with no value is set (%v), want it unspecified", j.Needs)
	}
	if got := names(cfg.Job("in-rule").Rules[0].Needs); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("rule needs %v, want [a b]", got)
	}
}

// TestCacheFlattenedAndNullsUnspecified checks cache: as GitLab's Entry::Caches composes it (a
// ComposableArray too, so a list of caches nested by an alias is spliced in, as in
// gitlab-org/gitlab-shell's `cache: [*cached_go]`-style configs), and null keys of a cache or
// an artifacts hash, which are unspecified (GNOME/pygobject and rockdaboot/wget2 write
// `cache: {paths: }`): Factory#create! makes them Entry::Unspecified, and the attributes allow
// nil.
func TestCacheFlattenedAndNullsUnspecified(t *testing.T) {
	t.Parallel()
	src := `.go-cache: &go
  - key: go
    paths: [.go]
nested:
  script: x
  cache:
    - *go
    - key: other
      paths:
    -
empty-paths:
  script: x
  cache: {key: k, paths: }
  artifacts: {paths: [a], expire_in: , when: }
  environment: {name: review, url: , auto_stop_in: }
`
	cfg, err := loadFS(map[string]string{DefaultFile: src}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range cfg.Job("nested").Cache {
		keys = append(keys, c.Key)
	}
	if !reflect.DeepEqual(keys, []string{"go", "other"}) {
		t.Errorf("caches %v, want [go other]", keys)
	}
	j := cfg.Job("empty-paths")
	if len(j.Cache) != 1 || j.Cache[0].Paths != nil || j.Cache[0].Key != "k" {
		t.Errorf("cache %+v, want key k and no paths", j.Cache)
	}
	if j.Artifacts.When != "on_success" || j.Artifacts.ExpireIn != "" {
		t.Errorf("artifacts %+v, want the defaults", j.Artifacts)
	}
	if j.Environment.URL != "" || j.Environment.AutoStopIn != "" {
		t.Errorf("environment %+v", j.Environment)
	}
	_, err = loadFS(map[string]string{DefaultFile: "job:\n  script: x\n  cache: [{key: a}, {key: b}, {key: c}, {key: d}, {key: e}]\n"}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:3:10", "can have at most 4 caches")
}

// TestNullKeysAreUnspecified checks that a job key set to null is as if it were not written,
// as GitLab's Factory#create! makes Entry::Unspecified of nil (lib/gitlab/config/entry/factory.rb,
// "We assume that unspecified entry is undefined"), so that an inheritable one takes the
// default's value (Processable#inherit! overwrites an entry that is not specified); only
// script may not be null (Entry::Job `validates :script, presence: true`).
func TestNullKeysAreUnspecified(t *testing.T) {
	t.Parallel()
	src := "default:\n  image: alpine\n  timeout: 1h\njob:\n  script: x\n  image:\n  timeout:\n  stage:\n  when:\n  rules:\n  dependencies:\n  allow_failure:\n  inherit:\n"
	cfg, err := loadFS(map[string]string{DefaultFile: src}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Job("job")
	if j.Image == nil || j.Image.Name != "alpine" || j.Timeout != "1h" {
		t.Errorf("image %+v timeout %q, want the default's alpine and 1h", j.Image, j.Timeout)
	}
	if j.Stage != "test" || j.When != "" || j.RulesSet || j.DependenciesSet || j.AllowFailure != nil {
		t.Errorf("stage %q when %q rules %v dependencies %v allow_failure %v, want all unspecified", j.Stage, j.When, j.RulesSet, j.DependenciesSet, j.AllowFailure)
	}
	_, err = loadFS(map[string]string{DefaultFile: "job:\n  script:\n"}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:2:3", "jobs:job:script config can't be blank")
}

// TestScriptLinesAreStrings checks that a script line Psych reads as a boolean or a number is
// refused, as GitLab's Entry::Commands refuses it (`validates :config,
// string_or_nested_array_of_strings: true`, and LegacyValidationHelpers#validate_string takes a
// String or a Symbol), rather than run as "true" or "42"; quoted, it is the line as written.
func TestScriptLinesAreStrings(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"yes", "42", "0.5", "on"} {
		_, err := loadFS(map[string]string{DefaultFile: "job:\n  script:\n    - echo\n    - [" + line + "]\n"}, Options{})
		wantLoadError(t, err, ".gitlab-ci.yml:4:8", "jobs:job:script config should be a string or a nested array of strings")
	}
	cfg, err := loadFS(map[string]string{DefaultFile: "job:\n  script: [\"yes\", ':x']\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Job("job").Script; !reflect.DeepEqual(got, []string{"yes", ":x"}) {
		t.Errorf("script %q", got)
	}
}

// TestMatrixValues checks parallel:matrix values as GitLab's Entry::Product::Variables
// validates them (`variables: { array_values: true }`: each value a String, Symbol or Integer):
// YAML 1.1 reads `3.10` as the float 3.1 and `on` as true, which GitLab refuses rather than
// naming a job "test: [3.1]".
func TestMatrixValues(t *testing.T) {
	t.Parallel()
	cfg, err := loadFS(map[string]string{DefaultFile: "test:\n  script: x\n  parallel:\n    matrix:\n      - PY: [\"3.10\", 3]\n        OS: linux\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Job("test").Parallel.Matrix[0]["PY"]; !reflect.DeepEqual(got, []string{"3.10", "3"}) {
		t.Errorf("PY %v", got)
	}
	_, err = loadFS(map[string]string{DefaultFile: "test:\n  script: x\n  parallel:\n    matrix:\n      - PY: [3.10]\n        DEBUG: on\n"}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:5:14", "parallel:matrix:PY: values should be strings or integers, not float")
	if !strings.Contains(err.Error(), "parallel:matrix:DEBUG: values should be strings or integers, not boolean") {
		t.Errorf("error %v, want DEBUG refused too", err)
	}
}
