package pipeline

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// GitLab reads YAML with Ruby's Psych, a YAML 1.1 reader, and the library here reads YAML 1.2:
// the two type plain scalars differently (`yes` is a boolean, `010` is 8, `1e3` a string). The
// loader types every scalar as Psych does (ScalarScanner#tokenize of psych 5 as of v5.2.6,
// which GitLab's Ruby 3 bundles, with the options of its YAML.safe_load) and keeps its value as
// Ruby's to_s writes it, which is what GitLab passes on wherever it turns a value into a string
// (a variable, a script line, an interpolated input). docs/yaml.md lists the rules.

// wordy reports whether s starts like a word, as ScalarScanner's first test
// /^[^\d.:-]?[[:alpha:]_\s!@#$%\^&*(){}<>|\/\\~;=]+/ has it: such a scalar is a string, unless it is
// one of the short words of null and the booleans.
func wordy(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	if wordyRune(r) {
		return true
	}
	if strings.ContainsRune("0123456789.:-", r) {
		return false
	}
	r, _ = utf8.DecodeRuneInString(s[n:])
	return wordyRune(r)
}

func wordyRune(r rune) bool {
	return unicode.IsLetter(r) || strings.ContainsRune("_ \t\n\v\f\r!@#$%^&*(){}<>|/\\~;=", r)
}

// psychPatterns are ScalarScanner's regular expressions, in the order it tries them. Ruby's ^
// and $ are line anchors; a plain scalar with a line break is a string before they matter.
var (
	psychTime  = regexp.MustCompile(`^-?[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|\s+)[0-9]{1,2}:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:\s*(?:Z|[-+][0-9]{1,2}:?(?:[0-9][0-9])?))?$`)
	psychDate  = regexp.MustCompile(`^[0-9]{4}-(?:1[012]|0[0-9]|[0-9])-(?:[12][0-9]|3[01]|0[0-9]|[0-9])$`)
	psychInf   = regexp.MustCompile(`^\+?(?i:\.inf)$`)
	psychNInf  = regexp.MustCompile(`^-(?i:\.inf)$`)
	psychNaN   = regexp.MustCompile(`^(?i:\.nan)$`)
	psychSym   = regexp.MustCompile(`^:["']`)
	psychSex   = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9]){1,2}$`)
	psychSexF  = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9]){1,2}\.[0-9_]*$`)
	psychFloat = regexp.MustCompile(`^[-+]?(?:[0-9][0-9_,]*)?\.[0-9]*(?:[eE][-+][0-9]+)?$`)
	// psychDecimal is the base-10 part of psychInt, which needs no conversion.
	psychDecimal = regexp.MustCompile(`^[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)$`)
	psychInt     = regexp.MustCompile(`^(?:[-+]?0b[_,]*[01][01_,]*|[-+]?0[_,]*[0-7][0-7_,]*|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[_,]*[0-9a-fA-F][0-9a-fA-F_,]*)$`)
)

// scalarStyle is how a scalar was written: quoted or as a block (| or >), it is a string.
const quotedStyles = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle

// typeScalar types the scalar n as Psych does (see Psych::Visitors::ToRuby#deserialize): an
// explicit !!str is a string and !!float a float; any other tag (!!int, !!bool, a custom one)
// types the text as if it were plain; untagged, a quoted or block scalar is a string and a plain
// one is typed by psychPlain. It returns the tag (TagNull for null) and the value as Ruby's
// to_s writes it.
func typeScalar(n *yaml.Node) (tag, value string, err error) {
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case TagStr, "!str":
			return TagStr, n.Value, nil
		case TagFloat, "!float":
			return psychFloatTag(n.Value)
		case "!!binary":
			if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), "")); err == nil {
				return TagStr, string(b), nil
			}
		}
		return psychPlain(n.Value)
	}
	if n.Style&quotedStyles != 0 {
		return TagStr, n.Value, nil
	}
	return psychPlain(n.Value)
}

// psychPlain types a plain scalar as Psych's ScalarScanner#tokenize does. Dates and times are an
// error, as in GitLab: its YAML.safe_load permits no class but Symbol, and Psych refuses to make
// a Date or a Time ("Tried to load unspecified class: Date"). A symbol (`:name`) is the string
// of its name, which is what GitLab makes of it.
func psychPlain(s string) (tag, value string, err error) {
	// Cheap tests of what each pattern needs, so that most scalars meet no regular expression.
	t := strings.TrimPrefix(s, "-")
	dated := len(t) > 4 && isDigit(t[0]) && isDigit(t[1]) && isDigit(t[2]) && isDigit(t[3]) && t[4] == '-'
	dotted, colon := strings.Contains(s, "."), strings.Contains(s, ":")
	switch {
	case s == "":
		return TagNull, "", nil
	case strings.Contains(s, "\n"):
		return TagStr, s, nil
	case wordy(s):
		switch {
		case utf8.RuneCountInString(s) > 5 || !strings.ContainsRune("ytonf~YTONF", rune(s[0])):
			return TagStr, s, nil
		case s == "~" || strings.EqualFold(s, "null"):
			return TagNull, "", nil
		case strings.EqualFold(s, "yes") || strings.EqualFold(s, "true") || strings.EqualFold(s, "on"):
			return TagBool, "true", nil
		case strings.EqualFold(s, "no") || strings.EqualFold(s, "false") || strings.EqualFold(s, "off"):
			return TagBool, "false", nil
		}
		return TagStr, s, nil
	case !strings.ContainsAny(s[:1], "0123456789+-.:"):
		return TagStr, s, nil // none of the patterns below can match
	case dated && psychTime.MatchString(s):
		return "", "", fmt.Errorf("%q is a time, which GitLab's YAML reader refuses (Tried to load unspecified class: Time): quote it", s)
	case dated && psychDate.MatchString(s):
		return "", "", fmt.Errorf("%q is a date, which GitLab's YAML reader refuses (Tried to load unspecified class: Date): quote it", s)
	case dotted && psychInf.MatchString(s):
		return TagFloat, rubyFloat(math.Inf(1)), nil
	case dotted && psychNInf.MatchString(s):
		return TagFloat, rubyFloat(math.Inf(-1)), nil
	case dotted && psychNaN.MatchString(s):
		return TagFloat, rubyFloat(math.NaN()), nil
	case len(s) > 1 && s[0] == ':':
		return TagStr, symbolName(s), nil
	case len(s) > maxIntegerDigits && (colon && psychSex.MatchString(s) || psychInt.MatchString(s) && !psychDecimal.MatchString(s)):
		// Converting a number of that many digits to decimal takes time that grows with the
		// square of its length; no configuration needs one.
		return "", "", fmt.Errorf("an integer of %d characters is longer than the %d read here", len(s), maxIntegerDigits)
	case colon && psychSex.MatchString(s):
		return TagInt, sexagesimal(s).String(), nil
	case colon && psychSexF.MatchString(s):
		return TagFloat, rubyFloat(sexagesimalFloat(s)), nil
	case dotted && psychFloat.MatchString(s):
		if s == "." || s == "+." || s == "-." {
			return TagStr, s, nil
		}
		t := digitSeparators.Replace(s)
		t = strings.Replace(strings.Replace(t, ".e", "e", 1), ".E", "E", 1)
		t = strings.TrimSuffix(t, ".")
		f, err := strconv.ParseFloat(t, 64)
		if err != nil && !math.IsInf(f, 0) {
			return "", "", fmt.Errorf("%q: invalid value for Float()", s)
		}
		return TagFloat, rubyFloat(f), nil
	case psychDecimal.MatchString(s):
		t := strings.TrimPrefix(digitSeparators.Replace(s), "+")
		if t == "-0" {
			t = "0"
		}
		return TagInt, t, nil
	case psychInt.MatchString(s):
		return TagInt, rubyInteger(s).String(), nil
	}
	return TagStr, s, nil
}

// digitSeparators drops the commas and underscores Psych allows between digits.
var digitSeparators = strings.NewReplacer(",", "", "_", "")

// maxIntegerDigits bounds the length of a base-60, octal, hexadecimal or binary integer.
const maxIntegerDigits = 1000

// psychFloatTag is an explicit !!float: Ruby's Float() of the typed text.
func psychFloatTag(s string) (tag, value string, err error) {
	tag, value, err = psychPlain(s)
	switch {
	case err != nil:
		return "", "", err
	case tag == TagFloat:
		return tag, value, nil
	case tag == TagInt:
		f, _ := new(big.Float).SetString(value)
		v, _ := f.Float64()
		return TagFloat, rubyFloat(v), nil
	case tag == TagStr && rubyFloatText.MatchString(s):
		f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 64)
		if err == nil || math.IsInf(f, 0) {
			return TagFloat, rubyFloat(f), nil
		}
	}
	return "", "", fmt.Errorf("!!float %q: invalid value for Float()", s)
}

// rubyFloatText is what Ruby's Float() reads as a decimal number.
var rubyFloatText = regexp.MustCompile(`^\s*[-+]?(?:[0-9]+(?:_[0-9]+)*)?(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?\s*$`)

// symbolName is the name of a plain `:symbol` (`:"quoted"` loses its quotes).
func symbolName(s string) string {
	if psychSym.MatchString(s) {
		q := s[1]
		if i := strings.LastIndexByte(s, q); i > 1 {
			return strings.TrimPrefix(s[2:i], ":")
		}
	}
	return s[1:]
}

// rubyInteger is Ruby's Integer() of a scalar that psychInt matched: commas and underscores
// dropped, 0b binary, 0x hexadecimal, a leading 0 octal.
func rubyInteger(s string) *big.Int {
	t := digitSeparators.Replace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimLeft(t, "+-")
	base := 10
	switch {
	case strings.HasPrefix(t, "0b"):
		base, t = 2, t[2:]
	case strings.HasPrefix(t, "0x"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base = 8
	}
	n, _ := new(big.Int).SetString(t, base)
	if n == nil {
		n = new(big.Int)
	}
	if neg {
		n.Neg(n)
	}
	return n
}

// sexagesimal is Psych's reading of a base-60 integer such as 1:30:00. Psych weighs the parts
// as if there were always three (hours, minutes, seconds), so 1:30 is 5400, not 90.
func sexagesimal(s string) *big.Int {
	sum := new(big.Int)
	for i, part := range strings.Split(s, ":") {
		w := big.NewInt(int64(math.Pow(60, math.Abs(float64(i-2)))))
		sum.Add(sum, new(big.Int).Mul(rubyToI(part), w))
	}
	return sum
}

// sexagesimalFloat is sexagesimal with a fraction on the last part.
func sexagesimalFloat(s string) float64 {
	sum := 0.0
	for i, part := range strings.Split(s, ":") {
		sum += rubyToF(part) * math.Pow(60, math.Abs(float64(i-2)))
	}
	return sum
}

// rubyToI is Ruby's String#to_i: a sign and the leading digits, single underscores between them
// allowed.
func rubyToI(s string) *big.Int {
	n, _ := new(big.Int).SetString(leadingNumber(s, false), 10)
	if n == nil {
		return new(big.Int)
	}
	return n
}

// rubyToF is Ruby's String#to_f for the digits, underscores and one dot of a base-60 part.
func rubyToF(s string) float64 {
	f, _ := strconv.ParseFloat(leadingNumber(s, true), 64)
	return f
}

// leadingNumber is the sign and the digits at the start of s that Ruby's to_i (or, with frac,
// to_f) reads, without their underscores.
func leadingNumber(s string, frac bool) string {
	var b strings.Builder
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		b.WriteByte(s[i])
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
			digits++
		case c == '_' && i > 0 && i+1 < len(s) && isDigit(s[i-1]) && isDigit(s[i+1]):
		case c == '.' && frac && !dot && i+1 < len(s) && isDigit(s[i+1]):
			b.WriteByte(c)
			dot = true
		default:
			i = len(s)
		}
	}
	if digits == 0 {
		return "0"
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// rubyFloat writes f as Ruby's Float#to_s does: the shortest digits that read back as f, in
// fixed notation with at least one decimal ("1000.0", "0.0001") while the decimal exponent is
// between -4 and 16, else as "1.0e+16" or "1.0e-05"; "Infinity", "-Infinity" and "NaN".
func rubyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	// The shortest digits, as "d.ddde±x": decpt is where the point goes (Ruby's dtoa's decpt).
	e := strconv.FormatFloat(f, 'e', -1, 64)
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1
	if f == 0 {
		digits, decpt = "0", 1
	}
	switch {
	case decpt > 0 && decpt < len(digits):
		return sign + digits[:decpt] + "." + digits[decpt:]
	case decpt > 0 && decpt <= 15:
		return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
	case decpt <= 0 && decpt > -4:
		return sign + "0." + strings.Repeat("0", -decpt) + digits
	}
	frac := digits[1:]
	if frac == "" {
		frac = "0"
	}
	return fmt.Sprintf("%s%s.%se%+03d", sign, digits[:1], frac, decpt-1)
}
