package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestJobVariablePrecedence checks what one job sees for one key, layer by layer, lowest
// first: predefined < top-level YAML < workflow:rules:variables < job variables < matrix <
// rules:variables < the user's --variable (GitLab's "CI/CD variable precedence", and
// Gitlab::Ci::Variables::Builder#scoped_variables, Seed::Build#rules_attributes,
// Normalizer::MatrixStrategy#attributes).
func TestJobVariablePrecedence(t *testing.T) {
	t.Parallel()
	const layers = `
workflow:
  rules:
    - if: $CI_COMMIT_BRANCH
      variables:
        WORKFLOW: workflow
        V: workflow
variables:
  GLOBAL: global
  V: global
job:
  script: env
  variables:
    JOB: job
    V: job
  parallel:
    matrix:
      - V: [matrix]
        MATRIX: [matrix]
  rules:
    - if: $CI_COMMIT_BRANCH
      variables:
        RULE: rule
        V: rule
`
	tests := []struct {
		name string
		src  string
		user []Var
		// job is the job to look at ("job" when empty).
		job    string
		key    string
		want   string
		absent bool
		skip   string
	}{
		{name: "predefined only", src: "job: {script: env}", key: "CI_COMMIT_BRANCH", want: "main"},
		{name: "top-level YAML over a pipeline predefined variable", src: "variables: {CI_PROJECT_NAME: renamed}\njob: {script: env}", key: "CI_PROJECT_NAME", want: "renamed"},
		{
			name: "top-level YAML over a job predefined variable",
			src:  "variables: {CI_NODE_TOTAL: \"7\"}\njob: {script: env}", key: "CI_NODE_TOTAL", want: "7",
		},
		{name: "job YAML over a job predefined variable", src: "job: {script: env, variables: {CI_NODE_TOTAL: \"7\"}}", key: "CI_NODE_TOTAL", want: "7"},
		{name: "every layer: user wins", src: layers, user: []Var{{Key: "V", Value: "user"}}, job: "job: [matrix, matrix]", key: "V", want: "user"},
		{name: "every layer but the user: rules:variables win", src: layers, job: "job: [matrix, matrix]", key: "V", want: "rule"},
		{
			name: "matrix over job variables",
			src:  strings.Replace(layers, "        V: rule\n", "", 1), job: "job: [matrix, matrix]", key: "V", want: "matrix",
		},
		{
			name: "job variables over workflow",
			src:  "workflow:\n  rules:\n    - variables: {V: workflow}\nvariables: {V: global}\njob: {script: env, variables: {V: job}}",
			key:  "V", want: "job",
		},
		{
			name: "workflow:rules:variables over top-level",
			src:  "workflow:\n  rules:\n    - variables: {V: workflow}\nvariables: {V: global}\njob: {script: env}",
			key:  "V", want: "workflow",
		},
		{name: "each layer keeps its own keys", src: layers, job: "job: [matrix, matrix]", key: "WORKFLOW", want: "workflow"},
		{name: "global key", src: layers, job: "job: [matrix, matrix]", key: "GLOBAL", want: "global"},
		{name: "job key", src: layers, job: "job: [matrix, matrix]", key: "JOB", want: "job"},
		{name: "matrix key", src: layers, job: "job: [matrix, matrix]", key: "MATRIX", want: "matrix"},
		{name: "rule key", src: layers, job: "job: [matrix, matrix]", key: "RULE", want: "rule"},
		{name: "user over predefined", src: "job: {script: env}", user: []Var{{Key: "CI_COMMIT_BRANCH", Value: "forced"}}, key: "CI_COMMIT_BRANCH", want: "forced"},
		{name: "user over job variables", src: "job: {script: env, variables: {V: job}}", user: []Var{{Key: "V", Value: "user"}}, key: "V", want: "user"},
		{
			name: "rules:variables of a rule that did not match are not applied",
			src:  "job:\n  script: env\n  variables: {V: job}\n  rules:\n    - if: $CI_COMMIT_TAG\n      variables: {V: tag}\n    - when: on_success",
			key:  "V", want: "job",
		},

		// inherit:variables.
		{
			name: "inherit false drops top-level variables",
			src:  "variables: {G: global}\njob: {script: env, inherit: {variables: false}}",
			key:  "G", absent: true,
		},
		{
			name: "inherit false keeps the job's own variables",
			src:  "variables: {G: global}\njob: {script: env, inherit: {variables: false}, variables: {G: own}}",
			key:  "G", want: "own",
		},
		{
			name: "inherit false keeps predefined variables",
			src:  "variables: {G: global}\njob: {script: env, inherit: {variables: false}}",
			key:  "CI_COMMIT_SHA", want: testSHA,
		},
		{
			name: "inherit false keeps the user's variables",
			src:  "variables: {G: global}\njob: {script: env, inherit: {variables: false}}",
			user: []Var{{Key: "G", Value: "user"}},
			key:  "G", want: "user",
		},
		{
			name: "inherit false drops a workflow override of a top-level variable",
			src:  "workflow:\n  rules:\n    - variables: {G: workflow}\nvariables: {G: global}\njob: {script: env, inherit: {variables: false}}",
			key:  "G", absent: true,
		},
		{
			name: "inherit false drops workflow-only variables",
			src:  "workflow:\n  rules:\n    - variables: {W: workflow}\njob: {script: env, inherit: {variables: false}}",
			key:  "W", absent: true,
		},
		{
			name: "inherit list keeps the listed variable",
			src:  "variables: {A: a, B: b}\njob: {script: env, inherit: {variables: [A]}}",
			key:  "A", want: "a",
		},
		{
			name: "inherit list drops the others",
			src:  "variables: {A: a, B: b}\njob: {script: env, inherit: {variables: [A]}}",
			key:  "B", absent: true,
		},
		{
			name: "inherit through extends",
			src:  ".t: {inherit: {variables: false}}\nvariables: {A: a}\njob: {extends: .t, script: env}",
			key:  "A", absent: true,
		},

		// expand: false.
		{
			name: "expand false keeps the raw value",
			src:  "variables:\n  R:\n    value: \"$HOME/x\"\n    expand: false\njob: {script: env}",
			key:  "R", want: "$HOME/x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			ctx := goldenContext()
			ctx.Variables = tt.user
			p := mustCompile(t, tt.src, ctx)
			name := tt.job
			if name == "" {
				name = "job"
			}
			j := p.Job(name)
			if j == nil {
				t.Fatalf("no job %q in %v", name, jobNames(p.Jobs))
			}
			got, ok := varMap(j.Variables)[tt.key]
			switch {
			case tt.absent && ok:
				t.Errorf("%s = %q, want it absent", tt.key, got)
			case !tt.absent && !ok:
				t.Errorf("%s is absent, want %q", tt.key, tt.want)
			case !tt.absent && got != tt.want:
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestRawVariables checks that expand: false survives into the plan, where runners read it.
func TestRawVariables(t *testing.T) {
	t.Parallel()
	src := `
variables:
  GLOBAL_RAW: {value: "$A", expand: false}
  GLOBAL: "$A"
job:
  script: env
  variables:
    JOB_RAW: {value: "$$B $C", expand: false}
`
	p := mustCompile(t, src, goldenContext())
	vars := map[string]Var{}
	for _, v := range p.Job("job").Variables {
		vars[v.Key] = v
	}
	tests := []struct {
		name  string
		key   string
		value string
		raw   bool
	}{
		{name: "top-level raw", key: "GLOBAL_RAW", value: "$A", raw: true},
		{name: "top-level expanded", key: "GLOBAL", value: "$A", raw: false},
		{name: "job raw", key: "JOB_RAW", value: "$$B $C", raw: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, ok := vars[tt.key]
			if !ok {
				t.Fatalf("%s is absent", tt.key)
			}
			if v.Value != tt.value || v.Raw != tt.raw {
				t.Errorf("%s = %q raw %v, want %q raw %v", tt.key, v.Value, v.Raw, tt.value, tt.raw)
			}
		})
	}
}

// TestVarSetLookup checks how a variable's value is expanded when rules and names read it:
// references to other variables are expanded, to any depth and once; raw variables are not.
func TestVarSetLookup(t *testing.T) {
	t.Parallel()
	chain := []Var{{Key: "V0", Value: "end"}}
	for i := 1; i <= 12; i++ {
		chain = append(chain, Var{Key: fmt.Sprintf("V%d", i), Value: fmt.Sprintf("$V%d", i-1)})
	}
	s := newVarSet(nil, 0, []Var{
		{Key: "A", Value: "a"},
		{Key: "B", Value: "$A-b"},
		{Key: "C", Value: "${B}-c"},
		{Key: "UNDEF", Value: "x${NOPE}y"},
		{Key: "ESCAPED", Value: "$$A"},
		{Key: "RAW", Value: "$A", Raw: true},
		{Key: "USES_RAW", Value: "[$RAW]"},
		{Key: "FILE", Value: "$A", File: true},
		{Key: "SELF", Value: "$SELF-x"},
		{Key: "CYCLE1", Value: "1$CYCLE2"},
		{Key: "CYCLE2", Value: "2$CYCLE1"},
		{Key: "DOLLAR", Value: "cost: 5$"},
		{Key: "WINDOWS", Value: "%A%"},
	}, chain)
	tests := []struct {
		name string
		key  string
		want string
		// guard is set for a cycle: it has no right value, it only has to end.
		guard  bool
		absent bool
		skip   string
	}{
		{name: "plain", key: "A", want: "a"},
		{name: "one reference", key: "B", want: "a-b"},
		{name: "nested reference in braces", key: "C", want: "a-b-c"},
		{name: "undefined reference is empty", key: "UNDEF", want: "xy"},
		{name: "double dollar is a literal dollar", key: "ESCAPED", want: "$A"},
		{name: "raw value is not expanded", key: "RAW", want: "$A"},
		{name: "a raw value is inserted as it is", key: "USES_RAW", want: "[$A]"},
		{name: "file variable is not expanded", key: "FILE", want: "$A"},
		{name: "self reference ends", key: "SELF", want: "-x"},
		{name: "cycle ends", key: "CYCLE1", guard: true},
		{name: "trailing dollar stays", key: "DOLLAR", want: "cost: 5$"},
		{name: "windows syntax is not expanded", key: "WINDOWS", want: "%A%"},
		{name: "ten levels", key: "V10", want: "end"},
		{
			name: "twelve levels", key: "V12", want: "end",
		},
		{name: "unknown", key: "NOPE", absent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			got, ok := s.Lookup(tt.key)
			switch {
			case tt.absent:
				if ok {
					t.Errorf("Lookup(%s) = %q, want absent", tt.key, got)
				}
			case !ok:
				t.Errorf("Lookup(%s) is absent", tt.key)
			case tt.guard:
				if !strings.HasPrefix(got, "12") {
					t.Errorf("Lookup(%s) = %q, want the cycle expanded at least once", tt.key, got)
				}
			case got != tt.want:
				t.Errorf("Lookup(%s) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// A cycle between variables makes GitLab refuse the pipeline (Seed::Build#errors →
// variable_expansion_errors → Collection::Sort: "circular variable reference detected").
func TestVariableCycleIsAnError(t *testing.T) {
	t.Parallel()
	_, err := compileSource(t, "job:\n  script: env\n  variables:\n    A: $B\n    B: $A\n", goldenContext())
	if err == nil || !strings.Contains(err.Error(), "circular") {
		t.Errorf("error %v, want a circular variable reference", err)
	}
}

// pipelineTypes are the pipelines of one project that rules tell apart.
func pipelineTypes() map[string]Context {
	push := goldenContext()

	feature := goldenContext()
	feature.Ref = "feature/login"

	tag := goldenContext()
	tag.Ref, tag.Tag = "v1.0.0", true

	mr := goldenContext()
	mr.Source, mr.Ref = SourceMergeRequest, "feature/login"
	mr.MergeRequest = &MergeRequest{
		IID: 7, ID: 70, Title: "Login page", SourceBranch: "feature/login", TargetBranch: "main",
		SourceSHA: testSHA, TargetSHA: testBefore, DiffBaseSHA: testBefore,
	}

	schedule := goldenContext()
	schedule.Source = SourceSchedule

	web := goldenContext()
	web.Source = SourceWeb

	return map[string]Context{"push main": push, "push feature": feature, "tag": tag, "merge request": mr, "schedule": schedule, "web": web}
}

// TestPipelineTypes checks which jobs each kind of pipeline runs, with the usual rules.
func TestPipelineTypes(t *testing.T) {
	t.Parallel()
	const src = `
branch:
  script: x
  rules: [{if: $CI_COMMIT_BRANCH}]
default-branch:
  script: x
  rules: [{if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH}]
tag:
  script: x
  rules: [{if: $CI_COMMIT_TAG}]
merge-request:
  script: x
  rules: [{if: $CI_PIPELINE_SOURCE == "merge_request_event"}]
merge-request-iid:
  script: x
  rules: [{if: $CI_MERGE_REQUEST_IID}]
schedule:
  script: x
  rules: [{if: $CI_PIPELINE_SOURCE == "schedule"}]
not-schedule:
  script: x
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - when: on_success
no-rules:
  script: x
only-branches:
  script: x
  only: [branches]
only-tags:
  script: x
  only: [tags]
only-merge-requests:
  script: x
  only: [merge_requests]
only-schedules:
  script: x
  only: [schedules]
only-web:
  script: x
  only: [web]
except-main:
  script: x
  except: [main]
`
	tests := []struct {
		name string
		want []string
	}{
		{name: "push main", want: []string{"branch", "default-branch", "not-schedule", "no-rules", "only-branches"}},
		{name: "push feature", want: []string{"branch", "not-schedule", "no-rules", "only-branches", "except-main"}},
		{name: "tag", want: []string{"tag", "not-schedule", "no-rules", "only-tags", "except-main"}},
		{name: "merge request", want: []string{"merge-request", "merge-request-iid", "not-schedule", "only-merge-requests"}},
		{name: "schedule", want: []string{"branch", "default-branch", "schedule", "no-rules", "only-branches", "only-schedules"}},
		{name: "web", want: []string{"branch", "default-branch", "not-schedule", "no-rules", "only-branches", "only-web"}},
	}
	ctxs := pipelineTypes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustCompile(t, src, ctxs[tt.name])
			if got := jobNames(p.Jobs); !slices.Equal(got, tt.want) {
				t.Errorf("jobs %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPipelineTypesWithWorkflow: with workflow:rules, jobs without rules lose the default
// only: [branches, tags] (Entry::Processable#compose! deletes it when workflow rules exist), so
// they also run in merge request pipelines.
func TestPipelineTypesWithWorkflow(t *testing.T) {
	t.Parallel()
	const src = `
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH
    - if: $CI_COMMIT_TAG
no-rules:
  script: x
only-branches:
  script: x
  only: [branches]
branch-rule:
  script: x
  rules: [{if: $CI_COMMIT_BRANCH}]
`
	tests := []struct {
		name    string
		created bool
		want    []string
		skip    string
	}{
		{name: "push main", created: true, want: []string{"no-rules", "only-branches", "branch-rule"}},
		{name: "tag", created: true, want: []string{"no-rules"}},
		{name: "schedule", created: true, want: []string{"no-rules", "only-branches", "branch-rule"}},
		{
			name: "merge request", created: true, want: []string{"no-rules"},
		},
	}
	ctxs := pipelineTypes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			p := mustCompile(t, src, ctxs[tt.name])
			if p.Created != tt.created {
				t.Fatalf("created %v, want %v (%s)", p.Created, tt.created, p.Reason.Text)
			}
			if got := jobNames(p.Jobs); !slices.Equal(got, tt.want) {
				t.Errorf("jobs %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPredefinedByPipelineType checks the predefined variables that rules most often test, as
// a job sees them in each kind of pipeline.
func TestPredefinedByPipelineType(t *testing.T) {
	t.Parallel()
	keys := []string{"CI_COMMIT_BRANCH", "CI_COMMIT_TAG", "CI_PIPELINE_SOURCE", "CI_MERGE_REQUEST_IID", "CI_COMMIT_REF_NAME"}
	tests := []struct {
		name string
		// want maps each of keys to its value; a missing key must be absent.
		want map[string]string
	}{
		{name: "push main", want: map[string]string{"CI_COMMIT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_REF_NAME": "main"}},
		{name: "tag", want: map[string]string{"CI_COMMIT_TAG": "v1.0.0", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_REF_NAME": "v1.0.0"}},
		{name: "merge request", want: map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "7", "CI_COMMIT_REF_NAME": "feature/login"}},
		{name: "schedule", want: map[string]string{"CI_COMMIT_BRANCH": "main", "CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_REF_NAME": "main"}},
	}
	ctxs := pipelineTypes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustCompile(t, "job: {script: env, rules: [{when: always}]}", ctxs[tt.name])
			got := varMap(p.Job("job").Variables)
			for _, k := range keys {
				want, wantOK := tt.want[k]
				v, ok := got[k]
				if ok != wantOK || v != want {
					t.Errorf("%s = %q (set %v), want %q (set %v)", k, v, ok, want, wantOK)
				}
			}
		})
	}
}
