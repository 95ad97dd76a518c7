package testenv

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestMain(m *testing.M) { os.Exit(BrowserMain(m)) }

// strictCSP is the policy Slipway's pages send.
const strictCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// site serves pages (path → HTML or JS) with the strict CSP.
func site(t *testing.T, pages map[string]string) *httptest.Server {
	ts := httptest.NewServer(siteHandler(pages))
	t.Cleanup(ts.Close)
	return ts
}

func siteHandler(pages map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", strictCSP)
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		fmt.Fprint(w, body)
	})
}

// An inline script, an inline event handler and a style attribute under the strict CSP are
// refused by the browser, and the harness reports each, so that a page test fails on them.
func TestBrowserCSPViolationCaught(t *testing.T) {
	t.Parallel()
	ts := site(t, map[string]string{
		"/": `<!doctype html><title>csp</title><p id=state style="color: red">inert</p>` +
			`<script>document.getElementById('state').textContent = 'ran'</script>` +
			`<img src="data:," onerror="document.getElementById('state').textContent = 'ran'">`,
	})
	b := RequireBrowser(t)
	b.Open(ts.URL+"/", "#state")
	if got := b.Text("#state"); got != "inert" {
		t.Errorf("inline code ran under the CSP: #state = %q", got)
	}
	var csp int
	for _, p := range b.TakeProblems() {
		t.Log(p)
		if strings.Contains(p, "Content Security Policy") {
			csp++
		}
	}
	if csp < 3 {
		t.Errorf("want the inline script, handler and style attribute reported as CSP violations, got %d", csp)
	}
	b.Screenshot("csp")
}

// A problem the test did not take fails the test when it ends: an uncaught exception, a
// console.error, an alert (which must not stall the page) and a failed load.
func TestBrowserProblemsFailTheTest(t *testing.T) {
	t.Parallel()
	ts := site(t, map[string]string{
		"/":       `<!doctype html><title>x</title><p id=ok>ok</p><script src="/app.js"></script><img src="/missing.png">`,
		"/app.js": `console.error("boom"); alert("xss"); throw new Error("kaput");`,
	})
	rec := &recorder{}
	t.Run("page", func(t *testing.T) {
		rec.TB = t
		b := RequireBrowser(rec)
		b.Open(ts.URL+"/", "#ok")
	})
	for _, want := range []string{"exception: Uncaught Error: kaput", "console.error: boom", `dialog: alert("xss")`, "404"} {
		if !strings.Contains(rec.errored, want) {
			t.Errorf("the test's end reported %q, want it to contain %q", rec.errored, want)
		}
	}
}

// A form reached with the keyboard, filled and submitted; SignIn through /login.
func TestBrowserSubmitForm(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", strictCSP)
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, `<!doctype html><title>r</title><p id=who>%s/%s</p>`,
				r.PostFormValue("username"), r.PostFormValue("password"))
			return
		}
		fmt.Fprint(w, `<!doctype html><title>f</title><form id=login method=post action="/login">`+
			`<input name=username><input name=password type=password><button>Sign in</button></form>`)
	}))
	t.Cleanup(ts.Close)
	b := RequireBrowser(t)
	b.Open(ts.URL+"/login", "#login")
	var stops []string
	for range 3 {
		stops = append(stops, b.Tab())
	}
	if got, want := strings.Join(stops, ", "), `input "username", input "password", button "Sign in"`; got != want {
		t.Errorf("Tab goes through %s, want %s", got, want)
	}
	if status := b.Submit("#login", map[string]string{"username": "ada", "password": "s3cret"}); status != 200 {
		t.Errorf("status %d", status)
	}
	if got := b.Text("#who"); got != "ada/s3cret" {
		t.Errorf("posted %q", got)
	}
	if status := b.SignIn(ts.URL, "admin", "pa ss"); status != 200 {
		t.Errorf("SignIn: status %d", status)
	}
	if got := b.Text("#who"); got != "admin/pa ss" {
		t.Errorf("SignIn posted %q", got)
	}
}

func TestBrowserScreenshotWidths(t *testing.T) {
	t.Parallel()
	ts := site(t, map[string]string{
		"/": `<!doctype html><meta name=viewport content="width=device-width"><title>s</title><h1>Slipway</h1>`,
	})
	b := RequireBrowser(t)
	b.Open(ts.URL+"/", "h1")
	paths := b.Screenshot("page")
	for i, want := range []int{DesktopWidth, PhoneWidth} {
		data, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", paths[i], err)
		}
		if cfg.Width != want {
			t.Errorf("%s is %d px wide, want %d", paths[i], cfg.Width, want)
		}
	}
}

// logSite is a stand-in for a job page: the page appends each line the server sends over
// SSE, and a new connection gets every line from the first (as a page resuming from the
// byte it holds would).
type logSite struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line is added
	delay   time.Duration // before a printed line is sent
}

func (s *logSite) print(line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *logSite) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	sent := 0
	for {
		s.mu.Lock()
		lines, changed := s.lines[sent:], s.changed
		s.mu.Unlock()
		for _, l := range lines {
			if s.delay > 0 {
				select {
				case <-time.After(s.delay):
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: %s\n\n", l)
		}
		sent += len(lines)
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func newLogSite(t *testing.T, delay time.Duration) (*logSite, *httptest.Server) {
	s := &logSite{changed: make(chan struct{}), delay: delay}
	pages := siteHandler(map[string]string{
		"/job": `<!doctype html><title>job</title><button id=hide>Hide</button><p id=state>shown</p>` +
			`<pre id=log></pre><script src="/app.js"></script>`,
		"/app.js": `const log = document.getElementById('log');
document.getElementById('hide').addEventListener('click', () => {
	if (!confirm('Hide the log?')) return;
	log.hidden = true;
	document.getElementById('state').textContent = 'hidden';
});
new EventSource('/events').onmessage = (e) => {
	const line = document.createElement('div');
	line.className = 'line';
	line.textContent = e.data;
	log.appendChild(line);
};`,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/events", s.events)
	mux.Handle("/", pages)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return s, ts
}

// A page that updates live: lines arrive over SSE, and a click hides them after a confirm
// (accepted, and no problem), with no reload.
func TestBrowserWaitTextAndClick(t *testing.T) {
	t.Parallel()
	s, ts := newLogSite(t, 0)
	b := RequireBrowser(t)
	b.Open(ts.URL+"/job", "#log")
	b.Do(chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	for _, line := range []string{"one", "two", "three"} {
		if err := s.print("line " + line); err != nil {
			t.Fatal(err)
		}
		b.WaitText("#log", "line "+line)
	}
	b.Click("#hide")
	if got := b.WaitText("#state", "hidden"); got != "hidden" {
		t.Errorf("#state = %q", got)
	}
	if same, err := chromedp.Run(b.Context(), chromedp.Evaluate[bool](`window.sameDocument === true`)); err != nil || !same {
		t.Errorf("the page reloaded (%v)", err)
	}
}

// The latency driver times lines through an SSE page, and what it measures includes a delay
// the server adds. Timing tests do not run in parallel with other browser tests.
func TestBrowserLineLatency(t *testing.T) {
	for _, delay := range []time.Duration{0, 150 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			s, ts := newLogSite(t, delay)
			b := RequireBrowser(t)
			lat := b.LineLatency(LineProbe{URL: ts.URL + "/job", Line: "#log .line", Print: s.print, N: 10})
			t.Logf("line latency with %v added: %v", delay, lat)
			if len(lat) != 10 {
				t.Fatalf("%d samples, want 10", len(lat))
			}
			if p50 := lat.Quantile(0.5); p50 < delay || p50 > delay+2*time.Second {
				t.Errorf("p50 %v with a delay of %v", p50, delay)
			}
		})
	}
}

func TestBrowserLoadTimes(t *testing.T) {
	slow := 100 * time.Millisecond
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(slow) // the delay the measurement must see
		}
		fmt.Fprint(w, `<!doctype html><title>t</title><p>page</p>`)
	}))
	t.Cleanup(ts.Close)
	b := RequireBrowser(t)
	fast := b.LoadTimes(ts.URL+"/", 5)
	slowed := b.LoadTimes(ts.URL+"/slow", 5)
	t.Logf("DOMContentLoaded: %v; with %v server time: %v", fast, slow, slowed)
	if len(fast) != 5 || fast.Quantile(0.5) <= 0 {
		t.Errorf("fast page: %v", fast)
	}
	if slowed.Quantile(0.5) < slow {
		t.Errorf("a page served in %v took %v to DOMContentLoaded", slow, slowed.Quantile(0.5))
	}
}

func TestTimingsQuantile(t *testing.T) {
	ts := Timings{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.95, 10}, {0.1, 1}, {1, 10}} {
		if got := ts.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := (Timings{}).Quantile(0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

// A wait that cannot end fails the test when its browser time is up, with the reason.
func TestBrowserTimeoutFailsFast(t *testing.T) {
	t.Parallel()
	ts := site(t, map[string]string{"/": `<!doctype html><title>x</title><p>no such element</p>`})
	rec := &recorder{}
	start := time.Now()
	t.Run("page", func(t *testing.T) {
		rec.TB = t
		b := RequireBrowser(rec)
		b.Open(ts.URL+"/", "p")
		b.SetTimeout(500 * time.Millisecond)
		b.Text("#never")
	})
	if !strings.Contains(rec.failed, "browser time is up") || !strings.Contains(rec.failed, ts.URL) {
		t.Errorf("failure %q, want the reason and the URL", rec.failed)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failed after %v", d)
	}
}
