// Package pipeline loads a .gitlab-ci.yml into a positioned tree and a typed Config: YAML anchors
// and merge keys, include (local, remote, component, project, inputs), !reference, extends,
// default and inherit, and the validation GitLab does before it plans. It reads the repository
// from a directory or any fs.FS (a git tree, say) and other projects through a func it is
// given; it does not decide which jobs run (package plan does) and runs nothing.
package pipeline

import (
	"strconv"
)

// Pos is where a node starts: the file as the user named it, 1-based line and column.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Kind is the shape of a Node.
type Kind uint8

// Node kinds.
const (
	Null Kind = iota
	Scalar
	Seq
	Map
)

// Scalar tags. A scalar is typed as GitLab's YAML reader types it (see typeScalar), and its Value
// is written as Ruby writes such a value: "true", "8" for 010, "1000.0" for 1.0e+3.
const (
	TagStr   = "!!str"
	TagInt   = "!!int"
	TagFloat = "!!float"
	TagBool  = "!!bool"
	TagNull  = "!!null"
	// TagReference marks a GitLab `!reference [job, key, …]` sequence.
	TagReference = "!reference"
)

// Node is one YAML value with its position. Aliases and merge keys are already resolved, so a
// tree of Nodes is plain data. Nodes are never changed after they are built: merges make new
// nodes, so subtrees may be shared.
type Node struct {
	Kind  Kind
	Tag   string // scalar tag, or TagReference on a Seq
	Value string // scalar text
	Items []*Node
	Pairs []Pair
	Pos   Pos
}

// Pair is one key of a mapping.
type Pair struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the value of key in a mapping, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Map {
		return nil
	}
	for i := range n.Pairs {
		if n.Pairs[i].Key == key {
			return n.Pairs[i].Value
		}
	}
	return nil
}

// Has reports whether a mapping has key (even with a null value).
func (n *Node) Has(key string) bool {
	if n == nil || n.Kind != Map {
		return false
	}
	for i := range n.Pairs {
		if n.Pairs[i].Key == key {
			return true
		}
	}
	return false
}

// KeyPos returns the position of key in a mapping, or the mapping's own position.
func (n *Node) KeyPos(key string) Pos {
	for i := range n.Pairs {
		if n.Pairs[i].Key == key {
			return n.Pairs[i].KeyPos
		}
	}
	return n.Pos
}

// With returns a copy of mapping n with key set to v (appended when new).
func (n *Node) With(key string, v *Node) *Node {
	c := *n
	c.Pairs = make([]Pair, 0, len(n.Pairs)+1)
	found := false
	for _, p := range n.Pairs {
		if p.Key == key {
			p.Value = v
			found = true
		}
		c.Pairs = append(c.Pairs, p)
	}
	if !found {
		c.Pairs = append(c.Pairs, Pair{Key: key, KeyPos: n.Pos, Value: v})
	}
	return &c
}

// Without returns a copy of mapping n without the given keys.
func (n *Node) Without(keys ...string) *Node {
	c := *n
	c.Pairs = make([]Pair, 0, len(n.Pairs))
	for _, p := range n.Pairs {
		drop := false
		for _, k := range keys {
			if p.Key == k {
				drop = true
			}
		}
		if !drop {
			c.Pairs = append(c.Pairs, p)
		}
	}
	return &c
}

// IsNull reports whether n is missing or null.
func (n *Node) IsNull() bool { return n == nil || n.Kind == Null }

// Str returns a scalar's text ("" for null and collections).
func (n *Node) Str() string {
	if n == nil || n.Kind != Scalar {
		return ""
	}
	return n.Value
}

// Bool returns a boolean scalar's value and whether n is one.
func (n *Node) Bool() (bool, bool) {
	if n == nil || n.Kind != Scalar || n.Tag != TagBool {
		return false, false
	}
	return n.Value == "true", true
}

// Int returns an integer scalar's value and whether n is one.
func (n *Node) Int() (int, bool) {
	if n == nil || n.Kind != Scalar || n.Tag != TagInt {
		return 0, false
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	return int(i), err == nil
}

// TypeName names n's type for error messages, as GitLab words them.
func (n *Node) TypeName() string {
	switch {
	case n == nil || n.Kind == Null:
		return "null"
	case n.Kind == Map:
		return "hash"
	case n.Kind == Seq:
		return "array"
	case n.Tag == TagBool:
		return "boolean"
	case n.Tag == TagInt:
		return "integer"
	case n.Tag == TagFloat:
		return "float"
	}
	return "string"
}

// NewStr makes a string scalar at pos.
func NewStr(s string, pos Pos) *Node { return &Node{Kind: Scalar, Tag: TagStr, Value: s, Pos: pos} }

// NewSeq makes a sequence at pos.
func NewSeq(pos Pos, items ...*Node) *Node { return &Node{Kind: Seq, Items: items, Pos: pos} }

// NewMap makes an empty mapping at pos.
func NewMap(pos Pos) *Node { return &Node{Kind: Map, Pos: pos} }

// Interface returns n as plain Go values (map[string]any keeps no order; use for comparisons).
func (n *Node) Interface() any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case Map:
		m := make(map[string]any, len(n.Pairs))
		for _, p := range n.Pairs {
			m[p.Key] = p.Value.Interface()
		}
		return m
	case Seq:
		s := make([]any, len(n.Items))
		for i, it := range n.Items {
			s[i] = it.Interface()
		}
		return s
	case Scalar:
		switch n.Tag {
		case TagBool:
			b, _ := n.Bool()
			return b
		case TagInt:
			if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
				return i
			}
		case TagFloat:
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return f
			}
		}
		return n.Value
	}
	return nil
}
