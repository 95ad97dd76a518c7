package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

// compileFiles writes files into an otherwise empty repository, loads .gitlab-ci.yml and
// compiles it.
func compileFiles(t *testing.T, files map[string]string, ctx Context) (*Plan, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := load(t, dir, pipeline.DefaultFile, &ctx)
	if err != nil {
		return nil, err
	}
	return Compile(cfg, ctx)
}

// varOf is the value of key among vars as a runner expands them (Expanded), and whether it is
// set.
func varOf(vars []Var, key string) (string, bool) {
	for _, v := range Expanded(vars) {
		if v.Key == key {
			return v.Value, true
		}
	}
	return "", false
}

// TestSelfReferenceIsNotACycle: `VAR: $VAR` names the variable's other definitions. GitLab
// sorts a job's variables by their references with TSort and calls a circle only a strongly
// connected component of more than one variable (Gitlab::Ci::Variables::Collection::Sort#errors:
// `component.size > 1`); Collection#sort_and_expand_all then expands each variable over those
// sorted before it, so a self-reference reads the other definitions of the key — predefined
// variables, or the project, group, pipeline, schedule, trigger and parent-pipeline variables
// (all of them here the user's, Context.Variables) — and is empty when there are none. The YAML
// levels are one: GitLab merges top-level, job and rules variables into one list before
// (Variables::Helpers.inherit_yaml_variables, merge_variables), so a job's `X: $X` does not
// read a top-level X.
func TestSelfReferenceIsNotACycle(t *testing.T) {
	t.Parallel()
	user := func(vs ...Var) Context {
		c := goldenContext()
		c.Variables = vs
		return c
	}
	tests := []struct {
		name string
		src  string
		ctx  Context
		key  string
		want string
	}{
		{
			name: "nothing else defines it: empty",
			src:  "job:\n  script: env\n  variables:\n    OSRB_BUG_ID: $OSRB_BUG_ID\n",
			ctx:  goldenContext(), key: "OSRB_BUG_ID", want: "",
		},
		{
			name: "braces, text around it",
			src:  "job:\n  script: env\n  variables:\n    X: a-${X}-b\n",
			ctx:  goldenContext(), key: "X", want: "a--b",
		},
		{
			name: "a pipeline or project variable wins, as ever",
			src:  "job:\n  script: env\n  variables:\n    X: $X\n",
			ctx:  user(Var{Key: "X", Value: "from-pipeline"}), key: "X", want: "from-pipeline",
		},
		{
			name: "a predefined variable is read",
			src:  "job:\n  script: env\n  variables:\n    CI_COMMIT_REF_NAME: ref-$CI_COMMIT_REF_NAME\n",
			ctx:  goldenContext(), key: "CI_COMMIT_REF_NAME", want: "ref-main",
		},
		{
			name: "a top-level variable is the same level: not read",
			src:  "variables:\n  X: global\njob:\n  script: env\n  variables:\n    X: $X-job\n",
			ctx:  goldenContext(), key: "X", want: "-job",
		},
		{
			name: "a top-level self-reference reads a predefined variable",
			src:  "variables:\n  CI_JOB_STAGE: s-$CI_JOB_STAGE\njob:\n  script: env\n",
			ctx:  goldenContext(), key: "CI_JOB_STAGE", want: "s-test",
		},
		{
			name: "a user variable naming itself reads the YAML one",
			src:  "job:\n  script: env\n  variables:\n    X: yaml\n",
			ctx:  user(Var{Key: "X", Value: "user-$X"}), key: "X", want: "user-yaml",
		},
		{
			name: "another variable reads the self-referencing one",
			src:  "job:\n  script: env\n  variables:\n    X: $X\n    Y: y$X\n",
			ctx:  user(Var{Key: "X", Value: "u"}), key: "Y", want: "yu",
		},
		{
			name: "rules read it so too",
			src:  "job:\n  script: env\n  variables:\n    R: r-$R\n  rules:\n    - if: $R == \"r-\"\n",
			ctx:  goldenContext(), key: "R", want: "r-",
		},
		{
			name: "rules variables name themselves too",
			src:  "job:\n  script: env\n  rules:\n    - variables: {DEPLOY: $DEPLOY}\n",
			ctx:  goldenContext(), key: "DEPLOY", want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := compileSource(t, tt.src, tt.ctx)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			j := p.Job("job")
			if j == nil {
				t.Fatalf("no job in %v", jobNames(p.Jobs))
			}
			got, ok := varOf(j.Variables, tt.key)
			if !ok || got != tt.want {
				t.Errorf("%s = %q (set %v), want %q", tt.key, got, ok, tt.want)
			}
		})
	}
}

// TestVariableCycleOfTwoIsAnError: a loop through two or more variables stays an error
// (Collection::Sort#errors), and so does one that passes through a self-reference.
func TestVariableCycleOfTwoIsAnError(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"job:\n  script: env\n  variables:\n    A: $B\n    B: $A\n",
		"job:\n  script: env\n  variables:\n    A: x$B\n    B: $C\n    C: $A\n",
	} {
		_, err := compileSource(t, src, goldenContext())
		if err == nil || !strings.Contains(err.Error(), "circular variable reference") {
			t.Errorf("%q: error %v, want a circular variable reference", src, err)
		}
	}
}

// TestTriggerSelfReferencePassesParentValue: a trigger job's `X: ${X}` passes the value the
// trigger job sees to the child pipeline: GitLab expands the bridge's YAML variables over
// all its variables (Gitlab::Ci::Variables::Downstream::Generator#calculate,
// ExpandableVariableGenerator#for). Without another definition the reference reaches the
// child as written and reads the child's own (omnibus-gitlab's trigger jobs rely on this).
func TestTriggerSelfReferencePassesParentValue(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		pipeline.DefaultFile: "trigger:\n  variables:\n    QA_IMAGE: ${QA_IMAGE}\n    TAG: v-$CI_COMMIT_SHORT_SHA\n  trigger:\n    include: child.yml\n",
		"child.yml":          "variables:\n  QA_IMAGE: child-default\ntest:\n  script: env\n",
	}
	for _, tt := range []struct {
		name string
		user []Var
		want string
	}{
		{name: "a pipeline variable of the parent", user: []Var{{Key: "QA_IMAGE", Value: "qa:1.2"}}, want: "qa:1.2"},
		{name: "none: the child's own", want: "child-default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := goldenContext()
			ctx.Variables = tt.user
			p, err := compileFiles(t, files, ctx)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			tr := p.Job("trigger")
			if tr == nil || tr.Trigger == nil || tr.Trigger.Child == nil {
				t.Fatalf("no child pipeline: %+v", tr)
			}
			j := tr.Trigger.Child.Job("test")
			if got, _ := varOf(j.Variables, "QA_IMAGE"); got != tt.want {
				t.Errorf("child QA_IMAGE = %q, want %q", got, tt.want)
			}
			if got, _ := varOf(j.Variables, "TAG"); got != "v-"+testSHA[:8] {
				t.Errorf("child TAG = %q, want the parent's expansion", got)
			}
		})
	}
}

// TestRealworldSelfReference plans the tag pipeline of NVIDIA gpu-operator's .nvidia-ci.yml,
// whose update-nspect job sets OSRB_BUG_ID: $OSRB_BUG_ID.
func TestRealworldSelfReference(t *testing.T) {
	t.Parallel()
	ctx := goldenContext()
	ctx.Tag, ctx.Ref = true, "v1.0.0"
	dir := "../pipeline/testdata/realworld/NVIDIA__gpu-operator"
	cfg, err := load(t, dir, ".nvidia-ci.yml", &ctx)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	p, err := Compile(cfg, ctx)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	j := p.Job("update-nspect")
	if j == nil {
		t.Fatalf("no update-nspect job in %v", jobNames(p.Jobs))
	}
	if got, ok := varOf(j.Variables, "OSRB_BUG_ID"); !ok || got != "" {
		t.Errorf("OSRB_BUG_ID = %q (set %v), want empty", got, ok)
	}
}
