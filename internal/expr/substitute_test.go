package expr

import "testing"

func TestSubstitute(t *testing.T) {
	t.Parallel()
	sub := func(name string) (string, bool) {
		if name == "X" {
			return Escape("v$1"), true
		}
		return "", false
	}
	tests := []struct {
		name, in, want string
	}{
		{name: "no dollar", in: "plain", want: "plain"},
		{name: "bare reference", in: "$X", want: "v$$1"},
		{name: "braces", in: "a${X}b", want: "av$$1b"},
		{name: "a longer name is another variable", in: "$XY $X_1", want: "$XY $X_1"},
		{name: "other references stay", in: "$X-$Y-${Z}", want: "v$$1-$Y-${Z}"},
		{name: "escapes stay", in: "$$X $X", want: "$$X v$$1"},
		{name: "literal dollars stay", in: "5$ ${ $", want: "5$ ${ $"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Substitute(tt.in, sub)
			if got != tt.want {
				t.Fatalf("Substitute(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// What Expand makes of the result is what it makes of the input with X replaced.
			vars := func(n string) (string, bool) {
				switch n {
				case "X":
					return "v$1", true
				case "Y":
					return "y", true
				}
				return "", false
			}
			if a, b := Expand(got, vars), Expand(tt.in, vars); a != b {
				t.Errorf("Expand(Substitute(%q)) = %q, Expand(%q) = %q", tt.in, a, tt.in, b)
			}
		})
	}
}
