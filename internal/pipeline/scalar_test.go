package pipeline

import (
	"math"
	"strings"
	"testing"
)

// TestPsychScalars checks that scalars are typed as GitLab's YAML reader types them: Ruby's Psych
// (YAML 1.1), ScalarScanner#tokenize in lib/psych/scalar_scanner.rb of psych v5.2.6 and
// Psych::Visitors::ToRuby#deserialize for tags and quoting, under the YAML.safe_load GitLab calls
// in lib/gitlab/config/loader/yaml.rb (permitted_classes: [Symbol]). The value is Ruby's to_s of
// what Psych makes, which is what GitLab uses wherever a value becomes a string. Every expected
// value below was checked against Ruby's own Psych.
func TestPsychScalars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string // the value, as written after "v: "
		kind Kind
		tag  string
		want string
		err  string // part of the error, when the document is refused
	}{
		// Booleans: yes/no/on/off besides true/false, in any case (BOOLEAN_TRUE = /^(yes|true|on)$/i);
		// y and n stay strings (scalars of one letter are checked only against ~, null and the booleans).
		{name: "yes", src: "yes", tag: TagBool, want: "true"},
		{name: "Yes", src: "Yes", tag: TagBool, want: "true"},
		{name: "YES", src: "YES", tag: TagBool, want: "true"},
		{name: "yEs", src: "yEs", tag: TagBool, want: "true"},
		{name: "no", src: "no", tag: TagBool, want: "false"},
		{name: "nO", src: "nO", tag: TagBool, want: "false"},
		{name: "on", src: "on", tag: TagBool, want: "true"},
		{name: "ON", src: "ON", tag: TagBool, want: "true"},
		{name: "off", src: "off", tag: TagBool, want: "false"},
		{name: "Off", src: "Off", tag: TagBool, want: "false"},
		{name: "true", src: "true", tag: TagBool, want: "true"},
		{name: "TRUE", src: "TRUE", tag: TagBool, want: "true"},
		{name: "truE", src: "truE", tag: TagBool, want: "true"},
		{name: "False", src: "False", tag: TagBool, want: "false"},
		{name: "y is a string", src: "y", tag: TagStr, want: "y"},
		{name: "N is a string", src: "N", tag: TagStr, want: "N"},
		{name: "False1 is a string", src: "False1", tag: TagStr, want: "False1"},
		{name: "Yes! is a string", src: "Yes!", tag: TagStr, want: "Yes!"},
		// Null: empty, ~ and null in any case.
		{name: "empty", src: "", kind: Null, tag: TagNull},
		{name: "tilde", src: "~", kind: Null, tag: TagNull},
		{name: "null", src: "null", kind: Null, tag: TagNull},
		{name: "NULL", src: "NULL", kind: Null, tag: TagNull},
		{name: "nUll", src: "nUll", kind: Null, tag: TagNull},
		// Integers (INTEGER_LEGACY): a leading 0 is octal, 0x hexadecimal, 0b binary; _ and , are
		// dropped; 08 is no octal number, so a string; 0X (capital) is not hexadecimal.
		{name: "decimal", src: "42", tag: TagInt, want: "42"},
		{name: "plus", src: "+1", tag: TagInt, want: "1"},
		{name: "minus zero", src: "-0", tag: TagInt, want: "0"},
		{name: "octal", src: "010", tag: TagInt, want: "8"},
		{name: "octal mode", src: "0755", tag: TagInt, want: "493"},
		{name: "08 is a string", src: "08", tag: TagStr, want: "08"},
		{name: "hex", src: "0x1F", tag: TagInt, want: "31"},
		{name: "negative hex", src: "-0x1f", tag: TagInt, want: "-31"},
		{name: "capital X is a string", src: "0X1F", tag: TagStr, want: "0X1F"},
		{name: "binary", src: "0b101", tag: TagInt, want: "5"},
		{name: "underscores", src: "1_000", tag: TagInt, want: "1000"},
		{name: "commas", src: "1,000", tag: TagInt, want: "1000"},
		{name: "double underscore is a string", src: "1__0", tag: TagStr, want: "1__0"},
		{name: "leading underscore is a string", src: "_1", tag: TagStr, want: "_1"},
		{name: "big", src: "12345678901234567890", tag: TagInt, want: "12345678901234567890"},
		// Base 60, weighed as hours, minutes, seconds even with two parts: 1:30 is 5400.
		{name: "base 60", src: "1:30", tag: TagInt, want: "5400"},
		{name: "base 60 three parts", src: "1:30:00", tag: TagInt, want: "5400"},
		{name: "base 60 negative", src: "-1:30", tag: TagInt, want: "-1800"},
		{name: "base 60 clock", src: "12:30", tag: TagInt, want: "45000"},
		{name: "base 60 float", src: "1:30.5", tag: TagFloat, want: "5430.0"},
		// Floats (FLOAT) need a dot, and an exponent needs a sign: 1e3 and 1.0e3 are strings.
		{name: "float", src: "0.4", tag: TagFloat, want: "0.4"},
		{name: "one point zero", src: "1.0", tag: TagFloat, want: "1.0"},
		{name: "1.10 is 1.1", src: "1.10", tag: TagFloat, want: "1.1"},
		{name: "1e3 is a string", src: "1e3", tag: TagStr, want: "1e3"},
		{name: "1.0e3 is a string", src: "1.0e3", tag: TagStr, want: "1.0e3"},
		{name: "signed exponent", src: "1.0e+3", tag: TagFloat, want: "1000.0"},
		{name: "small exponent", src: "1.5e-3", tag: TagFloat, want: "0.0015"},
		{name: "dot before exponent", src: "1.e+3", tag: TagFloat, want: "1000.0"},
		{name: "leading dot", src: ".5", tag: TagFloat, want: "0.5"},
		{name: "trailing dot", src: "1.", tag: TagFloat, want: "1.0"},
		{name: "negative trailing dot", src: "-1.", tag: TagFloat, want: "-1.0"},
		{name: "plus leading dot", src: "+.5", tag: TagFloat, want: "0.5"},
		{name: "underscore in float", src: "1_0.5", tag: TagFloat, want: "10.5"},
		{name: "dot alone is a string", src: ".", tag: TagStr, want: "."},
		{name: "minus dot is a string", src: "-.", tag: TagStr, want: "-."},
		{name: "1e16 written by Ruby", src: "1.0e+16", tag: TagFloat, want: "1.0e+16"},
		{name: "1e15 written by Ruby", src: "1.0e+15", tag: TagFloat, want: "1.0e+15"},
		{name: "1e14 written by Ruby", src: "100000000000000.0", tag: TagFloat, want: "100000000000000.0"},
		{name: "tiny written by Ruby", src: "0.00001", tag: TagFloat, want: "1.0e-05"},
		{name: "minus zero float", src: "-0.0", tag: TagFloat, want: "-0.0"},
		{name: ".inf", src: ".inf", tag: TagFloat, want: "Infinity"},
		{name: ".Inf", src: ".Inf", tag: TagFloat, want: "Infinity"},
		{name: "+.INF", src: "+.INF", tag: TagFloat, want: "Infinity"},
		{name: "-.inf", src: "-.inf", tag: TagFloat, want: "-Infinity"},
		{name: ".nan", src: ".nan", tag: TagFloat, want: "NaN"},
		{name: ".NaN", src: ".NaN", tag: TagFloat, want: "NaN"},
		{name: "a float Ruby cannot read", src: "-.e+3", err: "invalid value for Float()"},
		// Symbols are permitted; GitLab uses their name.
		{name: "symbol", src: ":foo", tag: TagStr, want: "foo"},
		{name: "symbol with colons", src: ":a:b", tag: TagStr, want: "a:b"},
		{name: "quoted symbol", src: ":'a'", tag: TagStr, want: "a"},
		// Dates and times are classes safe_load does not permit: the file is refused.
		{name: "date", src: "2024-01-01", err: "Tried to load unspecified class: Date"},
		{name: "short date", src: "2024-1-1", err: "Tried to load unspecified class: Date"},
		{name: "impossible date", src: "2024-02-30", err: "Tried to load unspecified class: Date"},
		{name: "not a date", src: "2024-13-01", tag: TagStr, want: "2024-13-01"},
		{name: "time", src: "2001-12-14t21:59:43.10-05:00", err: "Tried to load unspecified class: Time"},
		{name: "spaced time", src: "2001-12-14 21:59:43", err: "Tried to load unspecified class: Time"},
		// Words, versions and images stay strings.
		{name: "word", src: "build", tag: TagStr, want: "build"},
		{name: "version", src: "1.2.3", tag: TagStr, want: "1.2.3"},
		{name: "image", src: "python:3.10", tag: TagStr, want: "python:3.10"},
		{name: "0o is not octal", src: "0o17", tag: TagStr, want: "0o17"},
		// Quoted and block scalars are strings; a tag decides before quoting does.
		{name: "double quoted", src: `"yes"`, tag: TagStr, want: "yes"},
		{name: "single quoted", src: `'010'`, tag: TagStr, want: "010"},
		{name: "literal block", src: "|\n  on\n", tag: TagStr, want: "on\n"},
		{name: "folded block", src: ">-\n  1.0\n", tag: TagStr, want: "1.0"},
		{name: "!!str", src: "!!str 12", tag: TagStr, want: "12"},
		{name: "!!int quoted", src: `!!int "12"`, tag: TagInt, want: "12"},
		{name: "!!float of 1e3", src: "!!float 1e3", tag: TagFloat, want: "1000.0"},
		{name: "!!float of an integer", src: "!!float 3", tag: TagFloat, want: "3.0"},
		{name: "!!float of a word", src: "!!float abc", err: "invalid value for Float()"},
		{name: "!!bool yes", src: "!!bool yes", tag: TagBool, want: "true"},
		{name: "!!int of a word", src: "!!int abc", tag: TagStr, want: "abc"},
		{name: "!!null of a word", src: "!!null x", tag: TagStr, want: "x"},
		{name: "custom tag", src: "!foo 12", tag: TagInt, want: "12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			docs, _, err := Parse("f.yml", []byte("v: "+tt.src+"\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "f.yml:1:4: invalid YAML: ") {
					t.Fatalf("error %v, want f.yml:1:4: invalid YAML: …%s…", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := docs[0].Get("v")
			kind := tt.kind
			if kind == Null && tt.tag != TagNull {
				kind = Scalar
			}
			if n.Kind != kind || n.Tag != tt.tag || n.Value != tt.want {
				t.Errorf("kind %v tag %s value %q, want %v %s %q", n.Kind, n.Tag, n.Value, kind, tt.tag, tt.want)
			}
		})
	}
}

// TestRubyFloat checks rubyFloat against Ruby's Float#to_s (flo_to_s in numeric.c): the shortest
// round-trip digits, fixed notation with ".0" while the decimal exponent is in -4 < e <= 15,
// else d.ddde±XX with at least two exponent digits. The expected strings are Ruby's.
func TestRubyFloat(t *testing.T) {
	t.Parallel()
	tenth := 0.1 // a variable: constants would add exactly
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{name: "integral", in: 12, want: "12.0"},
		{name: "hundred", in: 100, want: "100.0"},
		{name: "fraction", in: 0.4, want: "0.4"},
		{name: "shortest digits", in: tenth + 2*tenth, want: "0.30000000000000004"},
		{name: "many digits", in: 123456789.123456789, want: "123456789.12345679"},
		{name: "15 integral digits", in: 123456789012345.6, want: "123456789012345.6"},
		{name: "16 integral digits", in: 1234567890123456, want: "1.234567890123456e+15"},
		{name: "1e15", in: 1e15, want: "1.0e+15"},
		{name: "1e22", in: 1e22, want: "1.0e+22"},
		{name: "1e100", in: 1e100, want: "1.0e+100"},
		{name: "0.001", in: 0.001, want: "0.001"},
		{name: "0.0001", in: 0.0001, want: "0.0001"},
		{name: "negative tiny", in: -2.5e-7, want: "-2.5e-07"},
		{name: "smallest", in: 5e-324, want: "5.0e-324"},
		{name: "largest", in: math.MaxFloat64, want: "1.7976931348623157e+308"},
		{name: "zero", in: 0, want: "0.0"},
		{name: "negative zero", in: math.Copysign(0, -1), want: "-0.0"},
		{name: "infinity", in: math.Inf(1), want: "Infinity"},
		{name: "minus infinity", in: math.Inf(-1), want: "-Infinity"},
		{name: "nan", in: math.NaN(), want: "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rubyFloat(tt.in); got != tt.want {
				t.Errorf("rubyFloat(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPsychBooleansInKeywords checks GitLab's reading of a YAML 1.1 boolean where a keyword takes
// a boolean: `allow_failure: yes` is allowed to fail (ginkgo-project/ginkgo's .gitlab-ci.yml),
// and `interruptible: off` is false (Entry::Boolean validates `value.in?([true, false])` on what
// Psych made).
func TestPsychBooleansInKeywords(t *testing.T) {
	t.Parallel()
	cfg, err := loadFS(map[string]string{DefaultFile: "a:\n  script: x\n  allow_failure: yes\n  interruptible: off\n" +
		"b:\n  script: x\n  allow_failure: \"yes\"\n"}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:7:18", "allow_failure should be a boolean value")
	if cfg != nil {
		t.Fatal("a config with errors")
	}
	cfg, err = loadFS(map[string]string{DefaultFile: "a:\n  script: x\n  allow_failure: Yes\n  interruptible: off\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Job("a")
	if !j.AllowFailure.Allowed || j.Interruptible == nil || *j.Interruptible {
		t.Errorf("allow_failure %+v interruptible %v, want allowed and not interruptible", j.AllowFailure, *j.Interruptible)
	}
}

// TestAttackHugeNumbers: a number of a million digits must not take the loader minutes (Go's
// conversion of a big number to decimal grows with the square of its length). A decimal one
// needs no conversion and is kept; a hexadecimal, octal, binary or base-60 one longer than
// maxIntegerDigits is refused, and so is a duration longer than maxDurationLength (numerizer's
// steps are quadratic too).
func TestAttackHugeNumbers(t *testing.T) {
	t.Parallel()
	digits := strings.Repeat("7", 1<<20)
	docs, _, err := Parse("f.yml", []byte("a: 1"+digits+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := docs[0].Get("a"); v.Tag != TagInt || v.Value != "1"+digits {
		t.Errorf("decimal: tag %s, %d characters", v.Tag, len(v.Value))
	}
	for _, src := range []string{"0x" + digits, "0" + digits, "1" + digits + ":30"} {
		_, _, err := Parse("f.yml", []byte("a: "+src+"\n"))
		if err == nil || !strings.Contains(err.Error(), "longer than the 1000 read here") {
			t.Errorf("%.10s…: error %.200v", src, err)
		}
	}
	if _, err := ParseDuration(strings.Repeat("one and ", 200)); err == nil || !strings.Contains(err.Error(), "longer than the 1024 read here") {
		t.Errorf("long duration: %v", err)
	}
}
