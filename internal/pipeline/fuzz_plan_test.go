package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// fuzzChild is the child pipeline the fuzzed configurations may trigger.
const fuzzChild = `variables: {QA: child}
.t: {script: [echo child]}
child-job:
  extends: .t
  variables: {QA: $QA}
`

// fuzzIncluded is a file the seeds include: hidden jobs that extend and reference across
// files.
const fuzzIncluded = `.inc-base:
  image: alpine
  before_script: [echo base]
  variables: {INC: inc}
.inc:
  extends: .inc-base
  script: !reference [.inc-base, before_script]
inc-job:
  extends: .inc
  needs: []
`

// FuzzLoadPlan loads a fuzzed .gitlab-ci.yml and a fuzzed included file (ci/inc.yml) from an
// in-memory repository that also holds a template with spec:inputs and a child pipeline, and
// plans what loads for a branch push and a merge request: neither Load nor plan.Compile may
// panic (an InternalError fails), their errors are positioned pipeline.Errors, and every need
// of a planned job names a job of the plan.
//
// Fuzzed 2026-12-02 with -fuzztime 5m (2 workers, shared machine): 1,285,935 execs, 854
// corpus entries, no failure. With the resolver's nil-value fix taken out, it finds that crash
// (a !reference in a mapping that cannot be resolved) in under a second:
// testdata/fuzz/FuzzLoadPlan/b50e982f219b58a2, kept as a regression.
// Fuzzed again 2026-12-02 for 5m (1 worker) after the YAML 1.1 scalars and the speed work were
// merged: 566,302 execs, 982 corpus entries, no failure.
func FuzzLoadPlan(f *testing.F) {
	for _, s := range pipeline.SeedPipelines {
		f.Add([]byte(s), []byte(fuzzIncluded))
	}
	f.Add([]byte("include: ci/inc.yml\njob:\n  extends: .inc\n  variables: !reference [.inc, variables]\n"), []byte(fuzzIncluded))
	f.Add([]byte("include:\n  - local: ci/inc.yml\n  - local: templates/job.yml\n    inputs: {name: lint}\n"+
		"use:\n  extends: lint-job\n  script: !reference [.inc, script]\n  needs: [\"lint-job 1/2\", inc-job]\n"), []byte(fuzzIncluded))
	f.Add([]byte("include: ci/inc.yml\ndefault: !reference [.inc]\nworkflow:\n  extends: .inc\n"), []byte(fuzzIncluded))
	f.Add([]byte("include: ci/inc.yml\n"), []byte("include: .gitlab-ci.yml\n.x: &x {a: *x}\n"))
	f.Add([]byte("include: [ci/inc.yml, ci/inc.yml]\nj: {extends: .inc, trigger: {include: ci/child.yml}, variables: {QA: $QA}}\n"), []byte(fuzzIncluded))
	f.Fuzz(func(t *testing.T, root, included []byte) {
		fsys := fstest.MapFS{
			pipeline.DefaultFile: {Data: root},
			"ci/inc.yml":         {Data: included},
			"ci/child.yml":       {Data: []byte(fuzzChild)},
			"templates/job.yml":  {Data: []byte(pipeline.FuzzTemplate)},
		}
		for _, pc := range []plan.Context{
			{Source: plan.SourcePush, Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567", Project: plan.Project{Path: "group/project"},
				Variables: []plan.Var{{Key: "QA", Value: "user"}}},
			{Source: plan.SourceMergeRequest, Ref: "feature", SHA: "0123456789abcdef0123456789abcdef01234567", Project: plan.Project{Path: "group/project"},
				MergeRequest: &plan.MergeRequest{IID: 1, SourceBranch: "feature", TargetBranch: "main"}},
		} {
			opts := pipeline.Options{
				FS: fsys, Project: "group/project", Server: "gitlab.com", SHA: pc.SHA,
				Rules: plan.RuleEnv(pc), MaxIncludes: 20, MaxJobs: 200,
			}
			cfg, err := pipeline.Load(context.Background(), opts)
			checkErrors(t, "Load", err)
			if err != nil {
				return
			}
			pc.MaxJobs = 400
			pc.LoadChild = func(files []string) (*pipeline.Config, error) {
				child := opts
				child.Child = files
				return pipeline.Load(context.Background(), child)
			}
			p, err := plan.Compile(cfg, pc)
			checkErrors(t, "Compile", err)
			if err != nil {
				continue
			}
			for _, j := range p.Jobs {
				for _, n := range j.Needs {
					if p.Job(n.Job) == nil {
						t.Fatalf("job %q needs %q, which is not in the plan", j.Name, n.Job)
					}
				}
			}
		}
	})
}

// checkErrors fails unless err is nil or a pipeline.Errors whose every element is positioned
// in a file; an InternalError (a recovered panic) fails with its stack.
func checkErrors(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ie *pipeline.InternalError
	if errors.As(err, &ie) {
		t.Fatalf("%s: %v\n%s", what, ie, ie.Stack)
	}
	var es pipeline.Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("%s error %T %v is not a pipeline.Errors", what, err, err)
	}
	for _, e := range es {
		if e == nil || e.Pos.File == "" {
			t.Fatalf("%s: error without a file: %#v", what, e)
		}
	}
}
