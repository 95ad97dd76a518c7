package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

var durationUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
	"mo": 30 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "months": 30 * 24 * time.Hour,
	"y": 365 * 24 * time.Hour, "yr": 365 * 24 * time.Hour, "year": 365 * 24 * time.Hour, "years": 365 * 24 * time.Hour,
}

// ParseDuration reads a human duration as GitLab writes timeout, start_in and expire_in:
// "1h 30m", "3 hours", "90 minutes", "1 day and 2 hours", "2.5h"; a bare number is seconds.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	i := 0
	for i < len(in) {
		for i < len(in) && (in[i] == ' ' || in[i] == ',') {
			i++
		}
		if strings.HasPrefix(in[i:], "and ") {
			i += 4
			continue
		}
		if i >= len(in) {
			break
		}
		j := i
		for j < len(in) && (in[j] >= '0' && in[j] <= '9' || in[j] == '.') {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, in[i:])
		}
		n, err := strconv.ParseFloat(in[i:j], 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		for j < len(in) && in[j] == ' ' {
			j++
		}
		k := j
		for k < len(in) && unicode.IsLetter(rune(in[k])) {
			k++
		}
		unit := time.Second
		if k > j {
			u, ok := durationUnits[in[j:k]]
			if !ok {
				return 0, fmt.Errorf("duration %q: unknown unit %q", s, in[j:k])
			}
			unit = u
		}
		total += time.Duration(n * float64(unit))
		i = k
	}
	return total, nil
}
