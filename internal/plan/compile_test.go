package plan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// goldenFiles are the repository files the golden contexts report: rules:exists matches
// against them.
var goldenFiles = []string{"Dockerfile", "Makefile", "go.mod", "go.sum", "cmd/app/main.go", "docs/index.md", "charts/app/Chart.yaml"}

// goldenContext is the pipeline every golden is planned for: a push of branch main.
func goldenContext() Context {
	return Context{
		Source:    SourcePush,
		Ref:       "main",
		SHA:       testSHA,
		BeforeSHA: testBefore,
		Commit: Commit{
			Message:     "Build the app\n\nAnd test it.\n",
			AuthorName:  "Grace Hopper",
			AuthorEmail: "grace@example.com",
			Timestamp:   time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		},
		Project: Project{Path: "group/project"},
		Changed: func(string) []string { return []string{"cmd/app/main.go", "go.mod"} },
		Exists: func(glob string) bool {
			for _, f := range goldenFiles {
				if pipeline.Glob(glob, f) {
					return true
				}
			}
			return false
		},
		Now: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC),
	}
}

// load reads file (relative to dir) as the CLI does: include:rules see the predefined and
// user variables, and trigger:include children are loaded from dir.
func load(t *testing.T, dir, file string, ctx *Context) (*pipeline.Config, error) {
	t.Helper()
	vars := map[string]string{}
	for _, v := range PipelineVars(*ctx) {
		vars[v.Key] = v.Value
	}
	for _, v := range ctx.Variables {
		vars[v.Key] = v.Value
	}
	opts := pipeline.Options{
		Dir:     dir,
		File:    file,
		Project: ctx.Project.Path,
		Server:  "gitlab.com",
		SHA:     ctx.SHA,
		Rules: &pipeline.RuleEnv{
			Vars:    func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
			Changed: ctx.Changed,
			Exists:  ctx.Exists,
		},
	}
	ctx.LoadChild = func(files []string) (*pipeline.Config, error) {
		child := opts
		child.Child = files
		return pipeline.Load(context.Background(), child)
	}
	return pipeline.Load(context.Background(), opts)
}

// compileSource loads src as .gitlab-ci.yml of an otherwise empty repository and compiles it.
func compileSource(t *testing.T, src string, ctx Context) (*Plan, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pipeline.DefaultFile), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, dir, pipeline.DefaultFile, &ctx)
	if err != nil {
		return nil, err
	}
	return Compile(cfg, ctx)
}

// mustCompile is compileSource that fails the test on an error.
func mustCompile(t *testing.T, src string, ctx Context) *Plan {
	t.Helper()
	p, err := compileSource(t, src, ctx)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// jobNames lists the names of jobs.
func jobNames(jobs []*Job) []string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	return names
}

// goldenBugs are goldens whose file holds what GitLab does while the engine does something
// else; they are skipped until the engine is fixed.
var goldenBugs = map[string]string{}

// TestGoldens plans every testdata/plans/*.gitlab-ci.yml for goldenContext and compares the
// result with <name>.plan.json, or the error with <name>.err. Files in a folder named like the
// pipeline (testdata/plans/<name>/) are copied next to it, for includes and child pipelines.
//
//	go test ./internal/plan -run TestGoldens -update
func TestGoldens(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join("testdata", "plans", "*.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/plans/*.gitlab-ci.yml")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".gitlab-ci.yml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if bug := goldenBugs[name]; bug != "" {
				t.Skip(bug)
			}
			dir := t.TempDir()
			if err := copyTree(filepath.Join("testdata", "plans", name), dir); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, pipeline.DefaultFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := goldenContext()
			var p *Plan
			cfg, err := load(t, dir, pipeline.DefaultFile, &ctx)
			if err == nil {
				p, err = Compile(cfg, ctx)
			}
			planFile := filepath.Join("testdata", "plans", name+".plan.json")
			errFile := filepath.Join("testdata", "plans", name+".err")
			if err != nil {
				var es pipeline.Errors
				if !errors.As(err, &es) {
					t.Errorf("error %T is not a pipeline.Errors", err)
				}
				noStale(t, planFile, "got an error:\n"+err.Error())
				checkGolden(t, errFile, []byte(err.Error()+"\n"))
				return
			}
			got, err := json.MarshalIndent(renderPlan(p, ctx), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			noStale(t, errFile, "got a plan")
			checkGolden(t, planFile, append(got, '\n'))
		})
	}
}

// noStale removes (under -update) or reports a golden of the other kind: a plan where an
// error is expected, or the other way round.
func noStale(t *testing.T, path, got string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if *update {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s, but %s expects:\n%s(run with -update to accept)", got, path, want)
}

func copyTree(src, dst string) error {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// goldenPlan is what a golden shows of a Plan: the decisions, not the predefined variables.
type goldenPlan struct {
	Created   bool          `json:"created"`
	Name      string        `json:"name,omitempty"`
	Reason    string        `json:"reason"`
	Stages    []string      `json:"stages"`
	Variables []string      `json:"variables,omitempty"`
	Jobs      []goldenJob   `json:"jobs"`
	Excluded  []goldenSkips `json:"excluded,omitempty"`
}

type goldenJob struct {
	Name         string                `json:"name"`
	Stage        string                `json:"stage"`
	When         string                `json:"when"`
	StartIn      string                `json:"start_in,omitempty"`
	AllowFailure bool                  `json:"allow_failure"`
	ExitCodes    []int                 `json:"allow_failure_exit_codes,omitempty"`
	Needs        []Need                `json:"needs"`
	Dependencies []string              `json:"dependencies"`
	NodeIndex    int                   `json:"node_index,omitempty"`
	NodeTotal    int                   `json:"node_total"`
	Image        string                `json:"image,omitempty"`
	BeforeScript []string              `json:"before_script,omitempty"`
	Script       []string              `json:"script,omitempty"`
	AfterScript  []string              `json:"after_script,omitempty"`
	Variables    []string              `json:"variables,omitempty"`
	Tags         []string              `json:"tags,omitempty"`
	Retry        *pipeline.Retry       `json:"retry,omitempty"`
	Timeout      string                `json:"timeout,omitempty"`
	Interrupt    bool                  `json:"interruptible,omitempty"`
	Environment  *pipeline.Environment `json:"environment,omitempty"`
	Trigger      *goldenTrigger        `json:"trigger,omitempty"`
	Reason       string                `json:"reason"`
}

type goldenTrigger struct {
	Include  []string    `json:"include,omitempty"`
	Project  string      `json:"project,omitempty"`
	Branch   string      `json:"branch,omitempty"`
	Strategy string      `json:"strategy,omitempty"`
	Child    *goldenPlan `json:"child,omitempty"`
}

type goldenSkips struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// predefinedKeys are the names of every variable GitLab predefines for the jobs of ctx.
func predefinedKeys(ctx Context) map[string]string {
	keys := map[string]string{}
	for _, v := range PipelineVars(ctx) {
		keys[v.Key] = v.Value
	}
	meta := JobMeta{Name: "j", Stage: "s", ID: 1, NodeIndex: 1, NodeTotal: 2, Image: "i", EnvironmentName: "e", EnvironmentURL: "u", Manual: true, StartedAt: time.Unix(1, 0)}
	for _, v := range JobVars(ctx, meta) {
		keys[v.Key] = "\x00" // a job's own value: never shown
	}
	return keys
}

// ownVars lists vars as KEY=value, leaving out predefined variables that keep their value.
func ownVars(vars []Var, predefined map[string]string) []string {
	var out []string
	for _, v := range vars {
		if pv, ok := predefined[v.Key]; ok && (pv == v.Value || pv == "\x00") {
			continue
		}
		s := v.Key + "=" + v.Value
		if v.Raw {
			s += " (raw)"
		}
		out = append(out, s)
	}
	return out
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func renderPlan(p *Plan, ctx Context) *goldenPlan {
	predefined := predefinedKeys(ctx)
	g := &goldenPlan{
		Created:   p.Created,
		Name:      p.Name,
		Reason:    p.Reason.Clause,
		Stages:    p.Stages,
		Variables: ownVars(p.Variables, predefined),
		Jobs:      []goldenJob{},
	}
	for _, j := range p.Jobs {
		gj := goldenJob{
			Name: j.Name, Stage: j.Stage, When: j.When, StartIn: durationText(j.StartIn),
			AllowFailure: j.AllowFailure, ExitCodes: j.ExitCodes,
			Needs: j.Needs, Dependencies: j.Dependencies,
			NodeIndex: j.NodeIndex, NodeTotal: j.NodeTotal,
			BeforeScript: j.BeforeScript, Script: j.Script, AfterScript: j.AfterScript,
			Variables: ownVars(j.Variables, predefined),
			Tags:      j.Tags, Timeout: durationText(j.Timeout), Interrupt: j.Interruptible,
			Environment: j.Environment,
			Reason:      j.Reason.Clause,
		}
		if j.Image != nil {
			gj.Image = j.Image.Name
		}
		if j.Retry.Max > 0 || len(j.Retry.When) > 0 || len(j.Retry.ExitCodes) > 0 {
			r := j.Retry
			gj.Retry = &r
		}
		if tr := j.Trigger; tr != nil {
			gt := &goldenTrigger{Include: tr.Include, Project: tr.Project, Branch: tr.Branch, Strategy: tr.Strategy}
			if tr.Child != nil {
				child := ctx
				child.Source = SourceParentPipeline
				gt.Child = renderPlan(tr.Child, child)
			}
			gj.Trigger = gt
		}
		g.Jobs = append(g.Jobs, gj)
	}
	for _, j := range p.Excluded {
		g.Excluded = append(g.Excluded, goldenSkips{Name: j.Name, Reason: j.Reason.Clause})
	}
	return g
}

func TestWorkflowNameAndAutoCancelWithoutRules(t *testing.T) {
	fsys := fstest.MapFS{".gitlab-ci.yml": {Data: []byte("workflow:\n  name: build $CI_COMMIT_REF_NAME\n  auto_cancel:\n    on_new_commit: none\nj:\n  script: [x]\n")}}
	cfg, err := pipeline.Load(context.Background(), pipeline.Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(cfg, Context{Ref: "main", SHA: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "build main" || p.AutoCancel["on_new_commit"] != "none" {
		t.Errorf("name %q, auto_cancel %v", p.Name, p.AutoCancel)
	}
}

// TestSkipJobVariables plans the same pipeline with and without the jobs' variables: only
// Job.Variables differs, and variables are still checked.
func TestSkipJobVariables(t *testing.T) {
	t.Parallel()
	src := `variables: {GLOBAL: g}
build:
  variables: {OWN: "$GLOBAL-x"}
  script: [make]
test:
  parallel: {matrix: [{OS: [linux, mac]}]}
  rules: [{if: $CI_COMMIT_BRANCH == "main", variables: {RULE: r}}]
  script: [make test]
`
	full := mustCompile(t, src, goldenContext())
	ctx := goldenContext()
	ctx.SkipJobVariables = true
	lean := mustCompile(t, src, ctx)
	for _, j := range full.Jobs {
		if len(j.Variables) == 0 {
			t.Fatalf("job %s has no variables in the full plan", j.Name)
		}
		j.Variables = nil
	}
	a, _ := json.Marshal(full)
	b, _ := json.Marshal(lean)
	if string(a) != string(b) {
		t.Errorf("plans differ but for the jobs' variables:\n%s\n%s", a, b)
	}
	_, err := compileSource(t, "job:\n  variables: {A: $B, B: $A}\n  script: [x]\n", ctx)
	if err == nil || !strings.Contains(err.Error(), "circular variable reference") {
		t.Errorf("error %v, want the circular reference", err)
	}
}
