package pipeline

import (
	"strings"
	"testing"
	"time"
)

// TestParseDuration checks ParseDuration against GitLab's ChronicDuration (lib/chronic_duration.rb,
// with raise_exceptions on, as config/initializers/chronic_duration.rb sets it), which GitLab
// uses for timeout, start_in and expire_in.
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
		{name: "bare number is seconds", in: "90", want: 90 * time.Second},
		{name: "bare number with spaces", in: "  45 ", want: 45 * time.Second},
		{name: "minutes", in: "90 minutes", want: 90 * time.Minute},
		{name: "min", in: "30 min", want: 30 * time.Minute},
		{name: "mins", in: "5 mins", want: 5 * time.Minute},
		{name: "seconds", in: "10 seconds", want: 10 * time.Second},
		{name: "sec", in: "10 sec", want: 10 * time.Second},
		{name: "s", in: "10s", want: 10 * time.Second},
		{name: "fraction", in: "2.5h", want: 150 * time.Minute},
		{name: "leading-dot fraction", in: ".5 hours", want: 30 * time.Minute},
		{name: "hr", in: "2 hr", want: 2 * time.Hour},
		{name: "hrs", in: "2 hrs", want: 2 * time.Hour},
		{name: "days", in: "2 days", want: 2 * day},
		{name: "d", in: "3d", want: 3 * day},
		{name: "week", in: "1 week", want: 7 * day},
		{name: "weeks", in: "2 weeks", want: 14 * day},
		{name: "wk", in: "1 wk", want: 7 * day},
		{name: "w", in: "1w", want: 7 * day},
		{name: "month is 30 days", in: "1 month", want: 30 * day},
		{name: "mo", in: "2 mo", want: 60 * day},
		{name: "upper case", in: "2 Hours 5 MINUTES", want: 2*time.Hour + 5*time.Minute},
		{name: "all units", in: "1w 1d 1h 1m 1s", want: 7*day + day + time.Hour + time.Minute + time.Second},
		{name: "expire_in style", in: "30 days", want: 30 * day},
		{name: "timeout style", in: "3h 30m", want: 3*time.Hour + 30*time.Minute},
		{name: "start_in style", in: "10 minutes", want: 10 * time.Minute},

		{name: "empty", in: "", err: "empty"},
		{name: "blank", in: "   ", err: "empty"},
		{name: "unknown unit", in: "5 parsecs", err: "unknown unit"},
		{name: "unknown unit glued", in: "5x", err: "unknown unit"},
		{name: "unit typo", in: "1 hourz", err: "unknown unit"},
		{name: "negative", in: "-5m", err: "duration"},
		{name: "text only", in: "soon", err: "duration"},

		{
			name: "year is 365.25 days", in: "1 year", want: 365*day + 6*time.Hour,
		},
		{
			name: "dy", in: "2 dy", want: 2 * day,
		},
		{
			name: "wks", in: "2 wks", want: 14 * day,
		},
		{
			name: "mos", in: "2 mos", want: 60 * day,
		},
		{
			name: "colon form minutes:seconds", in: "1:30", want: 90 * time.Second,
		},
		{
			name: "colon form hours:minutes:seconds", in: "1:02:03", want: time.Hour + 2*time.Minute + 3*time.Second,
		},
		{
			name: "leading unit means one", in: "day", want: day,
		},
		{
			name: "with and plus join", in: "1 hour with 10 minutes plus 5 seconds", want: time.Hour + 10*time.Minute + 5*time.Second,
		},
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
