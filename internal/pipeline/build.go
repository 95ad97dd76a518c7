package pipeline

import (
	"sort"
	"strings"
)

// globalKeys are the top-level keywords that are not jobs.
var globalKeys = map[string]bool{
	"stages": true, "types": true, "variables": true, "workflow": true, "default": true,
	"include": true, "spec": true,
	// Deprecated globals GitLab still reads as defaults.
	"image": true, "services": true, "before_script": true, "after_script": true, "cache": true,
}

// defaultKeys are the keys default: may set, and a job inherits when it does not set them.
var defaultKeys = []string{
	"after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "image",
	"interruptible", "retry", "services", "tags", "timeout",
}

// jobKeys are the keys a job may have.
var jobKeys = map[string]bool{
	"after_script": true, "allow_failure": true, "artifacts": true, "before_script": true,
	"cache": true, "coverage": true, "dast_configuration": true, "dependencies": true,
	"environment": true, "except": true, "extends": true, "hooks": true, "id_tokens": true,
	"identity": true, "image": true, "inherit": true, "interruptible": true,
	"manual_confirmation": true, "needs": true, "only": true, "pages": true, "parallel": true,
	"release": true, "resource_group": true, "retry": true, "rules": true, "run": true,
	"script": true, "secrets": true, "services": true, "stage": true, "start_in": true,
	"tags": true, "timeout": true, "trigger": true, "variables": true, "when": true,
}

// DefaultStages are the stages of a pipeline that does not list any.
var DefaultStages = []string{".pre", "build", "test", "deploy", ".post"}

// maxExtendsDepth is how many levels of extends GitLab follows.
const maxExtendsDepth = 11

// build turns the merged tree of all files into a Config.
func build(tree *Node, d *diags) *Config {
	if tree == nil {
		return &Config{}
	}
	tree = resolveReferences(tree, d)
	cfg := &Config{Stages: stages(tree, d)}
	cfg.Variables = parseVariables(tree.Get("variables"), d, true)
	if w := tree.Get("workflow"); w != nil {
		cfg.Workflow = parseWorkflow(w, d)
	}
	def := defaults(tree, d)

	x := extender{tree: tree, d: d, done: map[string]*Node{}}
	out := NewMap(tree.Pos)
	out = out.With("stages", stagesNode(cfg.Stages, tree))
	for _, k := range []string{"variables", "workflow"} {
		if v := tree.Get(k); v != nil {
			out = out.With(k, v)
		}
	}
	for _, p := range tree.Pairs {
		if globalKeys[p.Key] {
			continue
		}
		if p.Value.Kind != Map {
			if !strings.HasPrefix(p.Key, ".") {
				d.errorf(p.KeyPos, "jobs:%s config should be a hash", p.Key)
			}
			continue
		}
		if strings.HasPrefix(p.Key, ".") {
			continue
		}
		n := x.extend(p.Key, p.Value, 0, nil)
		if n == nil {
			continue
		}
		n = applyDefault(n, def, d)
		out.Pairs = append(out.Pairs, Pair{Key: p.Key, KeyPos: p.KeyPos, Value: n}) // job names are unique
		if job := decodeJob(p.Key, p.KeyPos, n, cfg.Stages, d); job != nil {
			cfg.Jobs = append(cfg.Jobs, job)
		}
	}
	if len(cfg.Jobs) == 0 && len(d.errs) == 0 {
		d.errorf(tree.Pos, "jobs config should contain at least one visible job")
	}
	cfg.Tree = out
	return cfg
}

func stages(tree *Node, d *diags) []string {
	n := tree.Get("stages")
	if n == nil {
		n = tree.Get("types")
	}
	if n.IsNull() {
		return append([]string(nil), DefaultStages...)
	}
	if n.Kind != Seq {
		d.errorf(n.Pos, "stages config should be an array of strings")
		return append([]string(nil), DefaultStages...)
	}
	list := strList(n, d, "stages config")
	out := []string{".pre"}
	for _, s := range list {
		if s != ".pre" && s != ".post" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return append(out, ".post")
}

func stagesNode(stages []string, tree *Node) *Node {
	pos := tree.Pos
	if n := tree.Get("stages"); n != nil {
		pos = n.Pos
	}
	items := make([]*Node, len(stages))
	for i, s := range stages {
		items[i] = NewStr(s, pos)
	}
	return NewSeq(pos, items...)
}

func parseWorkflow(n *Node, d *diags) *Workflow {
	if n.Kind != Map {
		d.errorf(n.Pos, "workflow config should be a hash")
		return nil
	}
	w := &Workflow{}
	for _, p := range n.Pairs {
		switch p.Key {
		case "rules":
			w.Rules = parseRules(p.Value, d, false)
		case "name":
			w.Name = p.Value.Str()
		case "auto_cancel":
			w.AutoCancel = strMap(p.Value)
		default:
			d.errorf(p.KeyPos, "workflow config contains unknown key %q", p.Key)
		}
	}
	return w
}

// defaults returns default: merged over the deprecated top-level defaults.
func defaults(tree *Node, d *diags) *Node {
	def := NewMap(tree.Pos)
	for _, k := range []string{"image", "services", "before_script", "after_script", "cache"} {
		if v := tree.Get(k); v != nil {
			def = def.With(k, v)
		}
	}
	n := tree.Get("default")
	if n.IsNull() {
		return def
	}
	if n.Kind != Map {
		d.errorf(n.Pos, "default config should be a hash")
		return def
	}
	for _, p := range n.Pairs {
		if !contains(defaultKeys, p.Key) {
			d.errorf(p.KeyPos, "default config contains unknown key %q", p.Key)
			continue
		}
		def = def.With(p.Key, p.Value)
	}
	return def
}

// applyDefault copies into job the default keys it does not set and inherits.
func applyDefault(job, def *Node, d *diags) *Node {
	inherit := parseInherit(job.Get("inherit").Get("default"), d, "inherit:default")
	var out *Node
	for _, p := range def.Pairs {
		if job.Has(p.Key) || !inherit.Allows(p.Key) {
			continue
		}
		if out == nil {
			c := *job
			c.Pairs = append(make([]Pair, 0, len(job.Pairs)+len(def.Pairs)), job.Pairs...)
			out = &c
		}
		out.Pairs = append(out.Pairs, p)
	}
	if out == nil {
		return job
	}
	return out
}

func parseInherit(n *Node, d *diags, what string) *Inherit {
	switch {
	case n == nil:
		return nil
	case n.Kind == Seq:
		return &Inherit{Only: strList(n, d, what)}
	default:
		return &Inherit{All: boolVal(n, d, what)}
	}
}

// extender resolves extends:, memoising each job's result.
type extender struct {
	tree *Node
	d    *diags
	done map[string]*Node
}

func (x *extender) extend(name string, n *Node, depth int, stack []string) *Node {
	if r, ok := x.done[name]; ok {
		return r
	}
	ext := n.Get("extends")
	if ext == nil {
		return n
	}
	if contains(stack, name) {
		x.d.errorf(ext.Pos, "%s: circular extends (%s → %s)", stack[0], strings.Join(stack, " → "), name)
		return nil
	}
	if depth >= maxExtendsDepth {
		x.d.errorf(ext.Pos, "%s: extends nests more than %d levels", stack[0], maxExtendsDepth)
		return nil
	}
	parents := strList(ext, x.d, "extends")
	var merged *Node
	for _, parent := range parents {
		pn := x.tree.Get(parent)
		if pn == nil {
			x.d.errorf(ext.Pos, "%s: unknown key in extends (%s)", name, parent)
			return nil
		}
		if pn.Kind != Map {
			x.d.errorf(ext.Pos, "%s: extends %s, which is not a hash", name, parent)
			return nil
		}
		r := x.extend(parent, pn, depth+1, append(stack, name))
		if r == nil {
			return nil
		}
		merged = deepMerge(merged, r) // r has no extends: extend removes it
	}
	out := deepMerge(merged, n.Without("extends"))
	x.done[name] = out
	return out
}

// decodeJob checks a job's keys and decodes them.
func decodeJob(name string, pos Pos, n *Node, stages []string, d *diags) *Job {
	j := &Job{Name: name, Pos: pos, Node: n, Stage: "test"}
	var unknown []string
	for _, p := range n.Pairs {
		if !jobKeys[p.Key] {
			unknown = append(unknown, p.Key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		d.errorf(pos, "jobs:%s config contains unknown keys: %s", name, strings.Join(unknown, ", "))
	}
	for _, p := range n.Pairs {
		decodeJobKey(j, p, d)
	}
	if j.Stage != "" && !contains(stages, j.Stage) {
		d.errorf(n.KeyPos("stage"), "jobs:%s chosen stage %s does not exist; available stages are %s", name, j.Stage, strings.Join(stages, ", "))
	}
	if !n.Has("script") && !n.Has("trigger") && !n.Has("run") {
		d.errorf(pos, "jobs:%s config should implement the script:, run:, or trigger: keyword", name)
	}
	if j.When == "never" {
		d.errorf(n.KeyPos("when"), "jobs:%s when:never can only be used in a rules section or workflow:rules", name)
	}
	switch {
	case j.When == "delayed" && j.StartIn == "":
		d.errorf(pos, "jobs:%s start_in should be a duration when when is delayed", name)
	case j.StartIn != "" && j.RulesSet:
		d.errorf(n.KeyPos("start_in"), "jobs:%s start_in may not be used with rules (set it in the rule)", name)
	case j.StartIn != "" && j.When != "delayed":
		d.errorf(n.KeyPos("start_in"), "jobs:%s start_in must be blank when the job is not delayed", name)
	}
	if j.RulesSet && (j.Only != nil || j.Except != nil) {
		d.errorf(n.KeyPos("rules"), "jobs:%s may not use rules with only or except", name)
	}
	return j
}
