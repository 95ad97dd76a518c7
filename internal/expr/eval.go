package expr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// vkind is a value's type.
type vkind uint8

const (
	vNull vkind = iota
	vStr
	vBool
)

// value is what an expression node yields: null, a string or a boolean,
// mirroring the Ruby values GitLab's evaluator passes around.
type value struct {
	k vkind
	s string
	b bool
}

func str(s string) value   { return value{k: vStr, s: s} }
func boolean(b bool) value { return value{k: vBool, b: b} }

// equal is Ruby ==: same type and same value; null equals only null.
func (v value) equal(w value) bool {
	return v.k == w.k && v.s == w.s && v.b == w.b
}

// truthy is Ruby truthiness, used by && and ||: only null and false are
// false; every string, even "", is true.
func (v value) truthy() bool {
	return v.k == vStr || v.k == vBool && v.b
}

// present is Rails' present?, which decides a whole expression: null,
// false and strings of only white space are not present.
func (v value) present() bool {
	switch v.k {
	case vStr:
		return strings.IndexFunc(v.s, func(r rune) bool { return !unicode.IsSpace(r) }) >= 0
	case vBool:
		return v.b
	}
	return false
}

// text is Ruby's to_s, the form =~ matches against.
func (v value) text() string {
	switch v.k {
	case vStr:
		return v.s
	case vBool:
		if v.b {
			return "true"
		}
		return "false"
	}
	return ""
}

// Eval evaluates the expression with variables from vars and reports
// whether the result is present, which is when GitLab treats a rules:if as
// matching. The only evaluation error is true as the right operand of =~
// or !~, which GitLab cannot evaluate either.
func (e *Expr) Eval(vars Lookup) (bool, error) {
	if e == nil || e.root == nil {
		return false, errors.New("eval: expression was not parsed")
	}
	if vars == nil {
		vars = func(string) (string, bool) { return "", false }
	}
	v, err := e.root.eval(vars)
	if err != nil {
		return false, fmt.Errorf("eval %q: %w", e.src, err)
	}
	return v.present(), nil
}

// Eval parses src and evaluates it with vars. Parse errors are *SyntaxError.
func Eval(src string, vars Lookup) (bool, error) {
	e, err := Parse(src)
	if err != nil {
		return false, err
	}
	return e.Eval(vars)
}

func (n *varNode) eval(vars Lookup) (value, error) {
	if s, ok := vars(n.name); ok {
		return str(s), nil
	}
	return value{}, nil
}

func (n *litNode) eval(Lookup) (value, error) { return n.v, nil }

func (n *binNode) eval(vars Lookup) (value, error) {
	l, err := n.l.eval(vars)
	if err != nil {
		return value{}, err
	}
	switch {
	case n.op == tAnd && !l.truthy(), n.op == tOr && l.truthy():
		return l, nil
	}
	r, err := n.r.eval(vars)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case tEq:
		return boolean(l.equal(r)), nil
	case tNe:
		return boolean(!l.equal(r)), nil
	}
	return r, nil
}

func (n *matchNode) eval(vars Lookup) (value, error) {
	l, err := n.l.eval(vars)
	if err != nil {
		return value{}, err
	}
	ok, err := n.match(l.text(), vars)
	if err != nil {
		return value{}, err
	}
	return boolean(ok != n.neg), nil
}

// match reports whether text matches the right operand, following GitLab:
// a regex literal matches as RE2; null and false never match; true is an
// error (GitLab fails on it too); a string
// in /pattern/flags form that compiles is a regex; any other string matches
// when text is a substring of it.
func (n *matchNode) match(text string, vars Lookup) (bool, error) {
	if n.re != nil {
		return n.re.MatchString(text), nil
	}
	r, err := n.r.eval(vars)
	if err != nil {
		return false, err
	}
	switch {
	case !r.truthy():
		return false, nil // GitLab: "return false unless regexp"
	case r.k == vBool:
		op := "=~"
		if n.neg {
			op = "!~"
		}
		return false, fmt.Errorf("right side of %s is true, not a pattern", op)
	}
	if re := valueRegex(r.s); re != nil {
		return re.MatchString(text), nil
	}
	return strings.Contains(r.s, text), nil
}

// valueRegex returns the regex a string value denotes, or nil. Like
// GitLab, it first turns every \/ into /, then needs the whole value to be
// /pattern/flags with flags from "imsU" and an RE2-valid pattern. Unlike a
// regex literal, a one-character or empty pattern is allowed.
func valueRegex(s string) *regexp.Regexp {
	s = strings.ReplaceAll(s, `\/`, "/")
	end := strings.LastIndexByte(s, '/')
	if len(s) < 2 || s[0] != '/' || end == 0 {
		return nil
	}
	flags := s[end+1:]
	for i := 0; i < len(flags); i++ {
		if !strings.ContainsRune("imsU", rune(flags[i])) {
			return nil
		}
	}
	re, err := compile(s[1:end], flags)
	if err != nil {
		return nil
	}
	return re
}
