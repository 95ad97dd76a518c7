package pipeline

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/expr"
)

// stringInputs turns --input K=V values into nodes; applySpec converts them to the declared type.
func stringInputs(in map[string]string) map[string]*Node {
	if in == nil {
		return nil
	}
	out := make(map[string]*Node, len(in))
	for k, v := range in {
		out[k] = &Node{Kind: Scalar, Tag: "cli", Value: v, Pos: Pos{File: "--input " + k}}
	}
	return out
}

// applySpec takes a file's documents: an optional spec: header and the content. It checks the
// given inputs against the spec and interpolates $[[ inputs.x ]] (and, for components,
// $[[ component.x ]]) in the content.
func (l *loader) applySpec(name string, docs []*Node, given map[string]*Node, comp map[string]string, chain []string) *Node {
	if len(docs) == 0 {
		return &Node{Kind: Null, Pos: Pos{File: name, Line: 1, Col: 1}}
	}
	var spec *Node
	if len(docs) > 1 && docs[0].Kind == Map && docs[0].Has("spec") {
		spec = docs[0].Get("spec")
		docs = docs[1:]
	}
	if len(docs) > 1 {
		l.d.errorf(docs[1].Pos, "a pipeline file has one document, or a spec: header and one document")
	}
	doc := docs[0]
	if spec == nil {
		if len(given) > 0 {
			pos := doc.Pos
			for _, v := range given {
				pos = v.Pos
				break
			}
			l.d.errorf(pos, "%s: inputs were given but the file has no spec:inputs header", name)
		}
		if comp == nil && !hasBlock(doc) {
			return doc
		}
	}
	values := l.inputValues(name, spec.Get("inputs"), given)
	if values == nil {
		values = map[string]*Node{}
	}
	ip := interpolator{file: name, inputs: values, comp: comp, d: &l.d, vars: l.lookup}
	return ip.node(doc)
}

var blockRe = regexp.MustCompile(`\$\[\[(.*?)\]\]`)

func hasBlock(n *Node) bool {
	switch n.Kind {
	case Scalar:
		return strings.Contains(n.Value, "$[[")
	case Seq:
		for _, it := range n.Items {
			if hasBlock(it) {
				return true
			}
		}
	case Map:
		for _, p := range n.Pairs {
			if strings.Contains(p.Key, "$[[") || hasBlock(p.Value) {
				return true
			}
		}
	}
	return false
}

// inputValues checks given inputs against the spec and fills in defaults.
func (l *loader) inputValues(file string, spec *Node, given map[string]*Node) map[string]*Node {
	out := map[string]*Node{}
	declared := map[string]bool{}
	if spec != nil && spec.Kind != Map && !spec.IsNull() {
		l.d.errorf(spec.Pos, "spec:inputs should be a hash")
		return out
	}
	if spec != nil {
		for _, p := range spec.Pairs {
			declared[p.Key] = true
			def := p.Value
			typ := def.Get("type").Str()
			if typ == "" {
				typ = "string"
			}
			if !contains([]string{"string", "number", "boolean", "array"}, typ) {
				l.d.errorf(def.Get("type").Pos, "spec:inputs:%s: unknown type %q (use string, number, boolean or array)", p.Key, typ)
				continue
			}
			v, ok := given[p.Key]
			if !ok {
				if !def.Has("default") {
					l.d.errorf(p.KeyPos, "%s: `%s` input: required value has not been provided", file, p.Key)
					continue
				}
				v = def.Get("default")
				if v == nil {
					v = NewStr("", p.KeyPos)
				}
			}
			v = l.typed(file, p.Key, typ, v)
			if v == nil {
				continue
			}
			if opts := def.Get("options"); opts != nil && !optionAllowed(opts, v) {
				l.d.errorf(v.Pos, "%s: `%s` input: `%s` cannot be used because it is not in the list of allowed options", file, p.Key, v.Str())
				continue
			}
			if re := def.Get("regex").Str(); re != "" {
				rx, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(re, "/"), "/"))
				if err != nil {
					l.d.errorf(def.Get("regex").Pos, "%s: `%s` input: invalid regular expression: %v", file, p.Key, err)
					continue
				}
				if !rx.MatchString(v.Str()) {
					l.d.errorf(v.Pos, "%s: `%s` input: provided value does not match required RegEx pattern", file, p.Key)
					continue
				}
			}
			out[p.Key] = v
		}
	}
	for k, v := range given {
		if !declared[k] {
			l.d.errorf(v.Pos, "%s: unknown input name provided: `%s`", file, k)
		}
	}
	return out
}

func optionAllowed(opts, v *Node) bool {
	if v.Kind == Seq {
		for _, it := range v.Items {
			if !optionAllowed(opts, it) {
				return false
			}
		}
		return true
	}
	for _, o := range opts.Items {
		if o.Value == v.Value {
			return true
		}
	}
	return false
}

// typed checks (and for --input strings, converts) an input value to its declared type.
func (l *loader) typed(file, key, typ string, v *Node) *Node {
	if v.Tag == "cli" {
		s := v.Value
		switch typ {
		case "string":
			return NewStr(s, v.Pos)
		case "array":
			docs, _, err := Parse(v.Pos.File, []byte(s))
			if err != nil || len(docs) != 1 || docs[0].Kind != Seq {
				l.d.errorf(v.Pos, "%s: `%s` input: provided value is not an array", file, key)
				return nil
			}
			return docs[0]
		case "number":
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return &Node{Kind: Scalar, Tag: TagInt, Value: strconv.FormatInt(i, 10), Pos: v.Pos}
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				l.d.errorf(v.Pos, "%s: `%s` input: provided value is not a number", file, key)
				return nil
			}
			return &Node{Kind: Scalar, Tag: TagFloat, Value: rubyFloat(f), Pos: v.Pos}
		case "boolean":
			if s != "true" && s != "false" {
				l.d.errorf(v.Pos, "%s: `%s` input: provided value is not a boolean", file, key)
				return nil
			}
			return &Node{Kind: Scalar, Tag: TagBool, Value: s, Pos: v.Pos}
		}
	}
	ok := false
	switch typ {
	case "string":
		ok = v.Kind == Scalar && v.Tag == TagStr || v.Kind == Null
	case "number":
		ok = v.Kind == Scalar && (v.Tag == TagInt || v.Tag == TagFloat)
	case "boolean":
		ok = v.Kind == Scalar && v.Tag == TagBool
	case "array":
		ok = v.Kind == Seq
	}
	if !ok {
		l.d.errorf(v.Pos, "%s: `%s` input: provided value is not a %s", file, key, typ)
		return nil
	}
	return v
}

// interpolator replaces $[[ … ]] blocks in a document.
type interpolator struct {
	file   string
	inputs map[string]*Node
	comp   map[string]string
	d      *diags
	vars   expr.Lookup
}

func (ip *interpolator) node(n *Node) *Node {
	switch n.Kind {
	case Scalar:
		if !strings.Contains(n.Value, "$[[") {
			return n
		}
		if m := blockRe.FindStringSubmatchIndex(n.Value); m != nil && m[0] == 0 && m[1] == len(n.Value) && !matrixBlock(n.Value) {
			v := ip.value(n.Value[m[2]:m[3]], n.Pos)
			if v != nil && v.Kind != Scalar {
				return v
			}
			if v != nil && v.Tag != TagStr {
				c := *v
				c.Pos = n.Pos
				return &c
			}
		}
		c := *n
		c.Value = ip.text(n.Value, n.Pos)
		return &c
	case Seq:
		c := *n
		c.Items = make([]*Node, len(n.Items))
		for i, it := range n.Items {
			c.Items[i] = ip.node(it)
		}
		return &c
	case Map:
		c := *n
		c.Pairs = make([]Pair, len(n.Pairs))
		for i, p := range n.Pairs {
			c.Pairs[i] = Pair{Key: ip.text(p.Key, p.KeyPos), KeyPos: p.KeyPos, Value: ip.node(p.Value)}
		}
		return &c
	}
	return n
}

func (ip *interpolator) text(s string, pos Pos) string {
	if !strings.Contains(s, "$[[") {
		return s
	}
	return blockRe.ReplaceAllStringFunc(s, func(block string) string {
		if matrixBlock(block) {
			return block
		}
		v := ip.value(block[3:len(block)-2], pos)
		if v == nil {
			return ""
		}
		if v.Kind == Seq || v.Kind == Map {
			return toJSON(v)
		}
		return v.Value
	})
}

// matrixBlock reports whether a $[[ … ]] block is a needs:parallel:matrix expression, which
// the plan resolves per job instance.
func matrixBlock(block string) bool {
	return strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(block, "$[[")), "matrix.")
}

// maxFunctions is how many functions one interpolation block may apply, as in GitLab.
const maxFunctions = 3

var truncateRe = regexp.MustCompile(`^truncate\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// value evaluates the inside of one $[[ … ]] block.
func (ip *interpolator) value(block string, pos Pos) *Node {
	parts := strings.Split(block, "|")
	ref := strings.TrimSpace(parts[0])
	funcs := parts[1:]
	if len(funcs) > maxFunctions {
		ip.d.errorf(pos, "%s: too many functions in interpolation block", ip.file)
		return nil
	}
	var v *Node
	switch {
	case strings.HasPrefix(ref, "inputs."):
		key := strings.TrimPrefix(ref, "inputs.")
		v = ip.inputs[key]
		if v == nil {
			ip.d.errorf(pos, "%s: unknown interpolation key: `%s`", ip.file, key)
			return nil
		}
	case strings.HasPrefix(ref, "component.") && ip.comp != nil:
		s, ok := ip.comp[strings.TrimPrefix(ref, "component.")]
		if !ok {
			ip.d.errorf(pos, "%s: unknown interpolation key: `%s`", ip.file, ref)
			return nil
		}
		v = NewStr(s, pos)
	default:
		ip.d.errorf(pos, "%s: unknown interpolation key: `%s`", ip.file, ref)
		return nil
	}
	for _, f := range funcs {
		f = strings.TrimSpace(f)
		s := v.Value
		if v.Kind != Scalar {
			s = toJSON(v)
		}
		switch {
		case f == "expand_vars":
			s = expr.Expand(s, ip.vars)
		case f == "posix_escape":
			s = posixEscape(s)
		case truncateRe.MatchString(f):
			m := truncateRe.FindStringSubmatch(f)
			off, _ := strconv.Atoi(m[1])
			n, _ := strconv.Atoi(m[2])
			r := []rune(s)
			off = min(off, len(r))
			s = string(r[off:min(off+n, len(r))])
		default:
			ip.d.errorf(pos, "%s: unknown interpolation function: `%s`", ip.file, f)
			return nil
		}
		v = NewStr(s, pos)
	}
	return v
}

// posixEscape backslash-escapes every character a POSIX shell treats specially.
func posixEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,:/@%+=", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
