package pipeline

import (
	"math"
	"slices"
	"strings"
)

// maxNesting is how deep GitLab flattens nested script and rules arrays.
const maxNesting = 10

// flatten returns items with nested sequences spliced in. ok is false when a list nests
// deeper than maxNesting levels (items themselves being the first level).
func flatten(items []*Node) (out []*Node, ok bool) { return flattenTo(items, maxNesting) }

// flattenAll is flatten without a bound on the nesting, as Ruby's Array#flatten, which
// GitLab's ComposableArray (needs:, cache:) applies.
func flattenAll(items []*Node) (out []*Node, ok bool) { return flattenTo(items, math.MaxInt) }

func flattenTo(items []*Node, levels int) (out []*Node, ok bool) {
	if !slices.ContainsFunc(items, func(it *Node) bool { return it.Kind == Seq }) {
		return items, true
	}
	ok = true
	var walk func([]*Node, int)
	walk = func(items []*Node, level int) {
		for _, it := range items {
			if it.Kind != Seq {
				out = append(out, it)
				continue
			}
			if level >= levels {
				ok = false
				continue
			}
			walk(it.Items, level+1)
		}
	}
	walk(items, 1)
	return out, ok
}

// strList decodes a string or a (nested) array of strings. Null gives nil.
func strList(n *Node, d *diags, what string) []string {
	switch {
	case n.IsNull():
		return nil
	case n.Kind == Scalar:
		return []string{n.Value}
	case n.Kind == Seq:
		out := make([]string, 0, len(n.Items))
		items, ok := flatten(n.Items)
		if !ok {
			d.errorf(n.Pos, "%s should be a string or a nested array of strings up to %d levels deep", what, maxNesting)
		}
		for _, it := range items {
			switch it.Kind {
			case Scalar:
				out = append(out, it.Value)
			case Null:
			default:
				d.errorf(it.Pos, "%s should be a string or a nested array of strings up to %d levels deep", what, maxNesting)
			}
		}
		return out
	}
	d.errorf(n.Pos, "%s should be a string or an array of strings", what)
	return nil
}

// scriptList decodes script:, before_script: and after_script:: strings only, as GitLab's
// Entry::Commands validates them (a line Psych reads as a boolean or a number, such as `- yes`
// or `- 42`, is refused there rather than run as "true" or "42").
func scriptList(n *Node, d *diags, what string) []string {
	if n != nil && n.Kind == Scalar && n.Tag != TagStr {
		d.errorf(n.Pos, "%s config should be a string or a nested array of strings up to %d levels deep", what, maxNesting)
		return nil
	}
	if n != nil && n.Kind == Seq {
		items, _ := flatten(n.Items)
		for _, it := range items {
			if it.Kind == Scalar && it.Tag != TagStr {
				d.errorf(it.Pos, "%s config should be a string or a nested array of strings up to %d levels deep", what, maxNesting)
				return nil
			}
		}
	}
	out := strList(n, d, what+" config")
	if strings.HasSuffix(what, ":script") && n != nil && n.Kind == Seq && len(out) == 0 {
		d.errorf(n.Pos, "%s config can't be blank", what)
	}
	return out
}

func boolVal(n *Node, d *diags, what string) bool {
	b, ok := n.Bool()
	if !ok {
		d.errorf(n.Pos, "%s should be a boolean value", what)
	}
	return b
}

func intVal(n *Node, d *diags, what string) int {
	i, ok := n.Int()
	if !ok {
		d.errorf(n.Pos, "%s should be an integer", what)
	}
	return i
}

func strMap(n *Node) map[string]string {
	if n == nil || n.Kind != Map {
		return nil
	}
	m := make(map[string]string, len(n.Pairs))
	for _, p := range n.Pairs {
		m[p.Key] = p.Value.Str()
	}
	return m
}

// whens lists the values of when:, the second set only where a job may use them.
var (
	ruleWhens = []string{"on_success", "on_failure", "always", "manual", "delayed", "never"}
	jobWhens  = []string{"on_success", "on_failure", "always", "manual", "delayed", "never"}
)

func parseWhen(n *Node, d *diags, rule bool) string {
	s := n.Str()
	allowed := jobWhens
	if rule {
		allowed = ruleWhens
	}
	for _, w := range allowed {
		if s == w {
			return s
		}
	}
	d.errorf(n.Pos, "when %q is unknown: use one of %s", s, strings.Join(allowed, ", "))
	return ""
}

func parseAllowFailure(n *Node, d *diags) *AllowFailure {
	if n.Kind == Map {
		af := &AllowFailure{}
		codes := n.Get("exit_codes")
		if codes == nil {
			d.errorf(n.Pos, "allow_failure: a hash takes exit_codes")
			return af
		}
		for _, c := range append([]*Node{codes}, codes.Items...) {
			if c.Kind == Seq {
				continue
			}
			af.ExitCodes = append(af.ExitCodes, intVal(c, d, "allow_failure:exit_codes"))
		}
		for _, p := range n.Pairs {
			if p.Key != "exit_codes" {
				d.errorf(p.KeyPos, "allow_failure: unknown key %q", p.Key)
			}
		}
		return af
	}
	return &AllowFailure{Allowed: boolVal(n, d, "allow_failure")}
}

func parseRetry(n *Node, d *diags) *Retry {
	if n.Kind != Map {
		r := &Retry{Max: intVal(n, d, "retry")}
		if r.Max < 0 || r.Max > 2 {
			d.errorf(n.Pos, "retry must be between 0 and 2")
		}
		return r
	}
	r := &Retry{}
	for _, p := range n.Pairs {
		switch p.Key {
		case "max":
			r.Max = intVal(p.Value, d, "retry:max")
			if r.Max < 0 || r.Max > 2 {
				d.errorf(p.Value.Pos, "retry:max must be between 0 and 2")
			}
		case "when":
			r.When = strList(p.Value, d, "retry:when")
		case "exit_codes":
			for _, c := range append([]*Node{p.Value}, p.Value.Items...) {
				if c.Kind != Seq {
					r.ExitCodes = append(r.ExitCodes, intVal(c, d, "retry:exit_codes"))
				}
			}
		default:
			d.errorf(p.KeyPos, "retry: unknown key %q", p.Key)
		}
	}
	return r
}

// parseVariables decodes a variables: hash. Values may be scalars or hashes with value,
// description, options and expand. A value is any scalar, as GitLab's ScalarValidator has it
// (a string, an integer, a float or a boolean), and the variable gets its text as Ruby writes
// it: true is "true", 0.4 is "0.4", 1.0e+3 is "1000.0" (see typeScalar). Null is empty.
func parseVariables(n *Node, d *diags, global bool) []VarDef {
	if n.IsNull() {
		return nil
	}
	if n.Kind != Map {
		d.errorf(n.Pos, "variables config should be a hash of key value pairs")
		return nil
	}
	out := make([]VarDef, 0, len(n.Pairs))
	for _, p := range n.Pairs {
		v := VarDef{Key: p.Key, Pos: p.KeyPos}
		switch p.Value.Kind {
		case Null:
		case Scalar:
			v.Value = p.Value.Value
		case Map:
			for _, q := range p.Value.Pairs {
				switch q.Key {
				case "value":
					v.Value = q.Value.Str()
					if q.Value.Kind != Scalar && !q.Value.IsNull() {
						d.errorf(q.Value.Pos, "variables:%s:value should be a string, a number or a boolean", p.Key)
					}
				case "description":
					v.Description = q.Value.Str()
				case "expand":
					v.Raw = !boolVal(q.Value, d, "variables:expand")
				case "options":
					v.Options = strList(q.Value, d, "variables:options")
				default:
					d.errorf(q.KeyPos, "variables:%s: unknown key %q", p.Key, q.Key)
				}
			}
			if !global && (p.Value.Has("description") || p.Value.Has("options")) {
				d.errorf(p.KeyPos, "variables:%s: description and options are only allowed in top-level variables", p.Key)
			}
			if len(v.Options) > 0 && !contains(v.Options, v.Value) {
				d.errorf(p.Value.Pos, "variables:%s: the value %q is not one of its options", p.Key, v.Value)
			}
		default:
			d.errorf(p.Value.Pos, "variables:%s should be a string, a number, a boolean or a hash", p.Key)
		}
		if d.maxVariableSize > 0 && len(v.Value) > d.maxVariableSize {
			d.errorf(p.Value.Pos, "variables:%s: the value has %d bytes, more than the limit of %d", p.Key, len(v.Value), d.maxVariableSize)
		}
		out = append(out, v)
	}
	return out
}

// parseNeeds decodes needs: (strings and hashes, or one hash). As in GitLab's Entry::Needs (a
// ComposableArray, which composes `[config].flatten`), lists nested in the list, which an
// alias of a list of needs makes, are spliced in, and null items are unspecified needs, left
// out.
func parseNeeds(n *Node, d *diags) []Need {
	if n.IsNull() {
		return []Need{}
	}
	items := []*Node{n}
	if n.Kind == Seq {
		items, _ = flattenAll(n.Items)
	}
	out := make([]Need, 0, len(items))
	for _, it := range items {
		need := Need{Artifacts: true, Pos: it.Pos}
		switch it.Kind {
		case Null:
			continue
		case Scalar:
			need.Job = it.Value
		case Map:
			for _, p := range it.Pairs {
				switch p.Key {
				case "job":
					need.Job = p.Value.Str()
				case "artifacts":
					need.Artifacts = boolVal(p.Value, d, "needs:artifacts")
				case "optional":
					need.Optional = boolVal(p.Value, d, "needs:optional")
				case "pipeline":
					need.Pipeline = p.Value.Str()
				case "project":
					need.Project = p.Value.Str()
				case "ref":
					need.Ref = p.Value.Str()
				case "parallel":
					if m := p.Value.Get("matrix"); m != nil {
						need.Matrix, _ = parseMatrix(m, d)
					} else {
						d.errorf(p.Value.Pos, "needs:parallel takes matrix")
					}
				default:
					d.errorf(p.KeyPos, "needs: unknown key %q", p.Key)
				}
			}
			if need.Job == "" && need.Pipeline == "" {
				d.errorf(it.Pos, "needs: an entry needs a job")
				continue
			}
		default:
			d.errorf(it.Pos, "needs config should be an array of strings or hashes")
			continue
		}
		out = append(out, need)
	}
	return out
}

// parseMatrix decodes parallel:matrix: a list of hashes whose values are strings or lists.
func parseMatrix(n *Node, d *diags) ([]map[string][]string, [][]string) {
	if n.Kind != Seq {
		d.errorf(n.Pos, "parallel:matrix should be an array of hashes")
		return nil, nil
	}
	var out []map[string][]string
	var order [][]string
	for _, it := range n.Items {
		if it.Kind != Map {
			d.errorf(it.Pos, "parallel:matrix: each entry should be a hash")
			continue
		}
		m := map[string][]string{}
		var keys []string
		for _, p := range it.Pairs {
			switch p.Value.Kind {
			case Scalar:
				if matrixValue(p.Value, p.Key, d) {
					m[p.Key] = []string{p.Value.Value}
				}
			case Seq:
				for _, v := range p.Value.Items {
					if matrixValue(v, p.Key, d) {
						m[p.Key] = append(m[p.Key], v.Value)
					}
				}
			default:
				d.errorf(p.Value.Pos, "parallel:matrix:%s should be a string or an array", p.Key)
			}
			keys = append(keys, p.Key)
		}
		out = append(out, m)
		order = append(order, keys)
	}
	return out, order
}

// matrixValue reports whether v may be a parallel:matrix value: a string or an integer, as
// GitLab's Entry::Product::Variables validates them (`variables: { array_values: true }`, whose
// values must be alphanumeric: a String, Symbol or Integer). A float or a boolean, which YAML 1.1
// makes of `3.10` or `on`, is an error there, not "3.1" or "true" here.
func matrixValue(v *Node, key string, d *diags) bool {
	if v.Kind != Scalar || v.Tag != TagStr && v.Tag != TagInt {
		d.errorf(v.Pos, "parallel:matrix:%s: values should be strings or integers, not %s", key, v.TypeName())
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
