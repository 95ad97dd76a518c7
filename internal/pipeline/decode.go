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
		c := converter{file: file, maxDepth: maxDepth, seen: map[*yaml.Node]*Node{}, size: map[*Node]int{}, height: map[*Node]int{}}
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

type converter struct {
	file     string
	maxDepth int
	seen     map[*yaml.Node]*Node
	// size is how many nodes each converted node stands for once aliases are expanded; count
	// is the expanded size of the document so far.
	size  map[*Node]int
	count int
	// height is how many levels of collections each converted collection holds, itself
	// included (an alias puts that many levels where it is used).
	height map[*Node]int
	slab   []Node
	d      diags
	err    error
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
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			c.err = Errors{{Pos: c.pos(n), Msg: "unknown anchor"}}
			return &Node{Pos: c.pos(n)}
		}
		if done, ok := c.seen[n.Alias]; ok {
			c.count += c.size[done]
			switch {
			case c.count > maxNodes:
				c.err = Errors{{Pos: c.pos(n), Msg: "the document is too large once its aliases are expanded"}}
			case depth+c.height[done] > c.maxDepth:
				c.tooDeep(n)
			}
			return done
		}
		return c.convert(n.Alias, depth)
	case yaml.ScalarNode:
		tag, value, err := typeScalar(n)
		if err != nil {
			c.err = Errors{{Pos: c.pos(n), Msg: "invalid YAML: " + err.Error()}}
			return &Node{Pos: c.pos(n)}
		}
		out := c.node(Node{Kind: Scalar, Tag: tag, Value: value, Pos: c.pos(n)})
		if tag == TagNull {
			out.Kind = Null
		}
		c.seen[n] = out
		return out
	case yaml.SequenceNode:
		out := c.node(Node{Kind: Seq, Pos: c.pos(n), Items: make([]*Node, 0, len(n.Content))})
		if n.Tag == TagReference {
			out.Tag = TagReference
		}
		start := c.count
		h := 0
		for _, it := range n.Content {
			item := c.convert(it, depth+1)
			out.Items = append(out.Items, item)
			h = max(h, c.height[item])
		}
		c.seen[n], c.size[out], c.height[out] = out, c.count-start+1, h+1
		return out
	case yaml.MappingNode:
		out := c.node(Node{Kind: Map, Pos: c.pos(n), Pairs: make([]Pair, 0, len(n.Content)/2)})
		start := c.count
		explicit := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				c.merge(out, v, depth)
				continue
			}
			key := k.Value
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				key = k.Alias.Value
			}
			if line, dup := explicit[key]; dup {
				c.d.warnf(c.pos(k), "duplicate key %q (first at line %d): the last value wins", key, line)
			}
			explicit[key] = k.Line
			c.set(out, key, c.pos(k), c.convert(v, depth+1))
		}
		h := 0
		for _, p := range out.Pairs {
			h = max(h, c.height[p.Value])
		}
		c.seen[n], c.size[out], c.height[out] = out, c.count-start+1, h+1
		return out
	}
	return &Node{Kind: Null, Pos: c.pos(n)}
}

// tooDeep records that n nests collections deeper than maxDepth.
func (c *converter) tooDeep(n *yaml.Node) {
	c.err = Errors{{Pos: c.pos(n), Msg: fmt.Sprintf("collections are nested more than %d levels deep (the limit)", c.maxDepth)}}
}

// merge applies a `<<` merge key as GitLab's parser (Ruby's Psych) does: the merged mapping's
// keys override keys written before the `<<`, keys written after it override the merged ones,
// and in `<<: [*a, *b]` the earlier mapping wins.
func (c *converter) merge(out *Node, v *yaml.Node, depth int) {
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
	merged := map[string]bool{}
	for _, m := range maps {
		for _, p := range m.Pairs {
			if !merged[p.Key] {
				merged[p.Key] = true
				c.set(out, p.Key, p.KeyPos, p.Value)
			}
		}
	}
}

// set stores key in out, replacing an earlier value but keeping its place.
func (c *converter) set(out *Node, key string, pos Pos, v *Node) {
	for i := range out.Pairs {
		if out.Pairs[i].Key == key {
			out.Pairs[i] = Pair{Key: key, KeyPos: pos, Value: v}
			return
		}
	}
	out.Pairs = append(out.Pairs, Pair{Key: key, KeyPos: pos, Value: v})
}
