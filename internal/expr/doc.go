// Package expr owns GitLab CI's variable expression language, the language
// of rules:if (and the legacy only/except:variables), and the $VAR expansion
// of variable references in strings.
//
// It knows nothing about pipelines: callers hand it source text and a
// Lookup for variable values. It parses, evaluates and lists the variables
// an expression reads; it never expands variables recursively and never
// reads the environment.
//
// # Expression language
//
// Operands:
//
//   - $NAME: a variable; NAME is one or more of [A-Za-z0-9_]. ${NAME} is a syntax
//     error, as in GitLab.
//   - "text" and 'text': a string. A backslash escapes the enclosing quote
//     character; every other backslash is literal, so "C:\dir" is C:\dir.
//     (GitLab has no escapes at all; \" is the one extension.)
//   - null: the value of an undefined variable.
//   - true and false: booleans (recent GitLab lexers accept them). They are
//     not strings: $FLAG == true is false even when FLAG is "true".
//   - /pattern/flags: an RE2 regular expression, allowed only as the right
//     operand of =~ and !~. Flags are i, m, s and U (RE2's). \/ is a slash
//     inside the pattern. As in GitLab, a single-character pattern such as
//     /a/ and an empty one are syntax errors.
//
// Operators, loosest first: ||, then &&, then ==, !=, =~ and !~ (equal
// precedence, left-associative); parentheses group. An expression holds at
// most 99 tokens, GitLab's limit.
//
// # Evaluation
//
// Evaluation follows GitLab's Ruby implementation, which computes values,
// not booleans:
//
//   - A variable is its string value, or null when undefined; values are
//     never expanded.
//   - a == b compares type and value: null equals only null, so
//     $UNDEF == null is true, $EMPTY == null false, $EMPTY == "" true.
//   - a && b and a || b return one of their operands, with Ruby truthiness
//     (only null and false are false; "" is true). So $EMPTY || "x" yields
//     "" and the whole expression is false, exactly as on GitLab.
//   - a =~ b matches a (null as "", booleans as "true"/"false") against b:
//     a regex literal is used as is; a null or false b never matches; a
//     string b in /pattern/flags form that compiles is used as a regex (this
//     is how a regex stored in a variable works, and the whole value must
//     have that form); any other string b matches when a is a substring of
//     b, GitLab's documented fallback ("23" =~ "1234" is true). A true b is
//     an evaluation error, as it is on GitLab. a !~ b is the negation.
//   - The result is true when the final value is "present" in Rails terms:
//     not null, not false, and not a string of only white space.
//
// # Expansion
//
// Expand and References handle $NAME, ${NAME} and $$ in ordinary strings;
// see Expand.
package expr
