package server

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testenv"
)

// Browser measurements of the job page (bench/README.md, "Web UI"). By default they run as
// quick tests, with a few samples, so that CI proves the measurement works; with
// SLIPWAY_BENCH=1 they take the benchmark's samples and log the numbers:
//
//	SLIPWAY_BENCH=1 go test ./internal/server -run 'TestBrowserBench' -count 1 -v
//
// They never fail on a slow number: the goals are compared in bench/README.md.

// benchSamples is n when SLIPWAY_BENCH=1, else quick.
func benchSamples(t *testing.T, quick, n int) int {
	t.Helper()
	if os.Getenv("SLIPWAY_BENCH") != "1" {
		t.Parallel()
		return quick
	}
	return n
}

// benchLog is a log of n ordinary lines, as a test run prints them.
func benchLog(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "=== RUN   TestSomething/case_%d\n--- PASS: TestSomething/case_%d (0.00s)\n", i, i)
	}
	return sb.String()
}

// The job page, opened signed in with the page's assets cached: time to DOMContentLoaded
// (goal: under 300 ms), for a finished job with a short log and for a running job whose
// log fills the first response's window (2,000 lines, about 270 KB of HTML). The time to
// the first byte of the last load tells the server's part from the browser's.
func TestBrowserBenchJobPageLoad(t *testing.T) {
	n := benchSamples(t, 2, 20)
	f := newUIFixture(t)
	f.log(f.long, benchLog(1000))
	b := f.signIn(t)
	b.SetTimeout(2 * time.Minute)
	for _, tc := range []struct{ what, job string }{
		{"finished job, 7 log lines", "compile"},
		{"running job, 2,000 log lines", "long"},
	} {
		ts := b.LoadTimes(f.jobURL(tc.job), n)
		if len(ts) != n {
			t.Fatalf("%d samples, want %d", len(ts), n)
		}
		t.Logf("job page DOMContentLoaded (%s): %v (goal p95 < 300ms)", tc.what, ts)
		t.Logf("  its last load: %s", evaluate[string](t, b, `(() => {
			const e = performance.getEntriesByType('navigation')[0], ms = (x) => (x - e.startTime).toFixed(1) + 'ms';
			return 'first byte ' + ms(e.responseStart) + ', last byte ' + ms(e.responseEnd) +
				', DOM parsed ' + ms(e.domInteractive) + ', DOMContentLoaded ' + ms(e.domContentLoadedEventEnd) +
				', ' + e.transferSize + ' bytes';
		})()`))
	}
}

// A line the running job prints (appended through the runner protocol's log PATCH) reaches
// the open job page's DOM (goal: p95 under 500 ms).
func TestBrowserBenchLogLineLatency(t *testing.T) {
	n := benchSamples(t, 5, 50)
	f := newUIFixture(t)
	b := f.signIn(t)
	b.SetTimeout(2 * time.Minute)
	ts := b.LineLatency(testenv.LineProbe{
		URL:  f.jobURL("long"),
		Line: ".lv-log .lv-l",
		N:    n,
		Print: func(marker string) error {
			return f.tryLog(f.long, "$ echo "+marker+"\n")
		},
	})
	t.Logf("log line printed → in the open job page: %v (goal p95 < 500ms)", ts)
}
