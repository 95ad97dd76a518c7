package expr

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxTokens is the most tokens an expression may hold. GitLab's lexer
// allows 100 iterations and needs the last one to see the end of input, so
// 99 is its real limit.
const maxTokens = 99

// kind is a token's type.
type kind uint8

const (
	tEOF kind = iota
	tVar
	tStr
	tRegex
	tNull
	tTrue
	tFalse
	tLParen
	tRParen
	tEq
	tNe
	tMatch
	tNoMatch
	tAnd
	tOr
)

// token is one lexeme. text is the variable name, the decoded string, or
// the source of an operator or regex; re is set for tRegex.
type token struct {
	k    kind
	off  int
	text string
	re   *regexp.Regexp
}

// String describes t for error messages.
func (t token) String() string {
	switch t.k {
	case tEOF:
		return "end of expression"
	case tVar:
		return "variable $" + t.text
	case tStr:
		return fmt.Sprintf("string %q", t.text)
	case tRegex:
		return "regex " + t.text
	case tNull, tTrue, tFalse:
		return t.text
	}
	return fmt.Sprintf("%q", t.text)
}

// SyntaxError is a lexing or parsing error at a byte offset of the source.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error returns "offset N: msg".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
}

func errAt(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// isName reports whether c may appear in a variable name.
func isName(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isSpace reports whether c is white space as Ruby's \s defines it.
func isSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

// nameEnd returns the index just past the run of name bytes at s[i:].
func nameEnd(s string, i int) int {
	for i < len(s) && isName(s[i]) {
		i++
	}
	return i
}

// twoChar maps two-byte operators to their kinds.
var twoChar = map[string]kind{
	"==": tEq, "!=": tNe, "=~": tMatch, "!~": tNoMatch, "&&": tAnd, "||": tOr,
}

// lex splits src into tokens, ending with a tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return append(toks, token{k: tEOF, off: len(src)}), nil
		}
		if len(toks) == maxTokens {
			return nil, errAt(i, "too many tokens (at most %d)", maxTokens)
		}
		t, next, err := lexOne(src, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		i = next
	}
}

// lexOne scans the token starting at src[i], which is not white space, and
// returns it with the offset just past it.
func lexOne(src string, i int) (token, int, error) {
	c := src[i]
	switch c {
	case '(':
		return token{k: tLParen, off: i, text: "("}, i + 1, nil
	case ')':
		return token{k: tRParen, off: i, text: ")"}, i + 1, nil
	case '$':
		return lexVar(src, i)
	case '"', '\'':
		return lexString(src, i)
	case '/':
		return lexRegex(src, i)
	}
	if i+1 < len(src) {
		if k, ok := twoChar[src[i:i+2]]; ok {
			return token{k: k, off: i, text: src[i : i+2]}, i + 2, nil
		}
	}
	if isName(c) {
		end := nameEnd(src, i)
		switch w := src[i:end]; w {
		case "null":
			return token{k: tNull, off: i, text: w}, end, nil
		case "true":
			return token{k: tTrue, off: i, text: w}, end, nil
		case "false":
			return token{k: tFalse, off: i, text: w}, end, nil
		default:
			return token{}, 0, errAt(i, "unknown word %q (variables start with $, strings are quoted)", w)
		}
	}
	r, _ := utf8.DecodeRuneInString(src[i:])
	return token{}, 0, errAt(i, "unexpected character %q", r)
}

// lexVar scans $NAME or ${NAME} at src[i].
func lexVar(src string, i int) (token, int, error) {
	j := i + 1
	if j < len(src) && src[j] == '{' {
		return token{}, 0, errAt(i, "write $NAME, not ${NAME}: GitLab's expressions do not accept braces")
	}
	end := nameEnd(src, j)
	if end == j {
		return token{}, 0, errAt(i, "expected a variable name after $")
	}
	return token{k: tVar, off: i, text: src[j:end]}, end, nil
}

// lexString scans a quoted string at src[i]. A backslash escapes the
// enclosing quote; any other backslash is literal.
func lexString(src string, i int) (token, int, error) {
	q := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		c := src[j]
		if c == '\\' && j+1 < len(src) && src[j+1] == q {
			b.WriteByte(q)
			j++
			continue
		}
		if c == q {
			return token{k: tStr, off: i, text: b.String()}, j + 1, nil
		}
		b.WriteByte(c)
	}
	return token{}, 0, errAt(i, "unterminated string")
}

// lexRegex scans /pattern/flags at src[i] and compiles it. A backslash
// pairs with the next byte, so \/ does not end the pattern; \/ is passed to
// RE2 as a plain slash, as GitLab does.
func lexRegex(src string, i int) (token, int, error) {
	var body strings.Builder
	j := i + 1
	for {
		if j >= len(src) {
			return token{}, 0, errAt(i, "unterminated regex")
		}
		c := src[j]
		if c == '/' {
			break
		}
		if c == '\\' {
			if j+1 >= len(src) {
				return token{}, 0, errAt(i, "unterminated regex")
			}
			if src[j+1] == '/' {
				body.WriteByte('/')
			} else {
				body.WriteString(src[j : j+2])
			}
			j += 2
			continue
		}
		body.WriteByte(c)
		j++
	}
	raw := src[i+1 : j]
	switch utf8.RuneCountInString(raw) {
	case 0:
		return token{}, 0, errAt(i, "empty regex")
	case 1:
		return token{}, 0, errAt(i, "single-character regex /%s/ is not supported (GitLab rejects it)", raw)
	}
	j++ // closing slash
	fl := j
	for j < len(src) && isName(src[j]) {
		if !strings.ContainsRune("imsU", rune(src[j])) {
			return token{}, 0, errAt(j, "invalid regex flag %q (want i, m, s or U)", src[j])
		}
		j++
	}
	re, err := compile(body.String(), src[fl:j])
	if err != nil {
		return token{}, 0, errAt(i, "invalid regex %s: %v", src[i:j], err)
	}
	return token{k: tRegex, off: i, text: src[i:j], re: re}, j, nil
}

// compile compiles an RE2 pattern with Ruby-style flags from "imsU".
func compile(pattern, flags string) (*regexp.Regexp, error) {
	if flags != "" {
		pattern = "(?" + flags + ")" + pattern
	}
	return regexp.Compile(pattern)
}
