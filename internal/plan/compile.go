package plan

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/pipeline"
)

// Compile decides the pipeline of cfg for ctx. A plan that GitLab would refuse (a need on a job
// that is not in the pipeline, a dependency on a later stage, …) is an error: pipeline.Errors
// naming each job's position. A panic while planning (a bug, or a panicking func of ctx) is
// returned as a *pipeline.InternalError at the job being planned.
func Compile(cfg *pipeline.Config, ctx Context) (p *Plan, err error) {
	c := compiler{cfg: cfg, ctx: ctx}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, pipeline.Recovered(c.at, r)
		}
	}()
	p, err = c.compile()
	if c.internal != nil {
		return nil, c.internal
	}
	return p, err
}

type compiler struct {
	cfg  *pipeline.Config
	ctx  Context
	errs pipeline.Errors
	// predefined holds the pipeline's predefined variables, the parent of every job's set.
	predefined *varSet
	env        env
	// globals are the top-level YAML variables and workflow the matching workflow rule's.
	globals, workflow []Var
	user              []Var
	// defaultOnly is true when jobs without rules/only/except get only: [branches, tags]
	// (GitLab drops that default when workflow:rules exist).
	defaultOnly bool
	// at is the position being planned (a job's), for an InternalError; internal is one
	// that a child pipeline returned.
	at       pipeline.Pos
	internal *pipeline.InternalError
	// exprs are the only/except expressions parsed so far.
	exprs expr.Cache
	// ref is describeRef's text, once made.
	ref string
}

func (c *compiler) errorf(pos pipeline.Pos, format string, args ...any) {
	c.errs = append(c.errs, &pipeline.Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func yamlVars(defs []pipeline.VarDef) []Var {
	out := make([]Var, len(defs))
	for i, d := range defs {
		out[i] = Var{Key: d.Key, Value: d.Value, Raw: d.Raw, Public: true}
	}
	return out
}

func (c *compiler) compile() (*Plan, error) {
	p := &Plan{Stages: c.cfg.Stages, Created: true}
	c.user = c.ctx.Variables
	c.predefined = newVarSet(nil, PipelineVars(c.ctx))
	c.predefined.max = c.ctx.MaxVariableSize
	c.env = newEnv(c.ctx)
	c.globals = yamlVars(c.cfg.Variables)
	c.defaultOnly = true
	pipelineVars := newVarSet(c.predefined, c.globals, c.user)

	if w := c.cfg.Workflow; w != nil && w.Rules != nil {
		c.defaultOnly = false
		rule, i, reason := c.firstRule(w.Rules, pipelineVars, "workflow:rules")
		p.Reason = reason
		switch {
		case rule == nil:
			p.Created = false
			p.Reason.Text = "workflow:rules: no rule matched, so no pipeline is created"
		case rule.When == "never":
			p.Created = false
			p.Reason.Text = fmt.Sprintf("workflow:rules[%d] matched with when: never, so no pipeline is created", i)
		default:
			p.Reason.Text = fmt.Sprintf("workflow:rules[%d] matched", i)
			c.workflow = yamlVars(rule.Variables)
			pipelineVars = newVarSet(c.predefined, slices.Concat(c.globals, c.workflow), c.user)
			if rule.Name != "" {
				p.Name = rule.Name
			}
			p.AutoCancel = rule.AutoCancel
		}
		if w.AutoCancel != nil && p.AutoCancel == nil {
			p.AutoCancel = w.AutoCancel
		}
		if p.Name == "" {
			p.Name = w.Name
		}
		p.Name = expr.Expand(p.Name, pipelineVars.Lookup)
	} else {
		p.Reason = Reason{Clause: "default", Text: "no workflow:rules, so the pipeline is created"}
		if w := c.cfg.Workflow; w != nil {
			// workflow:name and workflow:auto_cancel apply without rules too.
			p.AutoCancel = w.AutoCancel
			p.Name = expr.Expand(w.Name, pipelineVars.Lookup)
		}
	}
	p.Reason.locate()
	p.Variables = pipelineVars.list()
	var root pipeline.Pos
	if len(c.cfg.Files) > 0 {
		root.File = c.cfg.Files[0]
	}
	c.at = root
	c.overflow(pipelineVars, root, c.cfg.Variables)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	if !p.Created {
		return p, nil
	}

	if !c.countJobs() {
		return nil, c.errs
	}
	id := c.ctx.JobIDBase
	if id == 0 {
		id = 1000
	}
	for _, cj := range c.cfg.Jobs {
		c.at = cj.Pos
		for _, j := range c.instances(cj) {
			vars := c.jobVars(j, cj, id+1, nil)
			c.decide(j, cj, vars)
			if j.When == "never" {
				p.Excluded = append(p.Excluded, j)
			} else {
				id++
				if r := j.rule; r != nil && len(r.Variables) > 0 {
					// The matching rule's variables join the job's YAML variables.
					vars = c.jobVars(j, cj, id, r.Variables)
				}
				c.finish(j, cj, vars)
				p.Jobs = append(p.Jobs, j)
			}
			c.overflow(vars, cj.Pos, cj.Variables, c.cfg.Variables)
		}
	}
	c.resolveNeeds(p)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	if len(p.Jobs) == 0 {
		p.Created = false
		p.Reason = Reason{Clause: "no jobs", Text: "the rules of every job leave it out, so no pipeline is created"}
	}
	return p, nil
}

// overflow reports a variable of vars whose expansion went past the limit, at its first
// definition among defs, else at pos.
func (c *compiler) overflow(vars *varSet, pos pipeline.Pos, defs ...[]pipeline.VarDef) {
	if vars.overflow == "" {
		return
	}
	for _, list := range slices.Backward(defs) {
		for _, d := range list {
			if d.Key == vars.overflow {
				pos = d.Pos
			}
		}
	}
	c.errorf(pos, "variables:%s: once its $references are expanded, the value has more than %d bytes (the limit)", vars.overflow, c.maxVariableSize())
}

// maxVariableSize is MaxVariableSize or its default.
func (c *compiler) maxVariableSize() int {
	if c.ctx.MaxVariableSize > 0 {
		return c.ctx.MaxVariableSize
	}
	return pipeline.DefaultMaxVariableSize
}

// countJobs reports whether the pipeline stays within MaxJobs jobs (with its parent's and
// the child pipelines planned before it) once parallel expands its jobs, before it expands
// them; when not, the error is at the job that goes past the limit.
func (c *compiler) countJobs() bool {
	if c.ctx.budget == nil {
		b := c.limit()
		c.ctx.budget = &b
	}
	for _, cj := range c.cfg.Jobs {
		n := 1
		if cj.Parallel != nil {
			n = cj.Parallel.Total
		}
		if *c.ctx.budget -= n; *c.ctx.budget < 0 {
			c.errorf(cj.Pos, "jobs:%s: the pipeline has more than %d jobs (the limit), parallel instances and child pipelines counted", cj.Name, c.limit())
			return false
		}
	}
	return true
}

// limit is MaxJobs or its default.
func (c *compiler) limit() int {
	if c.ctx.MaxJobs > 0 {
		return c.ctx.MaxJobs
	}
	return pipeline.DefaultMaxJobs
}

// instances expands a job into its parallel instances, named as GitLab names them.
func (c *compiler) instances(cj *pipeline.Job) []*Job {
	base := func() *Job {
		return &Job{Name: cj.Name, Stage: cj.Stage, NodeTotal: 1, Pos: cj.Pos, Config: cj}
	}
	par := cj.Parallel
	if par == nil {
		return []*Job{base()}
	}
	var out []*Job
	if par.Matrix == nil {
		for i := 1; i <= par.Total; i++ {
			j := base()
			j.Name, j.Base, j.NodeIndex, j.NodeTotal = fmt.Sprintf("%s %d/%d", cj.Name, i, par.Total), cj.Name, i, par.Total
			out = append(out, j)
		}
		return out
	}
	for k, entry := range par.Matrix {
		for _, combo := range cartesian(par.MatrixKeys[k], entry) {
			j := base()
			j.Base, j.NodeTotal, j.NodeIndex = cj.Name, par.Total, len(out)+1
			j.matrix = map[string]string{}
			vals := make([]string, len(par.MatrixKeys[k]))
			for i, key := range par.MatrixKeys[k] {
				j.matrix[key] = combo[i]
				vals[i] = combo[i]
			}
			j.Name = MatrixName(cj.Name, vals)
			out = append(out, j)
		}
	}
	return out
}

// MatrixName is GitLab's name of a parallel:matrix instance: "job: [a, b]".
func MatrixName(job string, values []string) string {
	return job + ": [" + strings.Join(values, ", ") + "]"
}

// cartesian lists every combination of entry's values, the first key varying slowest.
func cartesian(keys []string, entry map[string][]string) [][]string {
	out := [][]string{{}}
	for _, k := range keys {
		var next [][]string
		for _, prefix := range out {
			for _, v := range entry[k] {
				next = append(next, append(append([]string(nil), prefix...), v))
			}
		}
		out = next
	}
	return out
}

// jobVars is what a job sees, lowest precedence first: predefined variables; then, as one
// level (GitLab merges them before it expands them), the top-level and workflow variables it
// inherits, its own variables, its matrix values and rules, the variables of the rule that
// matched (none while its rules are being decided); then the user's.
func (c *compiler) jobVars(j *Job, cj *pipeline.Job, id int64, rules []pipeline.VarDef) *varSet {
	m := c.meta(j, cj)
	m.ID = id
	var yaml []Var
	for _, layer := range [][]Var{c.globals, c.workflow} {
		for _, v := range layer {
			if cj.InheritVars.Allows(v.Key) {
				yaml = append(yaml, v)
			}
		}
	}
	yaml = append(yaml, yamlVars(cj.Variables)...)
	for _, k := range sortedKeys(j.matrix) {
		yaml = append(yaml, Var{Key: k, Value: j.matrix[k], Public: true})
	}
	yaml = append(yaml, yamlVars(rules)...)
	return newVarSet(c.predefined, jobVars(c.env, m), yaml, c.user)
}

func (c *compiler) meta(j *Job, cj *pipeline.Job) JobMeta {
	m := JobMeta{Name: j.Name, Stage: j.Stage, NodeIndex: j.NodeIndex, NodeTotal: j.NodeTotal}
	if cj.Image != nil {
		m.Image = cj.Image.Name
	}
	if e := cj.Environment; e != nil {
		m.EnvironmentName, m.EnvironmentURL, m.EnvironmentAction, m.EnvironmentTier = e.Name, e.URL, e.Action, e.DeploymentTier
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decide sets When, AllowFailure and Reason from rules or only/except.
func (c *compiler) decide(j *Job, cj *pipeline.Job, vars *varSet) {
	defer j.Reason.locate()
	when := cj.When
	allow := cj.AllowFailure
	if cj.RulesSet {
		rule, i, reason := c.firstRule(cj.Rules, vars, "rules")
		j.Reason = reason
		if rule == nil {
			j.When = "never"
			j.Reason.Text = "no rule matched, so the job is not in the pipeline"
			return
		}
		if rule.When != "" {
			when = rule.When
		}
		if when == "never" {
			j.When = "never"
			j.Reason.Text = fmt.Sprintf("rules[%d] matched with when: never", i)
			return
		}
		j.Reason.Text = fmt.Sprintf("rules[%d] matched", i)
		if rule.AllowFailure != nil {
			allow = rule.AllowFailure
		} else if rule.When == "manual" {
			allow = &pipeline.AllowFailure{} // a manual job from rules blocks the pipeline
		}
		if rule.StartIn != "" {
			j.StartIn = c.duration(rule.StartIn, rule.Pos, "start_in")
		}
		j.rule = rule
	} else {
		ok, reason := c.onlyExcept(cj, vars)
		j.Reason = reason
		if !ok {
			j.When = "never"
			return
		}
	}
	if when == "" {
		when = "on_success"
	}
	j.When = when
	switch {
	case allow != nil:
		j.AllowFailure, j.ExitCodes = allow.Allowed || len(allow.ExitCodes) > 0, allow.ExitCodes
	case when == "manual" && (j.rule == nil || j.rule.When != "manual"):
		j.AllowFailure = true
	}
	if when == "delayed" && j.StartIn == 0 {
		j.StartIn = c.duration(cj.StartIn, cj.Pos, "start_in")
	}
}

func (c *compiler) duration(s string, pos pipeline.Pos, what string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := pipeline.ParseDuration(s)
	if err != nil {
		c.errorf(pos, "%s: %v", what, err)
	}
	return d
}

// firstRule returns the first matching rule, its index and why.
func (c *compiler) firstRule(rules []*pipeline.Rule, vars *varSet, what string) (*pipeline.Rule, int, Reason) {
	env := pipeline.RuleEnv{Vars: vars.Lookup, Changed: c.ctx.Changed, Exists: c.ctx.Exists}
	for i, r := range rules {
		ok, err := r.Match(env)
		if err != nil {
			c.errorf(r.Pos, "%v", err)
			continue
		}
		if ok {
			return r, i, ruleReason(fmt.Sprintf("%s[%d]", what, i), r, vars)
		}
	}
	var read []string
	for _, r := range rules {
		if r.Expr != nil {
			read = append(read, r.Expr.Vars()...)
		}
	}
	reason := Reason{Clause: "no rule matched"}
	if len(rules) > 0 {
		reason.Pos = rules[0].Pos
	}
	reason.setVars(read, vars)
	return nil, -1, reason
}

func ruleReason(clause string, r *pipeline.Rule, vars *varSet) Reason {
	reason := Reason{Clause: clause, Pos: r.Pos}
	if r.Expr != nil {
		reason.setVars(r.Expr.Vars(), vars)
	}
	return reason
}

// locate fills Where from Pos.
func (r *Reason) locate() {
	if r.Pos.Line > 0 {
		r.Where = r.Pos.String()
	}
}

func (r *Reason) setVars(names []string, vars *varSet) {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		r.Vars = append(r.Vars, n)
		if v, ok := vars.Lookup(n); ok {
			if r.Values == nil {
				r.Values = map[string]string{}
			}
			r.Values[n] = v
		} else {
			r.Undefined = append(r.Undefined, n)
		}
	}
}

// finish fills in everything a runner needs once the job is known to run. vars is the set the
// job sees (with the matching rule's variables).
func (c *compiler) finish(j *Job, cj *pipeline.Job, vars *varSet) {
	if _, set := vars.raw("CI_JOB_MANUAL"); j.When == "manual" && !set {
		vars.add(Var{Key: "CI_JOB_MANUAL", Value: "true", Public: true})
	}
	if cyc := vars.cycle(); cyc != nil {
		c.errorf(cj.Pos, "jobs:%s: circular variable reference: %s", j.Name, strings.Join(cyc, " → "))
	}
	if !c.ctx.SkipJobVariables {
		j.Variables = vars.list()
	}

	j.StageIndex = indexOf(c.cfg.Stages, j.Stage)
	j.BeforeScript, j.Script, j.AfterScript = cj.BeforeScript, cj.Script, cj.AfterScript
	j.Image, j.Services = cj.Image, cj.Services
	if cj.Retry != nil {
		j.Retry = *cj.Retry
	}
	j.Timeout = c.duration(cj.Timeout, cj.Pos, "timeout")
	if cj.Interruptible != nil {
		j.Interruptible = *cj.Interruptible
	}
	if r := j.rule; r != nil && r.Interruptible != nil {
		j.Interruptible = *r.Interruptible
	}
	j.ResourceGroup = expr.Expand(cj.ResourceGroup, vars.Lookup)
	if e := cj.Environment; e != nil {
		env := *e
		env.Name = expr.Expand(e.Name, vars.Lookup)
		env.URL = expr.Expand(e.URL, vars.Lookup)
		j.Environment = &env
	}
	j.Coverage, j.Tags, j.Artifacts, j.Cache = cj.Coverage, cj.Tags, cj.Artifacts, cj.Cache
	if cj.DependenciesSet {
		j.Dependencies = cj.Dependencies
	}
	if t := cj.Trigger; t != nil {
		j.Trigger = &Trigger{Include: t.Include, Project: t.Project, Branch: t.Branch, Strategy: t.Strategy}
		if len(t.Include) > 0 && !t.Dynamic && c.ctx.LoadChild != nil {
			j.Trigger.Child = c.child(j, cj, t, vars)
		}
	}
}

// child plans a trigger's child pipeline: source parent_pipeline, the trigger job's YAML
// variables forwarded unless forward:yaml_variables is false, expanded as the trigger job
// sees them (GitLab's Variables::Downstream::Generator and ExpandableVariableGenerator).
func (c *compiler) child(j *Job, cj *pipeline.Job, t *pipeline.Trigger, vars *varSet) *Plan {
	files := make([]string, len(t.Include))
	for i, f := range t.Include {
		files[i] = expr.Expand(f, vars.Lookup)
	}
	cfg, err := c.ctx.LoadChild(files)
	if c.broke(err) {
		return nil
	}
	if err != nil {
		c.errorf(cj.Node.KeyPos("trigger"), "jobs:%s trigger:include: %v", j.Name, err)
		return nil
	}
	ctx := c.ctx
	ctx.Source = SourceParentPipeline
	ctx.Variables = nil
	if fwd, ok := t.Forward["yaml_variables"]; !ok || fwd {
		yaml := slices.Concat(yamlVars(c.cfg.Variables), yamlVars(cj.Variables))
		if j.rule != nil {
			yaml = append(yaml, yamlVars(j.rule.Variables)...)
		}
		for _, v := range yaml {
			v.Value = vars.forward(v)
			ctx.Variables = append(ctx.Variables, v)
		}
	}
	if t.Forward["pipeline_variables"] {
		ctx.Variables = append(ctx.Variables, c.user...)
	}
	p, err := Compile(cfg, ctx)
	if c.broke(err) {
		return nil
	}
	if err != nil {
		c.errorf(cj.Node.KeyPos("trigger"), "jobs:%s child pipeline: %v", j.Name, err)
		return nil
	}
	return p
}

// broke reports whether err is an InternalError (of a child pipeline), which Compile then
// returns as it is.
func (c *compiler) broke(err error) bool {
	var ie *pipeline.InternalError
	if errors.As(err, &ie) {
		if c.internal == nil {
			c.internal = ie
		}
		return true
	}
	return false
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// onlyExcept applies only: and except: (only: [branches, tags] when neither is set).
func (c *compiler) onlyExcept(cj *pipeline.Job, vars *varSet) (bool, Reason) {
	only := cj.Only
	if only == nil {
		only = &pipeline.Filter{Pos: cj.Pos}
		if c.defaultOnly {
			only.Refs = []string{"branches", "tags"}
		}
	}
	if ok, clause, reason := c.filterMatch(only, vars, "only"); !ok {
		reason.Clause = clause
		reason.Text = fmt.Sprintf("%s did not match %s, so the job is not in the pipeline", clause, c.describeRef())
		if cj.Only == nil {
			reason.Text = fmt.Sprintf("no rules, only or except: the default only: [branches, tags] does not match %s", c.describeRef())
		}
		return false, reason
	}
	if cj.Except != nil {
		if ok, _, reason := c.filterMatch(cj.Except, vars, "except"); ok {
			reason.Clause = "except"
			reason.Text = fmt.Sprintf("except matched %s, so the job is not in the pipeline", c.describeRef())
			return false, reason
		}
	}
	r := Reason{Clause: "only", Text: fmt.Sprintf("only matched %s", c.describeRef()), Pos: only.Pos}
	if cj.Only == nil {
		r.Clause = "default"
		r.Text = fmt.Sprintf("no rules, only or except: the default only: [branches, tags] matches %s", c.describeRef())
		if !c.defaultOnly {
			r.Text = "no rules, only or except, and workflow:rules decide the pipeline: the job runs in it"
		}
	}
	if cj.Except != nil {
		r.Text += "; except did not"
	}
	return true, r
}

// describeRef names what the pipeline runs for, for reasons: `branch "main" (source push)`.
func (c *compiler) describeRef() string {
	if c.ref == "" {
		c.ref = c.refText()
	}
	return c.ref
}

func (c *compiler) refText() string {
	kind := "branch"
	switch {
	case c.ctx.Tag:
		kind = "tag"
	case c.source() == SourceMergeRequest:
		kind = "merge request ref"
	}
	return fmt.Sprintf("%s %q (source %s)", kind, c.ctx.Ref, c.source())
}

// filterMatch reports whether every clause of an only/except filter has a matching condition;
// when one does not, it names it.
func (c *compiler) filterMatch(f *pipeline.Filter, vars *varSet, what string) (bool, string, Reason) {
	reason := Reason{Pos: f.Pos}
	if f.Refs != nil && !c.refsMatch(f.Refs) {
		return false, what + ":refs", reason
	}
	if f.Variables != nil {
		matched := false
		for _, src := range f.Variables {
			e, err := c.exprs.Parse(src)
			if err != nil {
				c.errorf(f.Pos, "%s:variables %q: %v", what, src, err)
				continue
			}
			reason.setVars(e.Vars(), vars)
			if ok, _ := e.Eval(vars.Lookup); ok {
				matched = true
				break
			}
		}
		if !matched {
			return false, what + ":variables", reason
		}
	}
	var changed []string
	if f.Changes != nil && c.ctx.Changed != nil {
		changed = c.ctx.Changed("")
	}
	if changed != nil {
		matched := false
		for _, p := range f.Changes {
			for _, file := range changed {
				if pipeline.Glob(strings.TrimPrefix(p, "/"), file) {
					matched = true
				}
			}
		}
		if !matched {
			return false, what + ":changes", reason
		}
	}
	if f.Kubernetes != "" {
		return false, what + ":kubernetes", reason
	}
	return true, what, reason
}

func (c *compiler) source() string {
	if c.ctx.Source == "" {
		return SourcePush
	}
	return c.ctx.Source
}

// refsMatch matches only/except refs: keywords, /regex/ and names (name@project too).
func (c *compiler) refsMatch(refs []string) bool {
	src := c.source()
	for _, ref := range refs {
		name, project, hasProject := strings.Cut(ref, "@")
		if hasProject && !strings.HasPrefix(ref, "/") && project != c.ctx.Project.Path {
			continue
		}
		if !hasProject || strings.HasPrefix(ref, "/") {
			name = ref
		}
		switch name {
		case "branches":
			if !c.ctx.Tag && src != SourceMergeRequest {
				return true
			}
			continue
		case "tags":
			if c.ctx.Tag {
				return true
			}
			continue
		case "merge_requests":
			if src == SourceMergeRequest {
				return true
			}
			continue
		case "pushes":
			if src == SourcePush {
				return true
			}
			continue
		case "schedules", "web", "api", "chat", "external":
			if src == map[string]string{"schedules": SourceSchedule, "web": SourceWeb, "api": SourceAPI, "chat": SourceChat, "external": SourceExternal}[name] {
				return true
			}
			continue
		case "triggers":
			if src == SourceTrigger {
				return true
			}
			continue
		case "pipelines":
			if src == SourcePipeline || src == SourceParentPipeline {
				return true
			}
			continue
		case "external_pull_requests":
			if src == SourceExternalPR {
				return true
			}
			continue
		}
		if src == SourceMergeRequest {
			continue // names and patterns match branches and tags, not merge request refs
		}
		if strings.HasPrefix(name, "/") && len(name) > 1 {
			e, err := c.exprs.Parse("$REF =~ " + name)
			if err == nil {
				if ok, _ := e.Eval(func(string) (string, bool) { return c.ctx.Ref, true }); ok {
					return true
				}
			}
			continue
		}
		if name == c.ctx.Ref {
			return true
		}
	}
	return false
}

// resolveNeeds turns configured needs into edges between planned jobs and checks needs and
// dependencies as GitLab does when it creates the pipeline.
func (c *compiler) resolveNeeds(p *Plan) {
	byBase := map[string][]*Job{}
	for _, j := range p.Jobs {
		base := j.Name
		if j.Base != "" {
			base = j.Base
		}
		byBase[base] = append(byBase[base], j)
	}
	addInstances(byBase, p.Jobs)
	for _, j := range p.Jobs {
		cj := j.Config
		c.at = j.Pos
		if r := j.rule; r != nil && r.NeedsSet {
			j.Needs = c.edges(j, r.Needs, byBase, p)
		} else if cj.NeedsSet {
			j.Needs = c.edges(j, cj.Needs, byBase, p)
		}
		c.dependencies(j, byBase)
	}
	c.checkCycles(p)
}

// dependencies checks a job's dependencies as GitLab does and names every instance of a
// parallel dependency.
func (c *compiler) dependencies(j *Job, byBase map[string][]*Job) {
	if j.Dependencies == nil {
		return
	}
	node := j.Config.Node.Get("dependencies")
	names := []string{}
	for _, dep := range j.Dependencies {
		pos := j.Config.Node.KeyPos("dependencies")
		for _, it := range node.Items {
			if it.Value == dep {
				pos = it.Pos
			}
		}
		targets := byBase[dep]
		if len(targets) == 0 {
			c.errorf(pos, "jobs:%s dependencies: job %q is not in the pipeline", j.Name, dep)
			continue
		}
		if len(j.Config.Needs) > 0 && !needsJob(j, dep, byBase) {
			c.errorf(pos, "jobs:%s dependencies: job %q should be part of needs", j.Name, dep)
			continue
		}
		// GitLab's YamlProcessor#validate_job_dependency! takes a dependency of the job's own
		// stage or an earlier one ("is not defined in current or prior stages").
		if targets[0].StageIndex > j.StageIndex {
			c.errorf(pos, "jobs:%s dependencies: job %q is not in the current or a previous stage", j.Name, dep)
			continue
		}
		for _, t := range targets {
			names = append(names, t.Name)
		}
	}
	j.Dependencies = names
}

func needsJob(j *Job, base string, byBase map[string][]*Job) bool {
	for _, n := range j.Needs {
		for _, t := range byBase[base] {
			if n.Job == t.Name {
				return true
			}
		}
	}
	return false
}

func (c *compiler) edges(j *Job, needs []pipeline.Need, byBase map[string][]*Job, p *Plan) []Need {
	out := []Need{}
	for _, n := range needs {
		if n.Pipeline != "" || n.Project != "" {
			continue // cross-pipeline artifacts, not a DAG edge
		}
		targets := byBase[n.Job]
		if n.Matrix != nil {
			if len(targets) > 0 && targets[0].matrix == nil {
				c.errorf(n.Pos, "jobs:%s needs %q with parallel:matrix, but %s is not a parallel:matrix job", j.Name, n.Job, n.Job)
				continue
			}
			targets = matrixTargets(targets, n.Matrix, j.matrix)
			if len(targets) == 0 && !n.Optional {
				c.errorf(n.Pos, "jobs:%s needs %q with parallel:matrix, which selects no instance of it", j.Name, n.Job)
				continue
			}
		}
		if len(targets) == 0 {
			if p.excluded(n.Job) || n.Optional {
				if !n.Optional {
					c.errorf(n.Pos, "jobs:%s needs %q, which is not in the pipeline (its rules or only/except leave it out); mark the need optional: true", j.Name, n.Job)
				}
				continue
			}
			c.errorf(n.Pos, "jobs:%s needs %q, which does not exist", j.Name, n.Job)
			continue
		}
		for _, t := range targets {
			if t.StageIndex > j.StageIndex {
				c.errorf(n.Pos, "jobs:%s needs %q, which is in a later stage (%s)", j.Name, t.Name, t.Stage)
				continue
			}
			if t == j {
				c.errorf(n.Pos, "jobs:%s needs itself", j.Name)
				continue
			}
			out = append(out, Need{Job: t.Name, Artifacts: n.Artifacts, Optional: n.Optional})
		}
	}
	if len(out) > 50 {
		c.errorf(j.Pos, "jobs:%s has more than 50 needs", j.Name)
	}
	return out
}

// containsValue reports whether got is want, or (for a list selector) one of the listed values.
func containsValue(vs []string, got, want string) bool {
	if len(vs) == 1 {
		return got == want
	}
	for _, v := range vs {
		if v == got {
			return true
		}
	}
	return false
}

func (p *Plan) excluded(base string) bool {
	for _, j := range p.Excluded {
		if j.Name == base || j.Base == base {
			return true
		}
	}
	return false
}

var matrixExpr = regexp.MustCompile(`\$\[\[\s*matrix\.([A-Za-z0-9_-]+)\s*\]\]`)

// matrixTargets picks the instances of a parallel:matrix job that needs:parallel:matrix names.
// $[[ matrix.X ]] in a value is the needing instance's own value of X.
func matrixTargets(targets []*Job, matrix []map[string][]string, own map[string]string) []*Job {
	var out []*Job
	for _, t := range targets {
		for _, m := range matrix {
			ok := true
			for k, vs := range m {
				if len(vs) == 0 {
					ok = false
					continue
				}
				want := matrixExpr.ReplaceAllStringFunc(vs[0], func(e string) string {
					return own[matrixExpr.FindStringSubmatch(e)[1]]
				})
				if !containsValue(vs, t.matrix[k], want) {
					ok = false
				}
			}
			if ok {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// checkCycles reports needs that form a cycle (possible only within one stage).
func (c *compiler) checkCycles(p *Plan) {
	byName := make(map[string]*Job, len(p.Jobs))
	for _, j := range p.Jobs {
		if byName[j.Name] == nil {
			byName[j.Name] = j // the first, as Plan.Job finds it
		}
	}
	state := make(map[string]int, len(p.Jobs))
	var visit func(j *Job, path []string) bool
	visit = func(j *Job, path []string) bool {
		switch state[j.Name] {
		case 1:
			c.errorf(j.Pos, "jobs:%s: circular needs (%s → %s)", j.Name, strings.Join(path, " → "), j.Name)
			return false
		case 2:
			return true
		}
		state[j.Name] = 1
		for _, n := range j.Needs {
			if t := byName[n.Job]; t != nil && !visit(t, append(path, j.Name)) {
				return false
			}
		}
		state[j.Name] = 2
		return true
	}
	for _, j := range p.Jobs {
		if state[j.Name] == 0 {
			visit(j, nil)
		}
	}
}
