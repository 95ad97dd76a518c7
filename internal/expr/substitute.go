package expr

import "strings"

// Substitute replaces the references in s that sub answers for (ok) by what it returns, and
// leaves everything else as written: other references, $$ escapes and literal dollars. Expand
// reads the result as it would have read s, but for the references replaced.
func Substitute(s string, sub func(name string) (string, bool)) string {
	if strings.IndexByte(s, '$') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteString("$$")
			i += 2
			continue
		}
		name, w := refAt(s, i)
		if w == 0 {
			b.WriteByte('$')
			i++
			continue
		}
		if v, ok := sub(name); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// Escape returns s written so that Expand reads it as the literal s: every $ doubled.
func Escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }
