package expr

import (
	"slices"
	"strings"
)

// Expand replaces variable references in s with values from vars, in one
// pass: inserted values are not expanded again.
//
//   - $NAME and ${NAME} are references; NAME is the longest run of
//     [A-Za-z0-9_], so $A_x names A_x and $1abc names 1abc. Undefined
//     variables expand to "".
//   - $$ is a literal $ (the runner's rule); $$NAME is therefore "$NAME".
//   - A $ followed by anything else, including a malformed ${...} and the
//     end of s, stays literal.
//   - %NAME% (Windows style) is not expanded.
//
// A nil vars defines no variables. s is returned unchanged when it holds
// no $.
func Expand(s string, vars Lookup) string {
	if strings.IndexByte(s, '$') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		name, w := refAt(s, i)
		if w == 0 {
			b.WriteByte('$')
			i++
			continue
		}
		if vars != nil {
			if v, ok := vars(name); ok {
				b.WriteString(v)
			}
		}
		i += w
	}
	return b.String()
}

// References returns the names Expand would look up in s, each once, in
// order of first appearance; nil when there are none. $$ escapes are not
// references.
func References(s string) []string {
	var names []string
	for i := strings.IndexByte(s, '$'); i >= 0 && i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				break
			}
			i += j
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			i += 2
			continue
		}
		name, w := refAt(s, i)
		if w == 0 {
			i++
			continue
		}
		if !slices.Contains(names, name) { // a value names few variables
			names = append(names, name)
		}
		i += w
	}
	return names
}

// refAt parses a reference at s[i] == '$'. It returns the name and the
// number of bytes the reference spans, or w == 0 when there is none.
func refAt(s string, i int) (name string, w int) {
	j := i + 1
	if j < len(s) && s[j] == '{' {
		end := nameEnd(s, j+1)
		if end == j+1 || end >= len(s) || s[end] != '}' {
			return "", 0
		}
		return s[j+1 : end], end + 1 - i
	}
	end := nameEnd(s, j)
	if end == j {
		return "", 0
	}
	return s[j:end], end - i
}
