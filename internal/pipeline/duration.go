package pipeline

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// ParseDuration reads a human duration as GitLab does for timeout, start_in, expire_in and
// auto_stop_in: with the gem gitlab-chronic-duration (ChronicDuration.parse, raising on an
// unknown word, as config/initializers/chronic_duration.rb sets it), which first spells out
// number words with the gem numerizer. "1h 30m", "3 hours", "1 day and 2 hours", "2.5h", "1:30"
// (1 min 30 s), "day", "one week", "twenty-one days", "a day", "two and a half hours" are all
// durations; "an hour", "half an hour", "P1D" and "-5m" are not (an unknown word). A duration
// of zero is no duration either: ChronicDuration returns nil for it, which GitLab refuses.
// Durations past time.Duration's range (about 292 years) are cut to it.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > maxDurationLength {
		// Numerizer's steps take time that grows with the square of the text.
		return 0, fmt.Errorf("a duration of %d bytes is longer than the %d read here", len(s), maxDurationLength)
	}
	words, err := chronicWords(numerize(strings.ToLower(s)))
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	secs := 0.0
	for i, w := range words {
		if !chronicNumber.MatchString(w) {
			continue
		}
		unit := "seconds"
		if i+1 < len(words) {
			unit = words[i+1]
		}
		secs += rubyToF(w) * chronicUnits[unit]
	}
	switch {
	case secs == 0:
		return 0, fmt.Errorf("duration %q: not a duration (it is zero, or has no number)", s)
	case secs*float64(time.Second) >= math.MaxInt64:
		return math.MaxInt64, nil
	}
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}

// maxDurationLength bounds the text of a duration; GitLab's longest documented example has 21
// characters.
const maxDurationLength = 1024

// chronicUnits are ChronicDuration's units in seconds (a month is 30 days, a year 365.25).
var chronicUnits = map[string]float64{
	"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400,
	"months": 30 * 86400, "years": 31557600,
}

// chronicMappings are the words ChronicDuration knows, and the unit each names.
var chronicMappings = map[string]string{
	"seconds": "seconds", "second": "seconds", "secs": "seconds", "sec": "seconds", "s": "seconds",
	"minutes": "minutes", "minute": "minutes", "mins": "minutes", "min": "minutes", "m": "minutes",
	"hours": "hours", "hour": "hours", "hrs": "hours", "hr": "hours", "h": "hours",
	"days": "days", "day": "days", "dy": "days", "d": "days",
	"weeks": "weeks", "week": "weeks", "wks": "weeks", "wk": "weeks", "w": "weeks",
	"months": "months", "mo": "months", "mos": "months", "month": "months",
	"years": "years", "year": "years", "yrs": "years", "yr": "years", "y": "years",
}

var (
	// chronicNumber is ChronicDuration's float_matcher.
	chronicNumber = regexp.MustCompile(`[0-9]*\.?[0-9]+`)
	// chronicClock is its time_matcher: 3:41:59 is 3 hours 41 minutes 59 seconds.
	chronicClock = regexp.MustCompile(`^[0-9]+:[0-9]+(:[0-9]+){0,4}(\.[0-9]*)?$`)
)

// chronicWords is ChronicDuration's cleanup of a numerized string: the clock form spelled out,
// numbers set apart, and each word either a number or a unit (join words dropped); an unknown
// word is an error. A leading unit counts one ("day", "minute 30s").
func chronicWords(s string) ([]string, error) {
	if compact := strings.ReplaceAll(s, " ", ""); chronicClock.MatchString(compact) {
		units := []string{"seconds", "minutes", "hours", "days", "months", "years"} // as many as it has parts
		parts := strings.Split(compact, ":")
		spelled := make([]string, len(parts))
		for i, p := range parts {
			spelled[i] = p + " " + units[len(parts)-1-i]
		}
		s = strings.Join(spelled, " ")
	}
	s = chronicNumber.ReplaceAllString(s, " $0 ")
	var out []string
	for _, w := range rubyFields(s) {
		if chronicNumber.MatchString(w) {
			out = append(out, w)
			continue
		}
		word := strings.TrimSuffix(strings.TrimPrefix(w, ","), ",")
		switch unit, ok := chronicMappings[word]; {
		case ok:
			out = append(out, unit)
		case word != "and" && word != "with" && word != "plus":
			return nil, fmt.Errorf("an invalid word %q was used", w)
		}
	}
	if len(out) > 0 && chronicUnits[out[0]] != 0 {
		out = append([]string{"1"}, out...)
	}
	return out, nil
}

// rubyFields splits s at runs of ASCII white space, as Ruby's String#split(" ") does.
func rubyFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\n\v\f\r", r) })
}
