package pipeline

import (
	"strconv"
	"strings"
)

// maxReferenceDepth is how deep !reference tags may nest, as in GitLab.
const maxReferenceDepth = 10

// resolveReferences replaces every `!reference [key, …]` in the tree by the node it names. A
// reference that yields a list inside a list nests it, as in GitLab; scripts and rules flatten
// nested lists when they are decoded. A path element may be a list index. build calls it
// after extends are merged, as GitLab resolves tags after Config::Extendable: a reference
// reads an entry with its extends merged. A reference that cannot be resolved is reported
// and leaves a null tagged !reference in its place, so that nothing reports it again.
func resolveReferences(root *Node, d *diags) *Node {
	r := refResolver{root: root, d: d}
	return r.walk(root, 0, nil)
}

type refResolver struct {
	root *Node
	d    *diags
}

func (r *refResolver) walk(n *Node, depth int, stack []string) *Node {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case Seq:
		if n.Tag == TagReference {
			return r.resolve(n, depth, stack)
		}
		var out *Node
		for i, it := range n.Items {
			v := r.walk(it, depth, stack)
			if v == it {
				continue
			}
			if out == nil {
				c := *n
				c.Items = append([]*Node(nil), n.Items...)
				out = &c
			}
			if v == nil {
				v = &Node{Kind: Null, Pos: it.Pos, Tag: TagReference}
			}
			out.Items[i] = v
		}
		if out == nil {
			return n
		}
		return out
	case Map:
		var out *Node
		for i, p := range n.Pairs {
			v := r.walk(p.Value, depth, stack)
			if v == p.Value {
				continue
			}
			if out == nil {
				c := *n
				c.Pairs = append([]Pair(nil), n.Pairs...)
				out = &c
			}
			if v == nil {
				v = &Node{Kind: Null, Pos: p.Value.Pos, Tag: TagReference}
			}
			out.Pairs[i].Value = v
		}
		if out == nil {
			return n
		}
		return out
	}
	return n
}

func (r *refResolver) resolve(n *Node, depth int, stack []string) *Node {
	r.d.reading(n.Pos)
	var path []string
	for _, it := range n.Items {
		if it.Kind != Scalar {
			r.d.errorf(it.Pos, "!reference: each element must be a string")
			return nil
		}
		path = append(path, it.Value)
	}
	if len(path) == 0 {
		r.d.errorf(n.Pos, "!reference needs at least one key")
		return nil
	}
	key := strings.Join(path, ".")
	for _, s := range stack {
		if s == key {
			r.d.errorf(n.Pos, "!reference [%s]: circular reference (%s → %s)", strings.Join(path, ", "), strings.Join(stack, " → "), key)
			return nil
		}
	}
	if depth >= maxReferenceDepth {
		r.d.errorf(n.Pos, "!reference [%s]: references nest more than %d levels", strings.Join(path, ", "), maxReferenceDepth)
		return nil
	}
	cur := r.root
	for i, k := range path {
		next := cur.Get(k)
		// A reference does not look through another one (GitLab's Hash#dig stops at the tag).
		if cur.Kind == Seq && cur.Tag != TagReference {
			if idx, err := strconv.Atoi(k); err == nil && idx >= 0 && idx < len(cur.Items) {
				next = cur.Items[idx]
			}
		}
		if next == nil {
			where := "the configuration"
			if i > 0 {
				where = strings.Join(path[:i], ".")
			}
			r.d.errorf(n.Pos, "!reference [%s]: %q not found in %s", strings.Join(path, ", "), k, where)
			return nil
		}
		cur = next
	}
	return r.walk(cur, depth+1, append(stack, key))
}
