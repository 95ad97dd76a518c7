package expr

import "regexp"

// Lookup returns a variable's value and whether it is defined. A nil Lookup
// defines no variables.
type Lookup func(name string) (string, bool)

// Expr is a parsed rules:if expression. It is immutable, so one Expr may be
// evaluated from many goroutines at once.
type Expr struct {
	src  string
	root node
	vars []string
}

// node is an expression tree node.
type node interface {
	eval(vars Lookup) (value, error)
}

// varNode reads a variable.
type varNode struct{ name string }

// litNode is a string, boolean or null literal.
type litNode struct{ v value }

// binNode is ==, !=, && or ||.
type binNode struct {
	op   kind
	l, r node
}

// matchNode is =~ (neg false) or !~ (neg true). re is the right operand
// when it is a regex literal; otherwise r is evaluated.
type matchNode struct {
	neg  bool
	l, r node
	re   *regexp.Regexp
}

// Parse parses a rules:if expression. Errors are *SyntaxError.
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if toks[0].k == tEOF {
		return nil, errAt(0, "empty expression")
	}
	p := &parser{toks: toks}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.k != tEOF {
		if t.k == tRParen {
			return nil, errAt(t.off, "unbalanced parentheses: unexpected )")
		}
		return nil, errAt(t.off, "missing operator before %s", t)
	}
	e := &Expr{src: src, root: root}
	seen := map[string]bool{}
	for _, t := range toks {
		if t.k == tVar && !seen[t.text] {
			seen[t.text] = true
			e.vars = append(e.vars, t.text)
		}
	}
	return e, nil
}

// String returns the source the expression was parsed from.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.src
}

// Vars lists the names of the variables the expression reads, each once,
// in order of first appearance. The caller may modify the slice.
func (e *Expr) Vars() []string {
	if e == nil || len(e.vars) == 0 {
		return nil
	}
	return append([]string(nil), e.vars...)
}

// parser is a recursive-descent parser over a token slice that ends with
// tEOF. Recursion depth is bounded by maxTokens.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

// prev returns the token before the current one, or the zero token.
func (p *parser) prev() token {
	if p.pos == 0 {
		return token{}
	}
	return p.toks[p.pos-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.k != tEOF {
		p.pos++
	}
	return t
}

// or parses and ('||' and)*.
func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().k == tOr {
		op := p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &binNode{op: op.k, l: l, r: r}
	}
	return l, nil
}

// and parses cmp ('&&' cmp)*.
func (p *parser) and() (node, error) {
	l, err := p.cmp(p.prev())
	if err != nil {
		return nil, err
	}
	for p.peek().k == tAnd {
		op := p.next()
		r, err := p.cmp(op)
		if err != nil {
			return nil, err
		}
		l = &binNode{op: op.k, l: l, r: r}
	}
	return l, nil
}

// cmp parses operand (cmpop operand)*, left-associative like GitLab. after
// is the token before it, for error messages.
func (p *parser) cmp(after token) (node, error) {
	l, err := p.operand(after)
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		switch op.k {
		case tEq, tNe:
			p.next()
			r, err := p.operand(op)
			if err != nil {
				return nil, err
			}
			l = &binNode{op: op.k, l: l, r: r}
		case tMatch, tNoMatch:
			p.next()
			m := &matchNode{neg: op.k == tNoMatch, l: l}
			if t := p.peek(); t.k == tRegex {
				p.next()
				m.re = t.re
			} else if m.r, err = p.operand(op); err != nil {
				return nil, err
			}
			l = m
		default:
			return l, nil
		}
	}
}

// operand parses a variable, literal or parenthesised expression. after is
// the operator before it, or the zero token at the start of the source.
func (p *parser) operand(after token) (node, error) {
	t := p.next()
	switch t.k {
	case tVar:
		return &varNode{name: t.text}, nil
	case tStr:
		return &litNode{v: str(t.text)}, nil
	case tNull:
		return &litNode{}, nil
	case tTrue, tFalse:
		return &litNode{v: boolean(t.k == tTrue)}, nil
	case tLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.k != tRParen {
			if c.k == tEOF {
				return nil, errAt(t.off, "unbalanced parentheses: ( is never closed")
			}
			return nil, errAt(c.off, "expected ) but found %s", c)
		}
		return n, nil
	case tRegex:
		return nil, errAt(t.off, "regex %s is only allowed right of =~ or !~", t.text)
	}
	if after.k >= tEq {
		return nil, errAt(t.off, "expected an operand after %s but found %s", after, t)
	}
	return nil, errAt(t.off, "expected an operand but found %s", t)
}

// Cache parses each source once: jobs that extend one template share its expressions, and
// parsing them (regexps included) is most of the work of reading them. The zero Cache is
// ready; it is not safe for concurrent use.
type Cache struct {
	m map[string]*Expr
}

// Parse is the package's Parse, remembered by source (errors are not remembered).
func (c *Cache) Parse(src string) (*Expr, error) {
	if e, ok := c.m[src]; ok {
		return e, nil
	}
	e, err := Parse(src)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*Expr{}
	}
	c.m[src] = e
	return e, nil
}
