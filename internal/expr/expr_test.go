package expr

import (
	"errors"
	"strings"
	"testing"
)

// baseVars is the variable set a case uses when it sets none.
var baseVars = map[string]string{
	"PRESENT":            "my variable",
	"EMPTY":              "",
	"SPACES":             " \t ",
	"PATH":               "a/path/variable/value",
	"FULL":               "/a/full/path/variable/value",
	"PLAIN":              "my variable and more",
	"MULTI":              "first line\nsecond line",
	"QUOTE":              `say "hi"`,
	"APOS":               "it's",
	"UNI":                "héllo wörld",
	"TRUE_STR":           "true",
	"DOLLAR":             "$PRESENT",
	"WIN":                `C:\dir`,
	"OPS":                "a && b || (c)",
	"PAT":                "/^my.*/",
	"PAT_I":              "/^MY VAR/i",
	"PAT_SLASH":          `/^a\/path/`,
	"PAT_ONE":            "/y/",
	"PAT_DOLLAR":         "/$PRESENT/",
	"CI_PIPELINE_SOURCE": "merge_request_event",
	"CI_COMMIT_BRANCH":   "main",
	"CI_DEFAULT_BRANCH":  "main",
	"CI_COMMIT_REF_NAME": "feature/login",
	"CI_COMMIT_TAG":      "v1.2.3",
	"CI_COMMIT_MESSAGE":  "Fix login\n\nSee [Skip Tests] please",
}

// lookup returns a Lookup over m.
func lookup(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// exprCase is one table case. vars nil means baseVars. wantErr, when set,
// is a substring of the expected error; syntax errors start "offset N:".
type exprCase struct {
	name    string
	expr    string
	vars    map[string]string
	want    bool
	wantErr string
}

var cases = []exprCase{
	// Equality.
	{name: "eq double quoted", expr: `$PRESENT == "my variable"`, want: true},
	{name: "eq single quoted", expr: `$PRESENT == 'my variable'`, want: true},
	{name: "eq mismatch", expr: `$PRESENT == "other"`},
	{name: "eq literal on left", expr: `"my variable" == $PRESENT`, want: true},
	{name: "eq is case sensitive", expr: `$PRESENT == "My Variable"`},
	{name: "eq empty with empty string", expr: `$EMPTY == ""`, want: true},
	{name: "eq undefined with empty string", expr: `$UNDEF == ""`},
	{name: "eq undefined with null", expr: `$UNDEF == null`, want: true},
	{name: "eq null with undefined", expr: `null == $UNDEF`, want: true},
	{name: "eq empty with null", expr: `$EMPTY == null`},
	{name: "eq present with null", expr: `$PRESENT == null`},
	{name: "eq null with null", expr: `null == null`, want: true},
	{name: "eq two empty strings", expr: `"" == ""`, want: true},
	{name: "eq two different strings", expr: `"a" == "b"`},

	// Inequality.
	{name: "ne same", expr: `$PRESENT != "my variable"`},
	{name: "ne different", expr: `$PRESENT != "other"`, want: true},
	{name: "ne undefined with null", expr: `$UNDEF != null`},
	{name: "ne empty with null", expr: `$EMPTY != null`, want: true},
	{name: "ne present with null", expr: `$PRESENT != null`, want: true},
	{name: "ne empty string with empty", expr: `"" != $EMPTY`},
	{name: "ne undefined with empty string", expr: `$UNDEF != ""`, want: true},
	{name: "ne null with undefined", expr: `null != $UNDEF`},

	// Variables on both sides; no recursive expansion.
	{name: "both sides equal", expr: `$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH`, want: true},
	{name: "both sides differ", expr: `$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH`,
		vars: map[string]string{"CI_COMMIT_BRANCH": "dev", "CI_DEFAULT_BRANCH": "main"}},
	{name: "both undefined are equal", expr: `$UNDEF == $UNDEF2`, want: true},
	{name: "undefined is not empty", expr: `$UNDEF == $EMPTY`},
	{name: "empty equals itself", expr: `$EMPTY == $EMPTY`, want: true},
	{name: "both sides ne", expr: `$PRESENT != $PLAIN`, want: true},
	{name: "value not expanded vs literal", expr: `$DOLLAR == "$PRESENT"`, want: true},
	{name: "value not expanded vs variable", expr: `$DOLLAR == $PRESENT`},

	// ${VAR} is rejected, as GitLab's lexer rejects it.
	{name: "braced eq", expr: `${PRESENT} == "my variable"`, wantErr: "offset 0: write $NAME, not ${NAME}"},
	{name: "braced right side", expr: `$CI_COMMIT_BRANCH == ${CI_DEFAULT_BRANCH}`, wantErr: "offset 21: write $NAME"},
	{name: "braced bare", expr: `${PRESENT}`, wantErr: "offset 0: write $NAME"},

	// Bare presence and literals.
	{name: "bare present", expr: `$PRESENT`, want: true},
	{name: "bare empty", expr: `$EMPTY`},
	{name: "bare undefined", expr: `$UNDEF`},
	{name: "bare white space is blank", expr: `$SPACES`},
	{name: "bare string", expr: `"string"`, want: true},
	{name: "bare empty string", expr: `""`},
	{name: "bare blank string", expr: `" "`},
	{name: "bare null", expr: `null`},
	{name: "bare true", expr: `true`, want: true},
	{name: "bare false", expr: `false`},
	{name: "string true is not boolean", expr: `$TRUE_STR == true`},
	{name: "true equals true", expr: `true == true`, want: true},
	{name: "digits variable name", expr: `$1abc == null`, want: true},

	// Regex literals.
	{name: "match suffix", expr: `$PRESENT =~ /var.*e$/`, want: true},
	{name: "match anchored miss", expr: `$PRESENT =~ /^var.*/`},
	{name: "match empty", expr: `$EMPTY =~ /var.*/`},
	{name: "match undefined", expr: `$UNDEF =~ /var.*/`},
	{name: "match flag i", expr: `$PRESENT =~ /VAR.*/i`, want: true},
	{name: "match no flag i", expr: `$PRESENT =~ /VAR.*/`},
	{name: "not match hit", expr: `$PRESENT !~ /var.*e$/`},
	{name: "not match miss", expr: `$PRESENT !~ /^var.*/`, want: true},
	{name: "not match empty", expr: `$EMPTY !~ /var.*/`, want: true},
	{name: "not match undefined", expr: `$UNDEF !~ /var.*/`, want: true},
	{name: "not match flag i", expr: `$PRESENT !~ /VAR.*/i`},
	{name: "escaped slash", expr: `$PATH =~ /path\/variable/`, want: true},
	{name: "escaped slashes anchored", expr: `$FULL =~ /^\/a\/full\/path\/variable\/value$/`, want: true},
	{name: "escaped slash miss", expr: `$PRESENT =~ /va\/r.*e$/`},
	{name: "escaped slash only", expr: `$PATH =~ /\//`, want: true},
	{name: "anchors exact", expr: `$CI_COMMIT_BRANCH =~ /^main$/`, want: true},
	{name: "anchors exact miss", expr: `$CI_COMMIT_REF_NAME =~ /^main$/`},
	{name: "unanchored substring", expr: `$CI_COMMIT_REF_NAME =~ /login/`, want: true},
	{name: "flag m", expr: `$MULTI =~ /^second/m`, want: true},
	{name: "no flag m", expr: `$MULTI =~ /^second/`},
	{name: "flag s", expr: `$MULTI =~ /line.second/s`, want: true},
	{name: "no flag s", expr: `$MULTI =~ /line.second/`},
	{name: "flags im", expr: `$MULTI =~ /^SECOND LINE$/im`, want: true},
	{name: "flag U accepted", expr: `$PRESENT =~ /MY.*/iU`, want: true},
	{name: "undefined matches empty pattern", expr: `$UNDEF =~ /^$/`, want: true},
	{name: "empty matches empty pattern", expr: `$EMPTY =~ /^$/`, want: true},
	{name: "quote inside regex", expr: `$QUOTE =~ /"hi"/`, want: true},
	{name: "unicode regex", expr: `$UNI =~ /wörld$/`, want: true},
	{name: "unicode equality", expr: `$UNI == "héllo wörld"`, want: true},
	{name: "boolean left of match", expr: `($PRESENT == "my variable") =~ /^true$/`, want: true},

	// Regex from a variable or string; GitLab's substring fallback.
	{name: "pattern variable", expr: `$PRESENT =~ $PAT`, want: true},
	{name: "pattern variable longer text", expr: `$PLAIN =~ $PAT`, want: true},
	{name: "pattern variable miss", expr: `$CI_COMMIT_BRANCH =~ $PAT`},
	{name: "pattern variable flag i", expr: `$PRESENT =~ $PAT_I`, want: true},
	{name: "pattern variable not match", expr: `$PRESENT !~ $PAT`},
	{name: "pattern variable escaped slash", expr: `$PATH =~ $PAT_SLASH`, want: true},
	{name: "pattern variable single char", expr: `$PRESENT =~ $PAT_ONE`, want: true},
	{name: "pattern variable not resolved inside", expr: `$PRESENT =~ $PAT_DOLLAR`},
	{name: "pattern undefined", expr: `$PRESENT =~ $UNDEF`},
	{name: "pattern undefined negated", expr: `$PRESENT !~ $UNDEF`, want: true},
	{name: "non pattern value is substring test", expr: `$PRESENT =~ $PLAIN`, want: true},
	{name: "non pattern value substring miss", expr: `$PLAIN =~ $PRESENT`},
	{name: "invalid pattern value is substring test", expr: `$X =~ $P`,
		vars: map[string]string{"X": "(", "P": "/(/"}, want: true},
	{name: "bad flag value is substring test", expr: `$X =~ $P`,
		vars: map[string]string{"X": "ab", "P": "/ab/x"}, want: true},
	{name: "string literal pattern", expr: `$PRESENT =~ "/^my/"`, want: true},
	{name: "string literal substring", expr: `"23" =~ "1234"`, want: true},
	{name: "regex literal is not substring", expr: `"23" =~ /1234/`},
	{name: "null pattern", expr: `$PRESENT =~ null`},
	{name: "null pattern negated", expr: `$PRESENT !~ null`, want: true},
	{name: "false pattern", expr: `$PRESENT =~ false`},
	{name: "true pattern is an error", expr: `$PRESENT =~ true`, wantErr: "right side of =~ is true"},
	{name: "computed true pattern is an error", expr: `$A !~ ($B == $B)`, wantErr: "right side of !~ is true"},

	// Precedence and parentheses.
	{name: "or binds looser than and", expr: `$T || $U && $U2`, vars: map[string]string{"T": "1"}, want: true},
	{name: "and then or", expr: `$U && $U2 || $T`, vars: map[string]string{"T": "1"}, want: true},
	{name: "comparisons under or and and", expr: `$X == "a" || $X == "b" && $Y == "c"`,
		vars: map[string]string{"X": "a", "Y": "z"}, want: true},
	{name: "parens override precedence", expr: `($X == "a" || $X == "b") && $Y == "c"`,
		vars: map[string]string{"X": "a", "Y": "z"}},
	{name: "or of comparisons", expr: `$UNDEF == null || $PRESENT == "x" && $EMPTY`, want: true},
	{name: "parenthesised or then and", expr: `($UNDEF == null || $PRESENT == "x") && $UNDEF`},
	{name: "nested parens", expr: `((($PRESENT)))`, want: true},
	{name: "nested parens mixed", expr: `(($PRESENT && null) || $EMPTY == "")`, want: true},
	{name: "two groups", expr: `($PRESENT) && (null || $EMPTY == "")`, want: true},
	{name: "or value compared", expr: `("string" || "test") == "string"`, want: true},
	{name: "and value compared", expr: `("string" == ("test" && "string"))`, want: true},
	{name: "or value compared miss", expr: `("string" == ("test" || "string"))`},
	{name: "null or comparison", expr: `(null || ("test" == "string"))`},
	{name: "comparison or string", expr: `("string" == "test" || "string")`, want: true},
	{name: "deep nesting", expr: `("string" == ("string" || (("1" == "1") && ("2" == "3"))))`, want: true},
	{name: "chained comparison", expr: `$PRESENT == "my variable" == true`, want: true},

	// GitLab's Ruby truthiness inside && and ||.
	{name: "empty or present is empty", expr: `$EMPTY || $PRESENT`},
	{name: "undefined or present", expr: `$UNDEF || $PRESENT`, want: true},
	{name: "empty and present", expr: `$EMPTY && $PRESENT`, want: true},
	{name: "present and empty", expr: `$PRESENT && $EMPTY`},
	{name: "present and null", expr: `$PRESENT && null`},
	{name: "present and undefined", expr: `$PRESENT && $UNDEF`},
	{name: "false or string", expr: `false || "x"`, want: true},

	// Quoting.
	{name: "escaped double quote", expr: `$QUOTE == "say \"hi\""`, want: true},
	{name: "double quote in single", expr: `$QUOTE == 'say "hi"'`, want: true},
	{name: "escaped single quote", expr: `$APOS == 'it\'s'`, want: true},
	{name: "single quote in double", expr: `$APOS == "it's"`, want: true},
	{name: "other backslash is literal", expr: `$WIN == "C:\dir"`, want: true},
	{name: "operators inside string", expr: `$OPS == "a && b || (c)"`, want: true},
	{name: "dollar inside single quotes", expr: `$DOLLAR == '$PRESENT'`, want: true},

	// White space.
	{name: "extra spaces", expr: `  $PRESENT   ==   "my variable"  `, want: true},
	{name: "no spaces", expr: `$PRESENT=="my variable"`, want: true},
	{name: "tabs and newlines", expr: "$PRESENT\t==\n\"my variable\"\r\n", want: true},
	{name: "no spaces with parens", expr: `($PRESENT)&&($EMPTY=="")`, want: true},

	// Realistic GitLab rules.
	{name: "mr pipeline", expr: `$CI_PIPELINE_SOURCE == "merge_request_event"`, want: true},
	{name: "push pipeline", expr: `$CI_PIPELINE_SOURCE == "push"`},
	{name: "default branch", expr: `$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH`, want: true},
	{name: "version tag", expr: `$CI_COMMIT_TAG =~ /^v\d+\.\d+/`, want: true},
	{name: "version tag on branch", expr: `$CI_COMMIT_BRANCH =~ /^v\d+\.\d+/`},
	{name: "skip tests case insensitive", expr: `$CI_COMMIT_MESSAGE =~ /\[skip tests\]/i`, want: true},
	{name: "skip tests case sensitive", expr: `$CI_COMMIT_MESSAGE =~ /\[skip tests\]/`},
	{name: "branch with open mr", expr: `$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS`},
	{name: "schedule or web", expr: `$CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web"`},
	{name: "target and tag", expr: `$CI_MERGE_REQUEST_TARGET_BRANCH_NAME == "main" && $CI_COMMIT_TAG =~ /^v[0-9](?:\.[0-9]){2,3}/`,
		vars: map[string]string{"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_COMMIT_TAG": "v1.2.3"}, want: true},
	{name: "default branch not mr", expr: `$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE != "merge_request_event"`},
	{name: "feature branch not to default", expr: `$CI_COMMIT_REF_NAME =~ /^feature/ && $CI_DEFAULT_BRANCH != "develop"`, want: true},
	{name: "99 tokens allowed", expr: strings.Repeat("$PRESENT && ", 49) + "$PRESENT", want: true},

	// Syntax errors.
	{name: "empty expression", expr: ``, wantErr: "offset 0: empty expression"},
	{name: "blank expression", expr: "  \t", wantErr: "offset 0: empty expression"},
	{name: "unterminated double", expr: `$A == "abc`, wantErr: "offset 6: unterminated string"},
	{name: "unterminated single", expr: `$A == 'abc`, wantErr: "offset 6: unterminated string"},
	{name: "unterminated after escape", expr: `$A == "abc\"`, wantErr: "offset 6: unterminated string"},
	{name: "unterminated regex", expr: `$A =~ /abc`, wantErr: "offset 6: unterminated regex"},
	{name: "unterminated regex escaped slash", expr: `$A =~ /abc\/`, wantErr: "offset 6: unterminated regex"},
	{name: "dangling eq", expr: `$A ==`, wantErr: `offset 5: expected an operand after "==" but found end of expression`},
	{name: "dangling and", expr: `$A &&`, wantErr: `offset 5: expected an operand after "&&"`},
	{name: "dangling match", expr: `$A =~ `, wantErr: `offset 6: expected an operand after "=~"`},
	{name: "leading eq", expr: `== "123"`, wantErr: `offset 0: expected an operand but found "=="`},
	{name: "leading or", expr: `|| $A`, wantErr: `offset 0: expected an operand but found "||"`},
	{name: "double operator", expr: `$A == == "x"`, wantErr: `offset 6: expected an operand after "=="`},
	{name: "unclosed paren", expr: `($A == "x"`, wantErr: "offset 0: unbalanced parentheses: ( is never closed"},
	{name: "unclosed nested paren", expr: `(($A) || $B`, wantErr: "offset 0: unbalanced parentheses"},
	{name: "extra close paren", expr: `$A == "x")`, wantErr: "offset 9: unbalanced parentheses: unexpected )"},
	{name: "empty parens", expr: `()`, wantErr: `offset 1: expected an operand but found ")"`},
	{name: "missing operator", expr: `$VAR "text"`, wantErr: `offset 5: missing operator before string "text"`},
	{name: "missing operator in parens", expr: `($A $B)`, wantErr: `offset 4: expected ) but found variable $B`},
	{name: "number", expr: `12345`, wantErr: `offset 0: unknown word "12345"`},
	{name: "bare word", expr: `$CI_COMMIT_BRANCH == main`, wantErr: `offset 21: unknown word "main"`},
	{name: "bad flag", expr: `$A =~ /abc/x`, wantErr: `offset 11: invalid regex flag 'x'`},
	{name: "bad flag g", expr: `$A =~ /abc/ig`, wantErr: `offset 12: invalid regex flag 'g'`},
	{name: "invalid regex", expr: `$A =~ /ab(/`, wantErr: "offset 6: invalid regex /ab(/"},
	{name: "lookahead unsupported", expr: `$A =~ /^(?!main)/`, wantErr: "offset 6: invalid regex"},
	{name: "single char regex", expr: `$A =~ /a/`, wantErr: "offset 6: single-character regex /a/"},
	{name: "empty regex", expr: `$A =~ //`, wantErr: "offset 6: empty regex"},
	{name: "regex on left", expr: `/ab/ =~ $A`, wantErr: "offset 0: regex /ab/ is only allowed right of =~ or !~"},
	{name: "regex with eq", expr: `$A == /ab/`, wantErr: "offset 6: regex /ab/ is only allowed"},
	{name: "bare regex", expr: `/ab/`, wantErr: "offset 0: regex /ab/ is only allowed"},
	{name: "parenthesised regex", expr: `$A =~ (/ab/)`, wantErr: "offset 7: regex /ab/ is only allowed"},
	{name: "single equals", expr: `$A = "x"`, wantErr: `offset 3: unexpected character '='`},
	{name: "single ampersand", expr: `$A & $B`, wantErr: `offset 3: unexpected character '&'`},
	{name: "negation unsupported", expr: `!$A`, wantErr: `offset 0: unexpected character '!'`},
	{name: "dollar without name", expr: `$ == "x"`, wantErr: "offset 0: expected a variable name after $"},
	{name: "unclosed brace", expr: `${A == "x"`, wantErr: "offset 0: write $NAME, not ${NAME}"},
	{name: "empty brace", expr: `${} == "x"`, wantErr: "offset 0: write $NAME, not ${NAME}"},
	{name: "smart quotes", expr: `$A == “x”`, wantErr: `offset 6: unexpected character '“'`},
	{name: "too many tokens", expr: strings.Repeat("$A && ", 50) + "$A", wantErr: "offset 297: too many tokens"},
}

func TestEval(t *testing.T) {
	t.Parallel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vars := tc.vars
			if vars == nil {
				vars = baseVars
			}
			got, err := Eval(tc.expr, lookup(vars))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Eval(%q) error = %v, want containing %q", tc.expr, err, tc.wantErr)
				}
				var se *SyntaxError
				if strings.HasPrefix(tc.wantErr, "offset ") != errors.As(err, &se) {
					t.Fatalf("Eval(%q) error %v: *SyntaxError mismatch", tc.expr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(%q) error: %v", tc.expr, err)
			}
			if got != tc.want {
				t.Fatalf("Eval(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
}

func TestCaseCount(t *testing.T) {
	t.Parallel()
	if len(cases) < 110 {
		t.Fatalf("only %d table cases, want at least 110", len(cases))
	}
}
