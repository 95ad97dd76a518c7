package plan

import "github.com/slipway/slipway/internal/expr"

// varSet is an ordered set of variables where a later Set of a key overrides an earlier one
// but keeps the key's first position.
type varSet struct {
	vars  []Var
	index map[string]int
}

func newVarSet(layers ...[]Var) *varSet {
	s := &varSet{index: map[string]int{}}
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

func (s *varSet) clone() *varSet {
	c := &varSet{vars: append([]Var(nil), s.vars...), index: make(map[string]int, len(s.index))}
	for k, v := range s.index {
		c.index[k] = v
	}
	return c
}

func (s *varSet) raw(name string) (Var, bool) {
	i, ok := s.index[name]
	if !ok {
		return Var{}, false
	}
	return s.vars[i], true
}

// maxExpandDepth bounds nested expansion of variables that reference variables.
const maxExpandDepth = 10

// Lookup returns a variable's value with $references in it expanded (unless it is raw or a
// file variable), as jobs see it.
func (s *varSet) Lookup(name string) (string, bool) { return s.lookup(name, 0) }

func (s *varSet) lookup(name string, depth int) (string, bool) {
	v, ok := s.raw(name)
	if !ok {
		return "", false
	}
	if v.Raw || v.File || depth >= maxExpandDepth {
		return v.Value, true
	}
	return expr.Expand(v.Value, func(n string) (string, bool) {
		if n == name {
			return "", false
		}
		return s.lookup(n, depth+1)
	}), true
}

// Vars returns the variables in order.
func (s *varSet) list() []Var { return append([]Var(nil), s.vars...) }
