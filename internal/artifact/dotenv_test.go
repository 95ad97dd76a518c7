package artifact

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/slipway/slipway/internal/plan"
)

func TestParseDotenv(t *testing.T) {
	t.Parallel()
	many := func(n int, dup bool) string {
		var b strings.Builder
		for i := range n {
			k := i
			if dup {
				k = i % MaxDotenvVars
			}
			fmt.Fprintf(&b, "V%d=%d\n", k, i)
		}
		return b.String()
	}
	utf16le := func(s string) string {
		b := []byte{0xff, 0xfe}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return string(b)
	}
	kv := func(pairs ...string) []plan.Var {
		var vars []plan.Var
		for i := 0; i < len(pairs); i += 2 {
			vars = append(vars, plan.Var{Key: pairs[i], Value: pairs[i+1]})
		}
		return vars
	}
	tests := []struct {
		name    string
		in      string
		want    []plan.Var
		line    int   // a *DotenvError on this line
		wantErr error // or this error
	}{
		{name: "basic", in: "A=1\nB_2=two\n", want: kv("A", "1", "B_2", "two")},
		{name: "no final newline", in: "A=1", want: kv("A", "1")},
		{name: "spaces around", in: "  A =  spaced value  \n", want: kv("A", "spaced value")},
		{name: "value with equals", in: "URL=https://x/?a=b&c=d\n", want: kv("URL", "https://x/?a=b&c=d")},
		{name: "empty value", in: "EMPTY=\n", want: kv("EMPTY", "")},
		{name: "quotes are kept", in: "D=\"x y\"\nS='z'\n", want: kv("D", `"x y"`, "S", "'z'")},
		{name: "no escapes", in: `N="a\nb"` + "\n", want: kv("N", `"a\nb"`)},
		{name: "no expansion", in: "P=$HOME/${X}\n", want: kv("P", "$HOME/${X}")},
		{name: "comments and empty lines", in: "# header\n\nA=1\n   \n  # indented\nB=2 # not a comment\n", want: kv("A", "1", "B", "2 # not a comment")},
		{name: "CRLF", in: "A=1\r\nB=2\r\n", want: kv("A", "1", "B", "2")},
		{name: "UTF-8 BOM", in: "\ufeffA=1\n", want: kv("A", "1")},
		{name: "UTF-16 with BOM", in: utf16le("A=é\r\nB=2\r\n"), want: kv("A", "é", "B", "2")},
		{name: "invalid UTF-8 replaced", in: "A=\xff\n", want: kv("A", "\ufffd")},
		{name: "later value wins, first position kept", in: "A=1\nB=2\nA=3\n", want: kv("A", "3", "B", "2")},
		{name: "leading digit, as GitLab allows", in: "1A=x\n", want: kv("1A", "x")},
		{name: "bad key", in: "A=1\n\nMY-KEY=2\n", line: 3},
		{name: "key with space", in: "MY KEY=2\n", line: 1},
		{name: "export is not a keyword", in: "export A=1\n", line: 1},
		{name: "empty key", in: "=2\n", line: 1},
		{name: "unicode key", in: "ÄB=2\n", line: 1},
		{name: "key too long", in: strings.Repeat("K", 256) + "=1\n", line: 1},
		{name: "longest key", in: strings.Repeat("K", 255) + "=1\n", want: kv(strings.Repeat("K", 255), "1")},
		{name: "no equals", in: "A=1\nB\n", line: 2},
		{name: "size limit", in: "A=" + strings.Repeat("x", MaxDotenvSize-2), want: kv("A", strings.Repeat("x", MaxDotenvSize-2))},
		{name: "over the size limit", in: "A=" + strings.Repeat("x", MaxDotenvSize-1), wantErr: ErrDotenvLimit},
		{name: "variable limit", in: many(MaxDotenvVars, false), want: nil},
		{name: "over the variable limit", in: many(MaxDotenvVars+1, false), wantErr: ErrDotenvLimit},
		{name: "duplicates do not count", in: many(MaxDotenvVars+30, true), want: nil},
		{name: "empty file", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDotenv(strings.NewReader(tt.in), DotenvLimits{}.withDefaults())
			switch {
			case tt.line > 0:
				var de *DotenvError
				if !errors.As(err, &de) || de.Line != tt.line {
					t.Fatalf("error = %v, want a DotenvError on line %d", err, tt.line)
				}
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", tt.line)) {
					t.Errorf("message %q does not start with the line", err)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if strings.HasPrefix(tt.name, "variable limit") || strings.HasPrefix(tt.name, "duplicates") {
				if len(got) != MaxDotenvVars {
					t.Fatalf("got %d variables, want %d", len(got), MaxDotenvVars)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseDotenv checks that parseDotenv never panics and that what it accepts respects
// GitLab's rules: valid, distinct keys, at most MaxDotenvVars of them, values on one line
// without surrounding white space.
//
// Runs of 1 minute (go test -run '^$' -fuzz FuzzParseDotenv -fuzztime 1m; Go 1.26, a 2-vCPU
// VM, 2026-11): six runs of 0.15 to 1.1 million executions each (1.0 million typical; the
// low ones spent their time minimizing new inputs), 144 corpus entries, no failure.
func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{
		"A=1\nB=2\n", "# c\n\nA = \"x\"\r\n", "\ufeffA=1", "\xff\xfeA\x00=\x001\x00", "\xfe\xff\x00A\x00=",
		"1A=x", "A-B=1", "=", "A", "A==", "A=\x00 \x00", strings.Repeat("A=1\n", 200),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := parseDotenv(strings.NewReader(string(data)), DotenvLimits{}.withDefaults())
		if err != nil {
			if vars != nil {
				t.Fatalf("variables %v with error %v", vars, err)
			}
			return
		}
		if len(vars) > MaxDotenvVars {
			t.Fatalf("%d variables", len(vars))
		}
		seen := map[string]bool{}
		for _, v := range vars {
			if !validDotenvKey(v.Key) || seen[v.Key] {
				t.Fatalf("bad or repeated key %q", v.Key)
			}
			seen[v.Key] = true
			if strings.ContainsRune(v.Value, '\n') || rubyStrip(v.Value) != v.Value {
				t.Fatalf("value %q of %s not on one stripped line", v.Value, v.Key)
			}
		}
	})
}
