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
type varSet struct {
	parent *varSet
	vars   []Var
	// index maps keys to their place in vars once there are more than indexFrom of them (a
	// job's own set is searched: making a map for each job costs more).
	index map[string]int
	// max bounds a value once expanded (zero: pipeline.DefaultMaxVariableSize); a set made
	// on a parent takes the parent's. overflow names the first variable whose expansion a
	// Lookup found past it.
	max      int
	overflow string
}

// newVarSet makes a set on parent (nil for none) of the layers, later ones overriding earlier
// ones, with room for size variables in all.
func newVarSet(parent *varSet, size int, layers ...[]Var) *varSet {
	for _, l := range layers {
		size = max(size, len(l))
	}
	s := &varSet{parent: parent, vars: make([]Var, 0, size)}
	if parent != nil {
		s.max = parent.max
	}
	for _, l := range layers {
		s.add(l...)
	}
	return s
}

// indexFrom is how many variables a set holds before it has an index.
const indexFrom = 32

func (s *varSet) add(vs ...Var) {
	for _, v := range vs {
		if i, ok := s.find(v.Key); ok {
			s.vars[i] = v
			continue
		}
		s.vars = append(s.vars, v)
		switch {
		case s.index != nil:
			s.index[v.Key] = len(s.vars) - 1
		case len(s.vars) > indexFrom:
			s.index = make(map[string]int, 2*len(s.vars))
			for i, v := range s.vars {
				s.index[v.Key] = i
			}
		}
	}
}

// find returns where key is in s.vars (not its parent's).
func (s *varSet) find(key string) (int, bool) {
	if s.index != nil {
		i, ok := s.index[key]
		return i, ok
	}
	for i := range s.vars {
		if s.vars[i].Key == key {
			return i, true
		}
	}
	return 0, false
}

func (s *varSet) raw(name string) (Var, bool) {
	for ; s != nil; s = s.parent {
		if i, ok := s.find(name); ok {
			return s.vars[i], true
		}
	}
	return Var{}, false
}

// Lookup returns a variable's value with $references in it expanded (unless it is raw or a
// file variable), as jobs see it. A reference back to a variable being expanded (a cycle)
// expands to nothing; cycles reports them. Each variable is expanded once per Lookup, and an
// expansion that grows past s.max stops: it expands to nothing, and s.overflow names it (a
// few short variables referring to each other twice would otherwise make gigabytes).
func (s *varSet) Lookup(name string) (string, bool) {
	max := s.max
	if max <= 0 {
		max = pipeline.DefaultMaxVariableSize
	}
	x := expansion{set: s, max: max}
	v, ok := x.lookup(name, nil)
	if x.over != "" && s.overflow == "" {
		s.overflow = x.over
	}
	return v, ok
}

// expansion is one Lookup under way.
type expansion struct {
	set  *varSet
	max  int
	done map[string]string // variables expanded so far; nil until one is
	over string            // the first variable whose expansion went past max
}

func (x *expansion) lookup(name string, expanding []string) (string, bool) {
	v, ok := x.set.raw(name)
	if !ok {
		return "", false
	}
	if v.Raw || v.File || !strings.Contains(v.Value, "$") {
		return v.Value, true
	}
	if out, ok := x.done[name]; ok {
		return out, true
	}
	if x.over != "" {
		return "", true
	}
	expanding = append(expanding, name)
	size := len(v.Value)
	out := expr.Expand(v.Value, func(n string) (string, bool) {
		if slices.Contains(expanding, n) || x.over != "" {
			return "", false
		}
		r, ok := x.lookup(n, expanding)
		if size += len(r); size > x.max && x.over == "" {
			x.over = name
		}
		return r, ok
	})
	if x.over != "" {
		out = ""
	}
	if x.done == nil {
		x.done = map[string]string{}
	}
	x.done[name] = out
	return out, true
}

// cycle returns the first chain of variables that reference each other in a circle, or nil.
func (s *varSet) cycle() []string {
	var state map[string]int // 1 visiting, 2 done; nil until a value refers to a variable
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
		if state == nil {
			state = map[string]int{}
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
			// A value without a $ refers to nothing. When a set below overrides v, its own
			// value is the one that counts, and that set's loop visits it.
			if !strings.Contains(v.Value, "$") {
				continue
			}
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
	var pos map[string]int // key → index in out, only needed for a parent with its own parent
	if s.parent.parent == nil {
		out = append(out, s.parent.vars...)
	} else {
		out = append(out, s.parent.list()...)
		pos = make(map[string]int, len(out))
		for i, v := range out {
			pos[v.Key] = i
		}
	}
	for _, v := range s.vars {
		i, ok := pos[v.Key]
		if pos == nil {
			i, ok = s.parent.find(v.Key)
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
	s := newVarSet(nil, 0, vars)
	s.max = maxExpanded
	out := make([]Var, len(s.vars))
	for i, v := range s.vars {
		v.Value, _ = s.Lookup(v.Key)
		out[i] = v
	}
	return out
}
