package plan

import (
	"slices"
	"strings"

	"github.com/slipway/slipway/internal/expr"
)

// varSet is an ordered set of variables where a later add of a key overrides an earlier one but
// keeps the key's first position. A set may sit on a parent whose variables it overrides: jobs
// share the pipeline's predefined variables that way instead of copying them.
type varSet struct {
	parent *varSet
	vars   []Var
	index  map[string]int
}

func newVarSet(parent *varSet, layers ...[]Var) *varSet {
	s := &varSet{parent: parent, index: map[string]int{}}
	for _, l := range layers {
		s.add(l...)
	}
	return s
}

func (s *varSet) add(vs ...Var) {
	for _, v := range vs {
		if i, ok := s.index[v.Key]; ok {
			s.vars[i] = v
			continue
		}
		s.index[v.Key] = len(s.vars)
		s.vars = append(s.vars, v)
	}
}

func (s *varSet) raw(name string) (Var, bool) {
	for ; s != nil; s = s.parent {
		if i, ok := s.index[name]; ok {
			return s.vars[i], true
		}
	}
	return Var{}, false
}

// Lookup returns a variable's value with $references in it expanded (unless it is raw or a
// file variable), as jobs see it. A reference back to a variable being expanded (a cycle)
// expands to nothing; cycles reports them.
func (s *varSet) Lookup(name string) (string, bool) { return s.lookup(name, nil) }

func (s *varSet) lookup(name string, expanding []string) (string, bool) {
	v, ok := s.raw(name)
	if !ok {
		return "", false
	}
	if v.Raw || v.File || !strings.Contains(v.Value, "$") {
		return v.Value, true
	}
	expanding = append(expanding, name)
	return expr.Expand(v.Value, func(n string) (string, bool) {
		if slices.Contains(expanding, n) {
			return "", false
		}
		return s.lookup(n, expanding)
	}), true
}

// cycle returns the first chain of variables that reference each other in a circle, or nil.
func (s *varSet) cycle() []string {
	state := map[string]int{} // 1 visiting, 2 done
	var path []string
	var visit func(name string) []string
	visit = func(name string) []string {
		v, ok := s.raw(name)
		if !ok || v.Raw || v.File || !strings.Contains(v.Value, "$") {
			return nil
		}
		switch state[name] {
		case 1:
			i := slices.Index(path, name)
			return append(append([]string(nil), path[i:]...), name)
		case 2:
			return nil
		}
		state[name] = 1
		path = append(path, name)
		for _, ref := range expr.References(v.Value) {
			if c := visit(ref); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[name] = 2
		return nil
	}
	for set := s; set != nil; set = set.parent {
		for _, v := range set.vars {
			if c := visit(v.Key); c != nil {
				return c
			}
		}
	}
	return nil
}

// list returns the variables in order: the parent's (with this set's overrides in place),
// then this set's new keys.
func (s *varSet) list() []Var {
	if s.parent == nil {
		return append([]Var(nil), s.vars...)
	}
	out := make([]Var, 0, len(s.parent.vars)+len(s.vars))
	out = append(out, s.parent.list()...)
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

// Expanded returns vars (later keys overriding earlier ones) with every value expanded as a
// job sees it: $X references resolved, raw and file variables left as they are. Cycles expand
// to nothing where they close.
func Expanded(vars []Var) []Var {
	s := newVarSet(nil, vars)
	out := make([]Var, len(s.vars))
	for i, v := range s.vars {
		v.Value, _ = s.Lookup(v.Key)
		out[i] = v
	}
	return out
}
