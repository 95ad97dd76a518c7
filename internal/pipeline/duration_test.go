package pipeline

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestParseDuration checks ParseDuration against GitLab's reading of timeout, start_in,
// expire_in and auto_stop_in: ChronicDuration.parse of the gem gitlab-chronic-duration (called
// from Gitlab::Config::Entry::LegacyValidationHelpers#validate_duration and
// Gitlab::Ci::Build::DurationParser), raising on an unknown word as
// config/initializers/chronic_duration.rb sets it, with its anchored time_matcher for the
// clock form, after Numerizer.numerize (gem numerizer 0.2, lib/providers/english_provider.rb)
// has spelled out number words. GitLab's frontend copy of the parser says so:
// app/assets/javascripts/lib/utils/chronic_duration.js ("The Ruby implementation of this
// algorithm uses the Numerizer module"). Every expected value was checked against those gems
// run by Ruby; a nil result (zero) is no duration for GitLab.
func TestParseDuration(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		name string
		in   string
		want time.Duration
		// err, when set, is a part of the expected error.
		err  string
		skip string
	}{
		{name: "hours and minutes", in: "1h 30m", want: 90 * time.Minute},
		{name: "hours and minutes without space", in: "1h30m", want: 90 * time.Minute},
		{name: "words", in: "3 hours", want: 3 * time.Hour},
		{name: "singular", in: "1 hour", want: time.Hour},
		{name: "and joins", in: "1 day and 2 hours", want: 26 * time.Hour},
		{name: "commas join", in: "1 hour, 30 minutes", want: 90 * time.Minute},
		{name: "comma after a unit", in: "4 days, 3 hours", want: 4*day + 3*time.Hour},
		{name: "and then a comma", in: "3 weeks and, 2 days", want: 23 * day},
		{name: "bare number is seconds", in: "90", want: 90 * time.Second},
		{name: "bare number with spaces", in: "  45 ", want: 45 * time.Second},
		{name: "trailing number is seconds", in: "1 hour 30", want: time.Hour + 30*time.Second},
		{name: "minutes", in: "90 minutes", want: 90 * time.Minute},
		{name: "min", in: "30 min", want: 30 * time.Minute},
		{name: "mins", in: "3 mins", want: 3 * time.Minute},
		{name: "seconds", in: "10 seconds", want: 10 * time.Second},
		{name: "sec", in: "10 sec", want: 10 * time.Second},
		{name: "s", in: "10s", want: 10 * time.Second},
		{name: "fraction", in: "2.5h", want: 150 * time.Minute},
		{name: "fraction in words", in: "1.5 hours", want: 90 * time.Minute},
		{name: "leading-dot fraction", in: ".5 hours", want: 30 * time.Minute},
		{name: "fractional seconds", in: "1.5", want: 1500 * time.Millisecond},
		{name: "hr", in: "2 hr", want: 2 * time.Hour},
		{name: "hrs", in: "2 hrs", want: 2 * time.Hour},
		{name: "days", in: "2 days", want: 2 * day},
		{name: "d", in: "3d", want: 3 * day},
		{name: "dy", in: "2 dy", want: 2 * day},
		{name: "week", in: "1 week", want: 7 * day},
		{name: "weeks", in: "2 weeks", want: 14 * day},
		{name: "wk", in: "1 wk", want: 7 * day},
		{name: "wks", in: "2 wks", want: 14 * day},
		{name: "w", in: "1w", want: 7 * day},
		{name: "week and days", in: "1 week 2 days", want: 9 * day},
		{name: "month is 30 days", in: "1 month", want: 30 * day},
		{name: "mo", in: "1 mo", want: 30 * day},
		{name: "mos", in: "2 mos", want: 60 * day},
		{name: "year is 365.25 days", in: "1 year", want: 365*day + 6*time.Hour},
		{name: "upper case", in: "2 Hours 5 MINUTES", want: 2*time.Hour + 5*time.Minute},
		{name: "all units", in: "1w 1d 1h 1m 1s", want: 7*day + day + time.Hour + time.Minute + time.Second},
		{name: "expire_in style", in: "30 days", want: 30 * day},
		{name: "timeout style", in: "3h 30m", want: 3*time.Hour + 30*time.Minute},
		{name: "start_in style", in: "10 minutes", want: 10 * time.Minute},
		{name: "with and plus join", in: "1 hour with 10 minutes plus 5 seconds", want: time.Hour + 10*time.Minute + 5*time.Second},
		{name: "leading unit means one", in: "day", want: day},
		{name: "leading unit then more", in: "minute 30s", want: 90 * time.Second},
		{name: "a number before a number counts nothing", in: "1 2 hours", want: 2 * time.Hour},
		// The clock form: up to six parts, seconds last.
		{name: "colon form minutes:seconds", in: "1:30", want: 90 * time.Second},
		{name: "colon form hours:minutes:seconds", in: "1:02:03", want: time.Hour + 2*time.Minute + 3*time.Second},
		{name: "colon form days", in: "1:30:00:00", want: day + 30*time.Hour},
		{name: "colon form fraction", in: "1:20.51", want: 80*time.Second + 510*time.Millisecond},
		{name: "colon form with spaces", in: "1: 30", want: 90 * time.Second},
		{name: "colon form leading zeros", in: "00:30", want: 30 * time.Second},
		{name: "colon form seven parts", in: "1:2:3:4:5:6:7", err: "invalid word"},
		{name: "colon form with a unit", in: "1:30 day", err: "invalid word"},
		// Number words (Numerizer): cardinals, tens, compounds, "a", hundreds, "and a half".
		{name: "one week", in: "one week", want: 7 * day},
		{name: "One Week", in: "One Week", want: 7 * day},
		{name: "two days", in: "two days", want: 2 * day},
		{name: "fifteen mins", in: "fifteen mins", want: 15 * time.Minute},
		{name: "sixty minutes", in: "sixty minutes", want: time.Hour},
		{name: "hyphenated compound", in: "twenty-five minutes", want: 25 * time.Minute},
		{name: "spaced compound", in: "thirty five minutes", want: 35 * time.Minute},
		{name: "joined compound", in: "thirtyfive minutes", want: 35 * time.Minute},
		{name: "hyphenated word and unit", in: "one-week", want: 7 * day},
		{name: "misspelt forty", in: "fourty days", want: 40 * day},
		{name: "misspelt nineteen", in: "ninteen hours", want: 19 * time.Hour},
		{name: "a day", in: "a day", want: day},
		{name: "a week and a day", in: "a week and a day", want: 8 * day},
		{name: "a month and a day", in: "1 month and a day", want: 31 * day},
		{name: "trailing a dropped", in: "1 week a", want: 7 * day},
		{name: "a second", in: "a second", want: time.Second},
		{name: "hundreds", in: "one hundred seconds", want: 100 * time.Second},
		{name: "thousand and hundreds", in: "one thousand two hundred seconds", want: 1200 * time.Second},
		{name: "twelve hundred", in: "twelve hundred seconds", want: 1200 * time.Second},
		{name: "digits hundred", in: "2 hundred seconds", want: 200 * time.Second},
		{name: "two and a half hours", in: "two and a half hours", want: 150 * time.Minute},
		{name: "one and a half days", in: "one and a half days", want: 36 * time.Hour},
		{name: "words with a comma", in: "one hour, thirty minutes", want: 90 * time.Minute},
		{name: "an hour", in: "an hour", err: `invalid word "an"`},
		{name: "half an hour", in: "half an hour", err: "invalid word"},
		{name: "a day and a half", in: "a day and a half", err: "invalid word"},
		{name: "quarter", in: "a quarter hour", err: "invalid word"},
		{name: "ordinal", in: "first", err: "invalid word"},
		{name: "second alone is an ordinal", in: "second", err: "invalid word"},

		{name: "empty", in: "", err: "not a duration"},
		{name: "blank", in: "   ", err: "not a duration"},
		{name: "zero", in: "0", err: "not a duration"},
		{name: "zero seconds", in: "0 seconds", err: "not a duration"},
		{name: "zero in words", in: "zero", err: "not a duration"},
		{name: "a alone", in: "a", err: "not a duration"},
		{name: "unknown unit", in: "5 parsecs", err: `invalid word "parsecs"`},
		{name: "unknown unit glued", in: "5x", err: "invalid word"},
		{name: "unit typo", in: "1 hourz", err: "invalid word"},
		{name: "negative", in: "-5m", err: `invalid word "-"`},
		{name: "text only", in: "soon", err: "invalid word"},
		{name: "never is no duration", in: "never", err: "invalid word"},
		{name: "ISO 8601", in: "P1D", err: "invalid word"},
		{name: "exponent", in: "1e3", err: "invalid word"},
		{name: "decimal comma", in: "1,5 hours", err: "invalid word"},
		{name: "punctuation", in: "1 hr.", err: "invalid word"},
		{name: "hyphen between numbers", in: "2-3 days", err: "invalid word"},
		{name: "too long is cut", in: "1000 years", want: time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			got, err := ParseDuration(tt.in)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error containing %q", tt.in, got, tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseDuration(%q) error %q, want it to contain %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
