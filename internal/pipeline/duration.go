package pipeline

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const (
	day  = 24 * time.Hour
	year = 365*day + 6*time.Hour // ChronicDuration's year: 365.25 days
)

var durationUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": day, "dy": day, "day": day, "days": day,
	"w": 7 * day, "wk": 7 * day, "wks": 7 * day, "week": 7 * day, "weeks": 7 * day,
	"mo": 30 * day, "mos": 30 * day, "month": 30 * day, "months": 30 * day,
	"y": year, "yr": year, "yrs": year, "year": year, "years": year,
}

// joinWords are skipped between the parts of a duration.
var joinWords = map[string]bool{"and": true, "with": true, "plus": true}

var colonForm = regexp.MustCompile(`^(\d+):(\d{1,2})(?::(\d{1,2}))?$`)

// ParseDuration reads a human duration as GitLab does (ChronicDuration) for timeout, start_in,
// expire_in and auto_stop_in: "1h 30m", "3 hours", "1 day and 2 hours", "2.5h", "1:30"
// (1 min 30 s), "1:02:03", "day"; a bare number is seconds.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if m := colonForm.FindStringSubmatch(in); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if m[3] == "" {
			return time.Duration(a)*time.Minute + time.Duration(b)*time.Second, nil
		}
		c, _ := strconv.Atoi(m[3])
		return time.Duration(a)*time.Hour + time.Duration(b)*time.Minute + time.Duration(c)*time.Second, nil
	}
	var total time.Duration
	i := 0
	for i < len(in) {
		for i < len(in) && (in[i] == ' ' || in[i] == ',') {
			i++
		}
		if i >= len(in) {
			break
		}
		j := i
		for j < len(in) && (in[j] >= '0' && in[j] <= '9' || in[j] == '.') {
			j++
		}
		n := 1.0
		if j > i {
			f, err := strconv.ParseFloat(in[i:j], 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			n = f
		}
		for j < len(in) && in[j] == ' ' {
			j++
		}
		k := j
		for k < len(in) && unicode.IsLetter(rune(in[k])) {
			k++
		}
		word := in[j:k]
		switch {
		case k == j && j == i:
			return 0, fmt.Errorf("duration %q: unexpected %q", s, in[i:])
		case word == "":
			total += time.Duration(n * float64(time.Second))
		case joinWords[word] && j == i:
		default:
			unit, ok := durationUnits[word]
			if !ok {
				return 0, fmt.Errorf("duration %q: unknown unit %q", s, word)
			}
			total += time.Duration(n * float64(unit))
		}
		i = k
	}
	return total, nil
}
