package expr

import (
	"reflect"
	"testing"
)

var expandVars = map[string]string{
	"A":      "alpha",
	"B":      "beta",
	"A_x":    "ax",
	"EMPTY":  "",
	"1abc":   "digits",
	"1":      "one",
	"REF":    "$A",
	"UNI":    "wörld",
	"DOLLAR": "$$",
}

func TestExpand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"no dollar", "plain text", "plain text"},
		{"empty", "", ""},
		{"bare", "$A", "alpha"},
		{"braced", "${A}", "alpha"},
		{"in text", "x-$A-y", "x-alpha-y"},
		{"adjacent", "$A$B", "alphabeta"},
		{"adjacent braced", "${A}${B}", "alphabeta"},
		{"braced then suffix", "${A}_x", "alpha_x"},
		{"longest name", "$A_x", "ax"},
		{"name ends at dash", "$A-x", "alpha-x"},
		{"name ends at dot", "$A.tar.gz", "alpha.tar.gz"},
		{"undefined", "[$NOPE]", "[]"},
		{"undefined braced", "[${NOPE}]", "[]"},
		{"defined empty", "[$EMPTY]", "[]"},
		{"double dollar", "$$", "$"},
		{"double dollar name", "$$A", "$A"},
		{"triple dollar", "$$$A", "$alpha"},
		{"four dollars", "$$$$", "$$"},
		{"trailing dollar", "cost: 5$", "cost: 5$"},
		{"lone dollar", "$", "$"},
		{"dollar space", "$ A", "$ A"},
		{"dollar punctuation", "$-x $! $?", "$-x $! $?"},
		{"digit name", "$1abc", "digits"},
		{"single digit", "$1", "one"},
		{"unclosed brace", "${A", "${A"},
		{"empty braces", "${}", "${}"},
		{"bad name in braces", "${A-B}", "${A-B}"},
		{"space in braces", "${ A }", "${ A }"},
		{"percent not expanded", "%A%", "%A%"},
		{"value not re-expanded", "$REF", "$A"},
		{"value dollars kept", "$DOLLAR", "$$"},
		{"unicode around", "héllo $UNI ✓", "héllo wörld ✓"},
		{"unicode after dollar", "$é", "$é"},
		{"unicode ends name", "$Aé", "alphaé"},
		{"multi line", "a\n$A\n", "a\nalpha\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Expand(tt.in, lookup(expandVars)); got != tt.want {
				t.Fatalf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandNilLookup(t *testing.T) {
	t.Parallel()
	if got := Expand("a$A${B}$$c", nil); got != "a$c" {
		t.Fatalf("Expand with nil Lookup = %q, want %q", got, "a$c")
	}
}

func TestReferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"none", "plain", nil},
		{"empty", "", nil},
		{"one", "$A", []string{"A"}},
		{"braced", "${A}", []string{"A"}},
		{"order and dedupe", "$B ${A} $B $A_x", []string{"B", "A", "A_x"}},
		{"adjacent", "$A$B", []string{"A", "B"}},
		{"escaped", "$$A", nil},
		{"escaped then ref", "$$$A", []string{"A"}},
		{"trailing dollar", "x$", nil},
		{"malformed braces", "${A ${} ${B}", []string{"B"}},
		{"digits", "$1 $2x", []string{"1", "2x"}},
		{"percent", "%A%", nil},
		{"unicode", "é$Aé", []string{"A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := References(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("References(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
