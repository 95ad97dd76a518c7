package pipeline

import (
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// numerize spells out the number words of a lowercase string as the gem numerizer (0.2, the
// English provider with no bias) does before ChronicDuration reads a duration: "one week" is
// "1 week", "twenty-one days" "21 days", "a day" "1 day", "two and a half hours" "2.5 hours".
// It follows numerizer's steps and their quirks, so that what GitLab takes for a duration is a
// duration here and what it refuses is refused: ordinals become "1st", "2nd"… (which are no
// duration), and "half" alone becomes "1/2" (neither). Numbers it made carry a <num> mark while
// it works, as in numerizer, which the last step drops.
func numerize(s string) string {
	s = numPreprocess(s)
	s = numNumerals(s)
	s = numFractions(s)
	s = numOrdinalWords(s)
	for _, p := range bigPrefixes {
		s = gsub(s, func(s string, i int) (int, string, bool) {
			j := i
			if strings.HasPrefix(s[j:], numMark) {
				j += len(numMark)
			}
			d := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			digits := s[d:j]
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if !strings.HasPrefix(s[j:], p.word) {
				return 0, "", false
			}
			if digits == "" {
				return j + len(p.word), strconv.FormatInt(p.value, 10), true
			}
			n, _ := new(big.Int).SetString(digits, 10)
			return j + len(p.word), numMark + n.Mul(n, big.NewInt(p.value)).String(), true
		})
		s = andition(s)
	}
	s = andition(s)
	s = gsub(s, func(s string, i int) (int, string, bool) {
		if strings.HasPrefix(s[i:], "half") && !wordBefore(s, i) && !wordRuneAt(s, i+4) {
			return i + 4, "1/2", true
		}
		return 0, "", false
	})
	return strings.ReplaceAll(s, numMark, "")
}

// numMark marks a number numerize made.
const numMark = "<num>"

var (
	numSingle = map[string]int64{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
	numDirect = map[string]int64{
		"eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
		"seventeen": 17, "eighteen": 18, "nineteen": 19, "ninteen": 19, "zero": 0, "ten": 10,
	}
	numTens = map[string]int64{
		"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
		"seventy": 70, "eighty": 80, "ninety": 90,
	}
	numOrdinals       = map[string]int64{"first": 1, "second": 2}
	numSingleOrdFracs = map[string]int64{"third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9}
	numDirectOrdFracs = map[string]int64{
		"tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
		"fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
		"twentieth": 20, "thirtieth": 30, "fourtieth": 40, "fiftieth": 50, "sixtieth": 60,
		"seventieth": 70, "eightieth": 80, "ninetieth": 90,
	}
	// numFractionals are the fraction words numerizer reads without a bias (quarters apart).
	numFractionals = func() map[string]int64 {
		m := map[string]int64{"half": 2, "halves": 2}
		for _, ords := range []map[string]int64{numSingleOrdFracs, numDirectOrdFracs} {
			for k, v := range ords {
				m[k], m[k+"s"] = v, v
			}
		}
		return m
	}()
	numPronouns = []string{"i", "you", "he", "she", "we", "it", "they", "to", "the"}
	bigPrefixes = []struct {
		word  string
		value int64
	}{{"hundred", 100}, {"thousand", 1000}, {"million", 1_000_000}, {"billion", 1_000_000_000}, {"trillion", 1_000_000_000_000}}
)

// ordinal is the value of an ordinal word, or false.
func ordinal(w string) (int64, bool) {
	for _, m := range []map[string]int64{numOrdinals, numSingleOrdFracs, numDirectOrdFracs} {
		if v, ok := m[w]; ok {
			return v, true
		}
	}
	return 0, false
}

// numPreprocess makes one space of each run of spaces, splits words joined by a hyphen, and
// drops a lone "a" at the end.
func numPreprocess(s string) string {
	s = gsub(s, func(s string, i int) (int, string, bool) {
		if s[i] == ' ' {
			j := i
			for j < len(s) && s[j] == ' ' {
				j++
			}
			return j, " ", true
		}
		r1, n1 := utf8.DecodeRuneInString(s[i:])
		if isDigit(s[i]) || i+n1 >= len(s) || s[i+n1] != '-' || i+n1+1 >= len(s) || isDigit(s[i+n1+1]) {
			return 0, "", false
		}
		r2, n2 := utf8.DecodeRuneInString(s[i+n1+1:])
		return i + n1 + 1 + n2, string(r1) + " " + string(r2), true
	})
	dropped := false
	s = gsub(s, func(s string, i int) (int, string, bool) { // `\ba$`
		if s[i] != 'a' || wordBefore(s, i) || i+1 < len(s) && s[i+1] != '\n' {
			return 0, "", false
		}
		dropped = true
		return i + 1, "", true
	})
	if dropped {
		s = strings.TrimRight(s, " \t\n\v\f\r\x00")
	}
	return s
}

// numNumerals spells out cardinal numbers: "one" to "nineteen", "a", the tens and their
// compounds ("twenty-one" was split by numPreprocess, "twentyone" is one word).
func numNumerals(s string) string {
	s = gsub(s, func(s string, i int) (int, string, bool) { // "nine twenty" is nine hundred twenty
		lead, w, end, ok := wordAt(s, i)
		if _, single := numSingle[w]; !ok || !single || end >= len(s) || !isSpace(s[end]) {
			return 0, "", false
		}
		end2 := wordEnd(s, end+1)
		w2 := s[end+1 : end2]
		_, direct := numDirect[w2]
		if _, tens := numTens[w2]; !direct && !tens {
			return 0, "", false
		}
		return end2, lead + w + " hundred " + w2, true
	})
	s = replaceWords(s, func(w string) (string, bool) {
		if v, ok := numDirect[w]; ok {
			return numMark + strconv.FormatInt(v, 10), true
		}
		if v, ok := numSingle[w]; ok {
			return numMark + strconv.FormatInt(v, 10), true
		}
		return "", false
	})
	s = replaceWords(s, func(w string) (string, bool) { return numMark + "1", w == "a" })
	s = replaceWords(s, func(w string) (string, bool) {
		for t, tv := range numTens {
			if sv, ok := numSingle[strings.TrimPrefix(w, t)]; ok && strings.HasPrefix(w, t) {
				return numMark + strconv.FormatInt(tv+sv, 10), true
			}
		}
		return "", false
	})
	s = gsub(s, func(s string, i int) (int, string, bool) { // "twenty first", "twentyfirst"
		lead, w, end, ok := wordAt(s, i)
		if !ok {
			return 0, "", false
		}
		for t, tv := range numTens {
			if !strings.HasPrefix(w, t) {
				continue
			}
			ord, to := w[len(t):], end
			if ord == "" && end < len(s) && isSpace(s[end]) {
				to = wordEnd(s, end+1)
				ord = s[end+1 : to]
			}
			if ov, ok := numOrdinals[ord]; ok || numSingleOrdFracs[ord] != 0 {
				if !ok {
					ov = numSingleOrdFracs[ord]
				}
				return to, lead + numMark + strconv.FormatInt(tv+ov, 10) + ord[len(ord)-2:], true
			}
		}
		return 0, "", false
	})
	return replaceWords(s, func(w string) (string, bool) {
		v, ok := numTens[w]
		return numMark + strconv.FormatInt(v, 10), ok
	})
}

// numFractions reads "a half", "and a half", "thirds"…: a fraction word after a number becomes
// "/N", and a number before "N/M" is added to it ("2 and 1/2" is 2.5).
func numFractions(s string) string {
	s = gsub(s, func(s string, i int) (int, string, bool) { // "a half", where "a" is still a word
		if !strings.HasPrefix(s[i:], "a ") {
			return 0, "", false
		}
		end := wordEnd(s, i+2)
		if v, ok := numFractionals[s[i+2:end]]; ok {
			return end, numMark + "1/" + strconv.FormatInt(v, 10), true
		}
		return 0, "", false
	})
	s = gsub(s, func(s string, i int) (int, string, bool) { // not at the start, nor after "the"
		if i == 0 || s[i-1] == '\n' || strings.HasSuffix(s[:i], "the") || wordRuneAt(s, i) {
			return 0, "", false
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		end := wordEnd(s, i+n)
		if v, ok := numFractionals[s[i+n:end]]; ok {
			return end, "/" + strconv.FormatInt(v, 10), true
		}
		return 0, "", false
	})
	s = gsub(s, func(s string, i int) (int, string, bool) { // quarters, unless after a pronoun
		for _, p := range numPronouns {
			if strings.HasSuffix(s[:i], p) {
				return 0, "", false
			}
		}
		_, w, end, ok := wordAt(s, i)
		if !ok || w != "quarter" && w != "quarters" {
			return 0, "", false
		}
		return end, "/4", true
	})
	s = gsub(s, mixedFraction)
	s = gsub(s, func(s string, i int) (int, string, bool) { // "/2" alone is "1/2"
		slash := func(j int) (int, string, bool) {
			if j < len(s) && s[j] == '/' {
				if d := digitsEnd(s, j+1); d > j+1 {
					return d, "1/" + s[j+1:d], true
				}
			}
			return 0, "", false
		}
		if i == 0 || s[i-1] == '\n' {
			if end, r, ok := slash(i); ok {
				return end, r, ok
			}
		}
		if wordRuneAt(s, i) {
			return 0, "", false
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		return slash(i + n)
	})
	return gsub(s, func(s string, i int) (int, string, bool) { // "hour/2" is "hour 1/2"
		if s[i] != '/' || i == 0 || !isASCIILetter(s[i-1]) {
			return 0, "", false
		}
		if d := digitsEnd(s, i+1); d > i+1 {
			return d, " 1/" + s[i+1:d], true
		}
		return 0, "", false
	})
}

// mixedFraction matches numerizer's `(\d+)(?: | and |-)+(<num>|\s)*(\d+)\s*\/\s*(\d+)` at i
// and replaces it with the sum, as Ruby writes a float.
func mixedFraction(s string, i int) (int, string, bool) {
	if !isDigit(s[i]) || i > 0 && isDigit(s[i-1]) {
		return 0, "", false
	}
	j := digitsEnd(s, i)
	whole := s[i:j]
	k := j
	for k < len(s) && !isDigit(s[k]) {
		k++
	}
	if k == len(s) || !fractionGap(s[j:k]) {
		return 0, "", false
	}
	m := digitsEnd(s, k)
	num := s[k:m]
	p := skipSpaces(s, m)
	if p >= len(s) || s[p] != '/' {
		return 0, "", false
	}
	q := skipSpaces(s, p+1)
	e := digitsEnd(s, q)
	if e == q {
		return 0, "", false
	}
	w, _ := strconv.ParseFloat(whole, 64)
	n, _ := strconv.ParseFloat(num, 64)
	d, _ := strconv.ParseFloat(s[q:e], 64)
	return e, rubyFloat(w + n/d), true
}

// fractionGap reports whether gap is (" "|" and "|"-")+ followed by ("<num>"|white space)*.
func fractionGap(gap string) bool {
	var seps func(g string, n int) bool
	seps = func(g string, n int) bool {
		if n > 0 && onlyNumsAndSpaces(g) {
			return true
		}
		for _, sep := range []string{" ", " and ", "-"} {
			if strings.HasPrefix(g, sep) && seps(g[len(sep):], n+1) {
				return true
			}
		}
		return false
	}
	return seps(gap, 0)
}

func onlyNumsAndSpaces(g string) bool {
	for g != "" {
		switch {
		case strings.HasPrefix(g, numMark):
			g = g[len(numMark):]
		case isSpace(g[0]):
			g = g[1:]
		default:
			return false
		}
	}
	return true
}

// numOrdinalWords spells out ordinals as "1st", "3rd"… "second" stays a unit after a number.
func numOrdinalWords(s string) string {
	s = gsub(s, func(s string, i int) (int, string, bool) {
		before := s[:i]
		if before != "" && isDigit(before[len(before)-1]) {
			return 0, "", false
		}
		for _, m := range []map[string]int64{numOrdinals, numSingleOrdFracs, numDirectOrdFracs} {
			for w := range m {
				if strings.HasSuffix(before, w) {
					return 0, "", false
				}
			}
		}
		lead, w, end, ok := wordAt(s, i)
		if !ok || w != "second" {
			return 0, "", false
		}
		return end, lead + numMark + "2nd", true
	})
	return replaceWords(s, func(w string) (string, bool) {
		v, ok := ordinal(w)
		if !ok || w == "second" {
			return "", false
		}
		return numMark + strconv.FormatInt(v, 10) + w[len(w)-2:], true
	})
}

// andition adds up numbers numerize made that follow each other ("<num>20 <num>1" is 21, but
// "<num>1 <num>20" stays) or are joined by "and" ("<num>100 and <num>1"), as numerizer's
// andition does: the first such pair is replaced, and the search starts again.
func andition(s string) string {
	for from := 0; ; {
		i := strings.Index(s[from:], numMark)
		if i < 0 {
			return s
		}
		start := from + i
		a := start + len(numMark)
		aEnd := digitsEnd(s, a)
		from = a
		if aEnd == a {
			continue
		}
		for _, sep := range []string{" ", " and "} {
			b := aEnd + len(sep)
			if !strings.HasPrefix(s[aEnd:], sep+numMark) {
				continue
			}
			b += len(numMark)
			bEnd := digitsEnd(s, b)
			if bEnd == b || wordRuneAt(s, bEnd) {
				continue
			}
			if sep == " and " || aEnd-a > bEnd-b {
				x, _ := new(big.Int).SetString(s[a:aEnd], 10)
				y, _ := new(big.Int).SetString(s[b:bEnd], 10)
				s = s[:start] + numMark + x.Add(x, y).String() + s[bEnd:]
				from = 0
			} else {
				from = bEnd
			}
			break
		}
	}
}

// gsub replaces, left to right, what match finds at each position of s: the end of the match
// and its replacement. As in Ruby's gsub, matches do not overlap and each looks at s as it was.
func gsub(s string, match func(s string, i int) (end int, repl string, ok bool)) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		if end, repl, ok := match(s, i); ok {
			b.WriteString(s[done:i])
			b.WriteString(repl)
			i, done = end, end
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	if done == 0 {
		return s // nothing matched
	}
	b.WriteString(s[done:])
	return b.String()
}

// replaceWords replaces each whole word (numerizer's `(^|\W)(word)(?=$|\W)`) that repl takes.
func replaceWords(s string, repl func(w string) (string, bool)) string {
	return gsub(s, func(s string, i int) (int, string, bool) {
		lead, w, end, ok := wordAt(s, i)
		if !ok {
			return 0, "", false
		}
		r, ok := repl(w)
		return end, lead + r, ok
	})
}

// wordAt matches `(^|\W)(\w+)` at i: the non-word character before the word (none at the start
// of a line), the word, and where it ends.
func wordAt(s string, i int) (lead, w string, end int, ok bool) {
	if (i == 0 || s[i-1] == '\n') && wordRuneAt(s, i) {
		end = wordEnd(s, i)
		return "", s[i:end], end, true
	}
	if i >= len(s) || wordRuneAt(s, i) {
		return "", "", 0, false
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	if !wordRuneAt(s, i+n) {
		return "", "", 0, false
	}
	end = wordEnd(s, i+n)
	return s[i : i+n], s[i+n : end], end, true
}

// wordRuneAt reports whether a word character (Ruby's \w) starts at i.
func wordRuneAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// wordBefore reports whether a word character ends at i.
func wordBefore(s string, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func wordEnd(s string, i int) int {
	for wordRuneAt(s, i) {
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	return i
}

func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func skipSpaces(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// isSpace is Ruby's \s.
func isSpace(c byte) bool { return strings.IndexByte(" \t\n\v\f\r", c) >= 0 }

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
