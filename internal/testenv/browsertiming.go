package testenv

import (
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Timings are the samples of one measurement.
type Timings []time.Duration

// Quantile is the q-quantile (0 < q ≤ 1) by nearest rank: the smallest sample that at
// least q of the samples do not exceed. It is 0 when there is no sample.
func (ts Timings) Quantile(q float64) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	s := slices.Clone(ts)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (ts Timings) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("n=%d p50=%s p95=%s max=%s", len(ts), ms(ts.Quantile(0.5)), ms(ts.Quantile(0.95)), ms(ts.Quantile(1)))
}

// domContentLoaded is the time from the start of the navigation of the page in the tab to
// the end of its DOMContentLoaded handlers, in ms, from the Navigation Timing API.
const domContentLoaded = `(() => {
	const e = performance.getEntriesByType('navigation')[0];
	return e ? e.domContentLoadedEventEnd - e.startTime : -1;
})()`

// LoadTimes opens url n times (after one load not counted, which fills the tab's HTTP
// cache as a reader's earlier visit would) and returns the time of each to DOMContentLoaded
// as the page measures it: from the start of the navigation, request included, to the end
// of the DOMContentLoaded handlers.
func (b *Browser) LoadTimes(url string, n int) Timings {
	b.t.Helper()
	ts := make(Timings, 0, n)
	for i := -1; i < n; i++ {
		b.Do(chromedp.Navigate(url))
		ms, err := run(b, chromedp.Evaluate[float64](domContentLoaded))
		if err != nil {
			b.t.Fatalf("testenv: navigation timing of %s: %v", url, err)
		}
		if ms < 0 {
			b.t.Fatalf("testenv: %s has no navigation timing entry", url)
		}
		if i >= 0 {
			ts = append(ts, time.Duration(ms*float64(time.Millisecond)))
		}
	}
	return ts
}

// LineProbe says how to measure the time a printed log line takes to reach an open page.
type LineProbe struct {
	// URL is the page to open, e.g. a running job's page.
	URL string
	// Line is a CSS selector matching one log line element of the page, e.g. ".log .line".
	Line string
	// Print makes the job print a line containing marker (a word of letters, digits and
	// dashes) and returns when it has been written, e.g. by appending to the job's log as
	// the runner does.
	Print func(marker string) error
	// N is the number of lines to time, one after the other. 0 means 20.
	N int
	// Timeout is how long to wait for one line to appear. 0 means 10 s.
	Timeout time.Duration
}

// markerObserver installs, in the page, a MutationObserver that records when a line
// (matching the selector) containing a marker first appears or changes to contain it:
// window.__slipwaySeen[marker] = ms since the Unix epoch, as performance.timeOrigin +
// performance.now() (sub-millisecond, where Date.now() has whole ms).
const markerObserver = `((sel) => {
	const seen = {};
	window.__slipwaySeen = seen;
	const re = /slipway-mark-[A-Za-z0-9]+-[0-9]+/g;
	const scan = (el) => {
		for (const m of (el.textContent || '').matchAll(re)) {
			if (!(m[0] in seen)) seen[m[0]] = performance.timeOrigin + performance.now();
		}
	};
	new MutationObserver((records) => {
		for (const r of records) {
			const nodes = r.type === 'characterData' ? [r.target] : r.addedNodes;
			for (const n of nodes) {
				const el = n.nodeType === Node.ELEMENT_NODE ? n : n.parentElement;
				if (!el) continue;
				const line = el.closest(sel);
				if (line) { scan(line); continue; }
				el.querySelectorAll(sel).forEach(scan);
			}
		}
	}).observe(document, {childList: true, subtree: true, characterData: true});
	return true;
})(%q)`

// LineLatency opens p.URL, then p.N times makes the job print a line with a new marker and
// measures the time from just before p.Print to the moment the line is in the page's DOM
// (seen by a MutationObserver, before paint). Go's clock and the page's are the same
// machine's wall clock. It fails the test when a line does not appear within p.Timeout.
func (b *Browser) LineLatency(p LineProbe) Timings {
	b.t.Helper()
	n, timeout := p.N, p.Timeout
	if n == 0 {
		n = 20
	}
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	b.Do(chromedp.Navigate(p.URL), chromedp.Evaluate[chromedp.Void](fmt.Sprintf(markerObserver, p.Line)))
	run := strings.ToLower(rand.Text()[:8])
	ts := make(Timings, 0, n)
	for i := range n {
		marker := fmt.Sprintf("slipway-mark-%s-%d", run, i)
		start := time.Now()
		if err := p.Print(marker); err != nil {
			b.t.Fatalf("testenv: print line %d: %v", i, err)
		}
		ms, err := runFor(b, timeout+StepTimeout, chromedp.Poll[float64](fmt.Sprintf(`window.__slipwaySeen[%q]`, marker),
			chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
		if err != nil {
			b.t.Fatalf("testenv: line %q did not appear in %s (selector %s) within %v: %v", marker, p.URL, p.Line, timeout, err)
		}
		seen := time.UnixMicro(int64(ms * 1000))
		ts = append(ts, max(0, seen.Sub(start)))
	}
	return ts
}
