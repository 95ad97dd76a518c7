package plan

import (
	"slices"
	"strings"

	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/pipeline"
)

// varSet is an ordered set of variables where a later add of a key overrides an earlier one but
// keeps the key's first position. A set may sit on a parent whose variables it overrides: jobs
// share the pipeline's predefined variables that way instead of copying them.
//
// A set is built in levels (see newVarSet): within a level a key has one value, the last added
// (GitLab merges the YAML variables of every level — top-level, workflow, job, matrix, rules —
// into one list before it expands them: Variables::Helpers.inherit_yaml_variables and
// merge_variables); a key that a higher level overrides keeps the value it had below, which a
// reference to itself reads (see Lookup).
type varSet struct {
	parent *varSet
	vars   []Var
	index  map[string]int
	// levels holds the level of each of vars, level the level adds go to.
	levels []int
	level  int
	// under holds, for a key a higher level overrode, the values it had on lower levels of
	// this set, lowest first.
	under map[string][]Var
	// max bounds a value once expanded (zero: pipeline.DefaultMaxVariableSize); a set made
	// on a parent takes the parent's. overflow names the first variable whose expansion a
	// Lookup found past it.
	max      int
	overflow string
}

// newVarSet makes a set over parent with one level per argument, lowest first.
func newVarSet(parent *varSet, levels ...[]Var) *varSet {
	s := &varSet{parent: parent, index: map[string]int{}}
	if parent != nil {
		s.max = parent.max
	}
	for i, l := range levels {
		s.level = i
		s.add(l...)
	}
	return s
}

// add sets variables on the set's top level.
func (s *varSet) add(vs ...Var) {
	for _, v := range vs {
		if i, ok := s.index[v.Key]; ok {
			if s.levels[i] < s.level {
				if s.under == nil {
					s.under = map[string][]Var{}
				}
				s.under[v.Key] = append(s.under[v.Key], s.vars[i])
				s.levels[i] = s.level
			}
			s.vars[i] = v
			continue
		}
		s.index[v.Key] = len(s.vars)
		s.vars = append(s.vars, v)
		s.levels = append(s.levels, s.level)
	}
}

func (s *varSet) raw(name string) (Var, bool) { return s.def(ref{name: name}) }

// ref names one definition of a variable: depth 0 is the value jobs see, depth 1 the one it
// overrides, and so on down the levels and the parents.
type ref struct {
	name  string
	depth int
}

// below is the definition r overrides.
func (r ref) below() ref { return ref{r.name, r.depth + 1} }

// def returns the definition r names.
func (s *varSet) def(r ref) (Var, bool) {
	depth := r.depth
	for ; s != nil; s = s.parent {
		i, ok := s.index[r.name]
		if !ok {
			continue
		}
		if depth == 0 {
			return s.vars[i], true
		}
		u := s.under[r.name]
		if depth <= len(u) {
			return u[len(u)-depth], true
		}
		depth -= 1 + len(u)
	}
	return Var{}, false
}

// refOf is the definition that $name in the value of r refers to: the value jobs see of name,
// but for a reference of a variable to itself, the value it overrides. GitLab sorts a job's
// variables by their references (Variables::Collection::Sort) and expands each over those
// before it: a variable that names only itself reads the other definitions of its key, and
// stays empty when it has none (Collection#sort_and_expand_all).
func refOf(r ref, name string) ref {
	if name == r.name {
		return r.below()
	}
	return ref{name: name}
}

// Lookup returns a variable's value with $references in it expanded (unless it is raw or a
// file variable), as jobs see it. A reference of a variable to itself reads the value it
// overrides (see refOf); a reference back to a variable being expanded (a cycle through two or
// more variables) expands to nothing, and cycle reports it. Each variable is expanded once per
// Lookup, and an expansion that grows past s.max stops: it expands to nothing, and s.overflow
// names it (a few short variables referring to each other twice would otherwise make
// gigabytes).
func (s *varSet) Lookup(name string) (string, bool) {
	return s.lookupDef(ref{name: name})
}

func (s *varSet) lookupDef(r ref) (string, bool) {
	max := s.max
	if max <= 0 {
		max = pipeline.DefaultMaxVariableSize
	}
	x := expansion{set: s, max: max, done: map[ref]string{}}
	v, ok := x.lookup(r, nil)
	if x.over != "" && s.overflow == "" {
		s.overflow = x.over
	}
	return v, ok
}

// expansion is one Lookup under way.
type expansion struct {
	set  *varSet
	max  int
	done map[ref]string // definitions expanded so far
	over string         // the first variable whose expansion went past max
}

func (x *expansion) lookup(r ref, expanding []ref) (string, bool) {
	v, ok := x.set.def(r)
	if !ok {
		return "", false
	}
	if v.Raw || v.File || !strings.Contains(v.Value, "$") {
		return v.Value, true
	}
	if out, ok := x.done[r]; ok {
		return out, true
	}
	if x.over != "" {
		return "", true
	}
	expanding = append(expanding, r)
	size := len(v.Value)
	out := expr.Expand(v.Value, func(n string) (string, bool) {
		next := refOf(r, n)
		if slices.Contains(expanding, next) || x.over != "" {
			return "", false
		}
		val, ok := x.lookup(next, expanding)
		if size += len(val); size > x.max && x.over == "" {
			x.over = r.name
		}
		return val, ok
	})
	if x.over != "" {
		out = ""
	}
	x.done[r] = out
	return out, true
}

// cycle returns the first chain of variables that reference each other in a circle, or nil.
// A variable that refers to itself is no cycle: it reads the value it overrides (refOf).
func (s *varSet) cycle() []string {
	state := map[ref]int{} // 1 visiting, 2 done
	var path []ref
	var visit func(r ref) []string
	visit = func(r ref) []string {
		v, ok := s.def(r)
		if !ok || v.Raw || v.File || !strings.Contains(v.Value, "$") {
			return nil
		}
		switch state[r] {
		case 1:
			var names []string
			for _, p := range path[slices.Index(path, r):] {
				names = append(names, p.name)
			}
			return append(names, r.name)
		case 2:
			return nil
		}
		state[r] = 1
		path = append(path, r)
		for _, name := range expr.References(v.Value) {
			if c := visit(refOf(r, name)); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[r] = 2
		return nil
	}
	for set := s; set != nil; set = set.parent {
		for _, v := range set.vars {
			if c := visit(ref{name: v.Key}); c != nil {
				return c
			}
		}
	}
	return nil
}

// list returns the variables in order: the parent's (with this set's overrides in place),
// then this set's new keys. In a variable that refers to itself, those references are replaced
// by the value it overrides (see refOf), escaped: runners expand the list as it is, without
// its levels (Expanded), and read then what GitLab gives the job.
func (s *varSet) list() []Var {
	out := s.items()
	for i, v := range out {
		if v.Raw || v.File || !strings.Contains(v.Value, "$") || !slices.Contains(expr.References(v.Value), v.Key) {
			continue
		}
		below := ref{name: v.Key}.below()
		out[i].Value = expr.Substitute(v.Value, func(name string) (string, bool) {
			if name != v.Key {
				return "", false
			}
			val, _ := s.lookupDef(below)
			return expr.Escape(val), true
		})
	}
	return out
}

// forward returns the value of v, a YAML variable of the set, as a trigger job passes it to its
// downstream pipeline: expanded as the job sees its variables (raw ones as written). A
// reference of v to its own key reads the other definition of the key the job sees — the
// user's that overrides v, or the one v overrides — and stays as written when there is none,
// for the downstream pipeline to read its own (GitLab expands it over the bridge's variables,
// where the last definition of the key is then v itself).
func (s *varSet) forward(v Var) string {
	if v.Raw || v.File {
		return v.Value
	}
	return expr.Expand(v.Value, func(name string) (string, bool) {
		if name != v.Key {
			return s.Lookup(name)
		}
		r := ref{name: name}
		if top, ok := s.def(r); ok && top == v {
			r = r.below()
		}
		if val, ok := s.lookupDef(r); ok {
			return val, true
		}
		return "${" + name + "}", true
	})
}

// items returns the variables in order, as list does, with their values as written.
func (s *varSet) items() []Var {
	if s.parent == nil {
		return append([]Var(nil), s.vars...)
	}
	out := make([]Var, 0, len(s.parent.vars)+len(s.vars))
	out = append(out, s.parent.items()...)
	var pos map[string]int // key → index in out, only needed for a parent with its own parent
	if s.parent.parent != nil {
		pos = make(map[string]int, len(out))
		for i, v := range out {
			pos[v.Key] = i
		}
	}
	for _, v := range s.vars {
		i, ok := pos[v.Key]
		if pos == nil {
			i, ok = s.parent.index[v.Key]
		}
		if ok {
			out[i] = v
		} else {
			out = append(out, v)
		}
	}
	return out
}

// maxExpanded bounds a value Expanded makes: GitLab's bound on what expansion adds. Compile
// refuses plans with a value past Context.MaxVariableSize, a smaller bound; Expanded has
// variables that were not planned too (dotenv reports) and must stay cheap.
const maxExpanded = 10 << 20

// Expanded returns vars (later keys overriding earlier ones) with every value expanded as a
// job sees it: $X references resolved, raw and file variables left as they are. Cycles expand
// to nothing where they close, and so does a value past 10 MiB.
func Expanded(vars []Var) []Var {
	s := newVarSet(nil, vars)
	s.max = maxExpanded
	out := make([]Var, len(s.vars))
	for i, v := range s.vars {
		v.Value, _ = s.Lookup(v.Key)
		out[i] = v
	}
	return out
}
