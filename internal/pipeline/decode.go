package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v4"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Parse decodes every YAML document of data into Nodes, resolving anchors, aliases and merge
// keys. A duplicate key is a warning (the last one wins, as GitLab's parser does). Syntax errors
// come back as *Error with the position the YAML parser gave. Collections nested deeper than
// DefaultMaxDepth are an error; Load takes Options.MaxDepth instead.
func Parse(file string, data []byte) (docs []*Node, warnings Errors, err error) {
	return parse(file, data, DefaultMaxDepth)
}

// parse is Parse with a bound on the nesting of collections.
func parse(file string, data []byte, maxDepth int) (docs []*Node, warnings Errors, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, syntaxError(file, err)
		}
		c := converter{file: file, maxDepth: maxDepth}
		var root *Node
		if len(doc.Content) > 0 {
			root = c.convert(doc.Content[0], 0)
		} else {
			root = &Node{Kind: Null, Pos: Pos{File: file, Line: doc.Line, Col: doc.Column}}
		}
		if c.err != nil {
			return nil, nil, c.err
		}
		warnings = append(warnings, c.d.warnings...)
		docs = append(docs, root)
	}
	return docs, warnings, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

// syntaxError turns a YAML library error into a positioned Error.
func syntaxError(file string, err error) error {
	msg := err.Error()
	pos := Pos{File: file, Line: 1, Col: 1}
	var le *yaml.LoadError
	if errors.As(err, &le) && le.Mark.Line > 0 {
		pos.Line, pos.Col = le.Mark.Line, max(le.Mark.Column, 1)
		return Errors{{Pos: pos, Msg: "invalid YAML: " + le.Message}}
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			pos.Col, _ = strconv.Atoi(m[2])
		}
	}
	return Errors{{Pos: pos, Msg: "invalid YAML: " + msg}}
}

// maxNodes bounds the tree that aliases may expand to (a "billion laughs" document).
const maxNodes = 1 << 20

// smallMap is the most keys a mapping may have for the converter to find repeated keys by
// scanning it; larger ones get an index.
const smallMap = 16

type converter struct {
	file     string
	maxDepth int
	// anchored holds each converted node that has an anchor, for the aliases that name it.
	anchored map[*yaml.Node]anchored
	// heights memoises height.
	heights map[*Node]int
	// count is the expanded size of the document so far.
	count int
	slab  []Node
	d     diags
	err   error
}

// anchored is an anchored node converted: size is how many nodes it stands for once aliases
// are expanded, height how many levels of collections it holds, itself included (an alias
// puts that many levels where it is used).
type anchored struct {
	node         *Node
	size, height int
}

// height returns how many levels of collections n holds, itself included, using and filling
// c.heights. Only anchored nodes need it, so it is worked out for those alone.
func (c *converter) height(n *Node) int {
	if n.Kind != Seq && n.Kind != Map {
		return 0
	}
	if h, ok := c.heights[n]; ok {
		return h
	}
	h := 0
	for _, it := range n.Items {
		h = max(h, c.height(it))
	}
	for _, p := range n.Pairs {
		h = max(h, c.height(p.Value))
	}
	if c.heights == nil {
		c.heights = map[*Node]int{}
	}
	c.heights[n] = h + 1
	return h + 1
}

// node allocates n from a slab: a parsed file is thousands of small nodes that live and die
// together, and one allocation per 256 of them keeps parsing cheap.
func (c *converter) node(n Node) *Node {
	if len(c.slab) == 0 {
		c.slab = make([]Node, 256)
	}
	p := &c.slab[0]
	*p = n
	c.slab = c.slab[1:]
	return p
}

func (c *converter) pos(n *yaml.Node) Pos { return Pos{File: c.file, Line: n.Line, Col: n.Column} }

// convert converts n, which depth collections hold.
func (c *converter) convert(n *yaml.Node, depth int) *Node {
	if c.err != nil {
		return &Node{Pos: c.pos(n)}
	}
	c.count++
	if c.count > maxNodes {
		c.err = Errors{{Pos: c.pos(n), Msg: "the document is too large once its aliases are expanded"}}
		return &Node{Pos: c.pos(n)}
	}
	if (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && depth >= c.maxDepth {
		c.tooDeep(n)
		return &Node{Pos: c.pos(n)}
	}
	start := c.count
	var out *Node
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			c.err = Errors{{Pos: c.pos(n), Msg: "unknown anchor"}}
			return &Node{Pos: c.pos(n)}
		}
		if done, ok := c.anchored[n.Alias]; ok {
			c.count += done.size
			switch {
			case c.count > maxNodes:
				c.err = Errors{{Pos: c.pos(n), Msg: "the document is too large once its aliases are expanded"}}
			case depth+done.height > c.maxDepth:
				c.tooDeep(n)
			}
			return done.node
		}
		return c.convert(n.Alias, depth)
	case yaml.ScalarNode:
		tag, value, err := typeScalar(n)
		if err != nil {
			c.err = Errors{{Pos: c.pos(n), Msg: "invalid YAML: " + err.Error()}}
			return &Node{Pos: c.pos(n)}
		}
		out = c.node(Node{Kind: Scalar, Tag: tag, Value: value, Pos: c.pos(n)})
		if tag == TagNull {
			out.Kind = Null
		}
	case yaml.SequenceNode:
		out = c.node(Node{Kind: Seq, Pos: c.pos(n), Items: make([]*Node, 0, len(n.Content))})
		if n.Tag == TagReference {
			out.Tag = TagReference
		}
		for _, it := range n.Content {
			out.Items = append(out.Items, c.convert(it, depth+1))
		}
	case yaml.MappingNode:
		out = c.node(Node{Kind: Map, Pos: c.pos(n), Pairs: make([]Pair, 0, len(n.Content)/2)})
		var m mapping
		if len(n.Content) > 2*smallMap {
			m.index = make(map[string]int, len(n.Content)/2)
			m.lines = make(map[string]int, len(n.Content)/2)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				c.merge(out, &m, v, depth)
				continue
			}
			key := keyOf(k)
			if line, dup := m.written(n.Content, i, key, k.Line); dup {
				c.d.warnf(c.pos(k), "duplicate key %q (first at line %d): the last value wins", key, line)
			}
			m.set(out, key, c.pos(k), c.convert(v, depth+1))
		}
	default:
		return &Node{Kind: Null, Pos: c.pos(n)}
	}
	if n.Anchor != "" {
		if c.anchored == nil {
			c.anchored = map[*yaml.Node]anchored{}
		}
		a := anchored{node: out, height: c.height(out)}
		if n.Kind != yaml.ScalarNode {
			a.size = c.count - start + 1
		}
		c.anchored[n] = a
	}
	return out
}

// keyOf is the text of a mapping key (an alias's anchored scalar for an alias).
func keyOf(k *yaml.Node) string {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		return k.Alias.Value
	}
	return k.Value
}

// mapping is the state of a mapping being converted. A small one is scanned to find keys; a
// large one (more than smallMap keys) has index, each key's place in the Pairs, and lines,
// the line each key was last written on.
type mapping struct {
	index map[string]int
	lines map[string]int
}

// written reports whether key, written at content[i] on line, was written before in the
// mapping (merged keys aside) and on which line it was last.
func (m *mapping) written(content []*yaml.Node, i int, key string, line int) (int, bool) {
	if m.lines != nil {
		prev, ok := m.lines[key]
		m.lines[key] = line
		return prev, ok
	}
	for j := i - 2; j >= 0; j -= 2 {
		k := content[j]
		if !(k.Kind == yaml.ScalarNode && k.Tag == "!!merge") && keyOf(k) == key {
			return k.Line, true
		}
	}
	return 0, false
}

// set stores key in out, replacing an earlier value but keeping its place.
func (m *mapping) set(out *Node, key string, pos Pos, v *Node) {
	i, ok := -1, false
	if m.index != nil {
		i, ok = m.index[key]
	} else {
		i = out.index(key)
		ok = i >= 0
	}
	if ok {
		out.Pairs[i] = Pair{Key: key, KeyPos: pos, Value: v}
		return
	}
	if m.index != nil {
		m.index[key] = len(out.Pairs)
	}
	out.Pairs = append(out.Pairs, Pair{Key: key, KeyPos: pos, Value: v})
}

// tooDeep records that n nests collections deeper than maxDepth.
func (c *converter) tooDeep(n *yaml.Node) {
	c.err = Errors{{Pos: c.pos(n), Msg: fmt.Sprintf("collections are nested more than %d levels deep (the limit)", c.maxDepth)}}
}

// merge applies a `<<` merge key as GitLab's parser (Ruby's Psych) does: the merged mapping's
// keys override keys written before the `<<`, keys written after it override the merged ones,
// and in `<<: [*a, *b]` the earlier mapping wins.
func (c *converter) merge(out *Node, m *mapping, v *yaml.Node, depth int) {
	src := c.convert(v, depth+1)
	if c.err != nil {
		return
	}
	var maps []*Node
	switch src.Kind {
	case Map:
		maps = []*Node{src}
	case Seq:
		maps = src.Items
	default:
		c.err = Errors{{Pos: c.pos(v), Msg: "merge key `<<` needs a mapping or a list of mappings"}}
		return
	}
	for i := len(maps) - 1; i >= 0; i-- {
		m := maps[i]
		if m.Kind != Map {
			c.err = Errors{{Pos: m.Pos, Msg: "merge key `<<` needs a mapping or a list of mappings"}}
			return
		}
	}
	var merged map[string]bool
	if len(maps) > 1 {
		merged = map[string]bool{}
	}
	for _, src := range maps {
		for _, p := range src.Pairs {
			if merged != nil {
				if merged[p.Key] {
					continue
				}
				merged[p.Key] = true
			}
			m.set(out, p.Key, p.KeyPos, p.Value)
		}
	}
}
