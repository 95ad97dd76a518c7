package pipeline

import (
	"regexp"
	"strings"
	"sync"
)

var globCache sync.Map // pattern → *regexp.Regexp

// Glob reports whether a slash path matches a GitLab path pattern, as rules:changes,
// rules:exists and include:local use them (Ruby's fnmatch with PATHNAME, DOTMATCH and EXTGLOB):
// `*`, `?` and `**` stay within one path element (and match a leading dot), `**/` matches any number of directories, `[…]` is a
// class and `{a,b}` alternatives.
func Glob(pattern, name string) bool { return globRegexp(pattern, false).MatchString(name) }

// globRegexp compiles a pattern. For include:local patterns (include), `**/` stands for one
// or more directories, as GitLab documents `configs/**/*.yml` ("only in subfolders").
func globRegexp(pattern string, include bool) *regexp.Regexp {
	key := pattern
	if include {
		key = "\x00" + pattern
	}
	if re, ok := globCache.Load(key); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString("^")
	depth := 0
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
				if i+1 < len(pattern) && pattern[i+1] == '/' {
					i++
					if include {
						b.WriteString("(?:[^/]+/)+")
					} else {
						b.WriteString("(?:.*/)?")
					}
				} else if include {
					b.WriteString(".*")
				} else {
					b.WriteString("[^/]*") // Ruby's fnmatch: only `**/` recurses
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				class = "^/" + class[1:] // a negated class never matches a path separator
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		case '{':
			depth++
			b.WriteString("(?:")
		case '}':
			if depth > 0 {
				depth--
				b.WriteString(")")
			} else {
				b.WriteString(`\}`)
			}
		case ',':
			if depth > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	for ; depth > 0; depth-- {
		b.WriteString(")")
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		re = regexp.MustCompile("^" + regexp.QuoteMeta(pattern) + "$")
	}
	globCache.Store(key, re)
	return re
}
