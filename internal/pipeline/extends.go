package pipeline

import "strings"

// maxExtendsDepth is how many levels of extends GitLab follows.
const maxExtendsDepth = 11

// extender resolves extends:, memoising each entry's result.
//
// GitLab builds a configuration in this order (Gitlab::Ci::Config#build_config): includes,
// then extends (Config::Extendable, over every top-level entry), then !reference tags
// (Config::Yaml::Tags::Resolver). Extends therefore merges !reference tags as opaque values,
// and a reference sees the entries it names with their extends already merged.
type extender struct {
	tree *Node
	d    *diags
	done map[string]extended
	// bad names the entries whose extends cannot be resolved wherever they are used: a
	// cycle, an unknown or non-hash parent. Their error is reported once.
	bad map[string]bool
}

// extended is an entry with its extends merged, and how many levels of extends it went
// through (0 for an entry without extends).
type extended struct {
	node   *Node
	height int
}

// extendFailure says why extend gave up.
type extendFailure uint8

const (
	extendOK extendFailure = iota
	// extendBad: the entry cannot be extended from anywhere (reported once, remembered).
	extendBad
	// extendDeep: too deep from where it was reached; from a shallower entry it may be fine.
	extendDeep
)

func newExtender(tree *Node, d *diags) *extender {
	return &extender{tree: tree, d: d, done: map[string]extended{}, bad: map[string]bool{}}
}

// all returns the tree with every top-level entry that has extends replaced by the entry
// merged over its parents (without the extends key), as GitLab's Config::Extendable does
// before tags are resolved. Visible jobs go first, so that an error names the job that
// reached it; hidden entries follow, since a !reference may read them. An entry whose
// extends fails keeps its own content, and failed lists it.
//
// default: and workflow: are extended only when the result has the shape of a job (see
// isGlobal); otherwise they stay as written, and their extends key is reported as unknown.
func (x *extender) all() (tree *Node, failed map[string]bool) {
	failed = map[string]bool{}
	var out *Node
	for pass := range 2 {
		for i, p := range x.tree.Pairs {
			if reservedKeys[p.Key] || p.Value.Kind != Map || !p.Value.Has("extends") {
				continue
			}
			later := strings.HasPrefix(p.Key, ".") || p.Key == "default" || p.Key == "workflow"
			if later != (pass == 1) {
				continue
			}
			x.d.reading(p.KeyPos)
			n, _, fail := x.extend(p.Key, p.Value, 0, nil)
			if fail != extendOK {
				failed[p.Key] = true
				continue
			}
			if (p.Key == "default" || p.Key == "workflow") && !jobShaped(n) {
				continue
			}
			if out == nil {
				c := *x.tree
				c.Pairs = append([]Pair(nil), x.tree.Pairs...)
				out = &c
			}
			out.Pairs[i].Value = n
		}
	}
	if out == nil {
		return x.tree, failed
	}
	return out, failed
}

// extend returns n (the entry name) merged over the entries it extends, and how many levels
// of extends that took. depth is how far from the entry extend started at n is; stack lists
// the entries on the way.
func (x *extender) extend(name string, n *Node, depth int, stack []string) (*Node, int, extendFailure) {
	root := name
	if len(stack) > 0 {
		root = stack[0]
	}
	ext := n.Get("extends")
	if ext == nil {
		return n, 0, extendOK
	}
	if r, ok := x.done[name]; ok {
		if depth+r.height > maxExtendsDepth {
			x.d.errorf(ext.Pos, "%s: extends nests more than %d levels", root, maxExtendsDepth)
			return nil, 0, extendDeep
		}
		return r.node, r.height, extendOK
	}
	if x.bad[name] {
		return nil, 0, extendBad
	}
	if contains(stack, name) {
		x.d.errorf(ext.Pos, "%s: circular extends (%s → %s)", root, strings.Join(stack, " → "), name)
		return nil, 0, extendBad
	}
	if depth >= maxExtendsDepth {
		x.d.errorf(ext.Pos, "%s: extends nests more than %d levels", root, maxExtendsDepth)
		return nil, 0, extendDeep
	}
	parents := strList(ext, x.d, "extends")
	var merged *Node
	height := 0
	for _, parent := range parents {
		pn := x.tree.Get(parent)
		if pn == nil {
			x.d.errorf(ext.Pos, "%s: unknown key in extends (%s)", name, parent)
			x.bad[name] = true
			return nil, 0, extendBad
		}
		if pn.Kind != Map {
			x.d.errorf(ext.Pos, "%s: extends %s, which is not a hash", name, parent)
			x.bad[name] = true
			return nil, 0, extendBad
		}
		r, h, fail := x.extend(parent, pn, depth+1, append(stack, name))
		if fail != extendOK {
			if fail == extendBad {
				x.bad[name] = true
			}
			return nil, 0, fail
		}
		height = max(height, h)
		merged = deepMerge(merged, r.Without("extends"))
	}
	out := deepMerge(merged, n.Without("extends"))
	x.done[name] = extended{node: out, height: height + 1}
	return out, height + 1, extendOK
}
