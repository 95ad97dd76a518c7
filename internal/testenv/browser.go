package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// BrowserTimeout bounds everything one test does in its browser tab (SetTimeout changes it
// for one test): when it passes, the tab closes and every browser call of the test fails.
const BrowserTimeout = 60 * time.Second

// StepTimeout bounds one call of a Browser method (a navigation, a wait for a selector), so
// that a selector that never matches fails the test in seconds, with the URL it was at.
const StepTimeout = 15 * time.Second

// errBrowserTime is why a tab closes when its test's browser time is up.
var errBrowserTime = errors.New("the test's browser time is up (testenv.BrowserTimeout, or Browser.SetTimeout)")

// Viewport widths: pages are checked and photographed at a desktop and a phone width.
const (
	DesktopWidth = 1280
	PhoneWidth   = 390
)

// chromiumNames are the programs RequireBrowser looks for on PATH when SLIPWAY_TEST_CHROMIUM
// is empty: Debian's chromium first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// chromium is the one headless browser of the test binary. BrowserMain sets main; the first
// RequireBrowser starts the browser, BrowserMain stops it after the tests.
var chromium struct {
	mu     sync.Mutex
	main   bool
	ctx    context.Context // the chromedp context of the browser; nil until started
	cancel context.CancelFunc
	tmp    string // the browser's TMPDIR and profile, removed after it stops
	err    error  // why it could not start; sticky, so that every test says the same
}

// BrowserMain runs the tests of a package that uses RequireBrowser and then stops its
// Chromium, so that no browser process or profile directory outlives the test binary. It
// returns m.Run's exit code:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.BrowserMain(m)) }
func BrowserMain(m *testing.M) int {
	chromium.mu.Lock()
	chromium.main = true
	chromium.mu.Unlock()
	code := m.Run()
	chromium.mu.Lock()
	defer chromium.mu.Unlock()
	if chromium.cancel != nil {
		// Cancelling the browser context closes Chromium, waits for its process and
		// removes its temporary profile.
		chromium.cancel()
		chromium.ctx, chromium.cancel = nil, nil
	}
	if chromium.tmp != "" {
		_ = os.RemoveAll(chromium.tmp)
	}
	return code
}

// chromiumPath is the browser to run: SLIPWAY_TEST_CHROMIUM, else the first of
// chromiumNames on PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("SLIPWAY_TEST_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("SLIPWAY_TEST_CHROMIUM=%s: %w", p, err)
		}
		return path, nil
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("none of %s is on PATH and SLIPWAY_TEST_CHROMIUM is not set (apt-get install chromium)",
		strings.Join(chromiumNames, ", "))
}

// browser returns the chromedp context of the shared Chromium, starting it on first use.
// notFound is true when there is no browser to start (the test is then skipped locally).
func browser() (ctx context.Context, notFound bool, err error) {
	chromium.mu.Lock()
	defer chromium.mu.Unlock()
	if !chromium.main {
		return nil, false, errors.New("call testenv.BrowserMain from the package's TestMain: it stops the browser after the tests")
	}
	if chromium.ctx != nil || chromium.err != nil {
		return chromium.ctx, false, chromium.err
	}
	path, err := chromiumPath()
	if err != nil {
		return nil, true, err
	}
	// Chromium leaves a socket directory in TMPDIR when it is killed: give it a TMPDIR (and
	// profile) of its own that BrowserMain removes.
	tmp, err := os.MkdirTemp("", "slipway-chromium-")
	if err != nil {
		chromium.err = fmt.Errorf("browser temp dir: %w", err)
		return nil, false, chromium.err
	}
	chromium.tmp = tmp
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.WindowSize(DesktopWidth, 800),
		// No GPU in CI; software rendering keeps screenshots the same everywhere.
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium does not start as root with its sandbox on ("Running as root without
		// --no-sandbox is not supported", crbug.com/638180), and CI runs as root in a
		// container. The pages under test are ours, served on 127.0.0.1; a normal user keeps
		// the sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	// Start the browser now, with no deadline: the first Run binds the browser's life to its
	// context, so a timeout here would close it for every later test.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(bctx) }()
	select {
	case err = <-start:
	case <-time.After(30 * time.Second):
		err = errors.New("no answer within 30 s")
	}
	if err != nil {
		cancelBrowser()
		cancelAlloc()
		chromium.err = fmt.Errorf("start %s: %w", path, err)
		return nil, false, chromium.err
	}
	chromium.ctx = bctx
	chromium.cancel = func() { cancelBrowser(); cancelAlloc() }
	return bctx, false, nil
}

// Browser is one tab of the test binary's headless Chromium, in a browser context of its
// own (cookies, storage and cache are the test's alone), with a DesktopWidth×800 viewport.
// It records what the page reports as wrong — uncaught exceptions, console.error, and the
// browser's own error log: Content-Security-Policy violations, failed loads of scripts,
// styles, images and fetches (not the page's own status, which Open and Submit return, nor
// the /favicon.ico the browser asks for by itself), alert and prompt dialogs (it accepts
// every dialog, confirms too) — and fails the test at its end if any is
// left that TakeProblems did not take. Its methods fail the test on error, so call them from
// the test's goroutine.
type Browser struct {
	t     testing.TB
	ctx   context.Context // the tab
	timer *time.Timer     // closes the tab when the test's browser time is up

	mu       sync.Mutex
	problems []string
	url      string // of the page in the tab
}

// RequireBrowser opens a Browser for t, closed when t ends; everything t does in it is
// bounded by BrowserTimeout. It skips t (fails it under CI) when no Chromium is installed:
// SLIPWAY_TEST_CHROMIUM names the program, else chromium, chromium-browser or google-chrome
// is looked up on PATH. The package's TestMain must call BrowserMain.
func RequireBrowser(t testing.TB) *Browser {
	t.Helper()
	bctx, notFound, err := browser()
	if notFound {
		unavailable(t, "no Chromium: %v", err)
	}
	if err != nil {
		t.Fatalf("testenv: browser: %v", err)
	}
	life, end := context.WithCancelCause(bctx)
	tab, cancelTab := chromedp.NewContext(life, chromedp.WithNewBrowserContext())
	b := &Browser{t: t, ctx: tab, timer: time.AfterFunc(BrowserTimeout, func() { end(errBrowserTime) })}
	t.Cleanup(func() {
		b.timer.Stop()
		cancelTab()
		end(nil)
		if ps := b.TakeProblems(); len(ps) > 0 {
			t.Errorf("testenv: the page reported %d problem(s) (TakeProblems takes expected ones):\n\t%s",
				len(ps), strings.Join(ps, "\n\t"))
		}
	})
	if err := chromedp.Do(tab); err != nil { // opens the tab
		t.Fatalf("testenv: open a tab: %v", err)
	}
	if err := chromedp.Listen(tab, b.record); err != nil {
		t.Fatalf("testenv: listen to the tab: %v", err)
	}
	b.Do(chromedp.EmulateViewport(DesktopWidth, 800))
	return b
}

// record keeps the events that say the page went wrong, and the page's URL. It runs in
// chromedp's event loop, so it only stores.
func (b *Browser) record(ev any) {
	var p string
	switch ev := ev.(type) {
	case *page.EventFrameNavigated:
		if ev.Frame.ParentID == "" {
			b.mu.Lock()
			b.url = ev.Frame.URL
			b.mu.Unlock()
		}
		return
	case *page.EventJavascriptDialogOpening:
		// A dialog stalls the page until answered; answer it from another goroutine, as
		// this one must not send commands. A confirm (remove this runner?) is accepted; an
		// alert or a prompt is what injected script does, and a problem.
		go func() {
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}()
		if ev.Type == page.DialogTypeConfirm || ev.Type == page.DialogTypeBeforeunload {
			return
		}
		p = fmt.Sprintf("dialog: %s(%q)", ev.Type, ev.Message)
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = "exception: " + d.Text
		if d.Exception != nil {
			desc, _, _ := strings.Cut(d.Exception.Description, "\n")
			p += " " + desc
		}
		p += fmt.Sprintf(" (%s:%d:%d)", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, strings.Trim(string(a.Value), `"`))
			} else {
				args = append(args, a.Description)
			}
		}
		p = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError || ev.Entry.Source == log.EntrySourceNetwork &&
			(ev.Entry.URL == b.location() || strings.HasSuffix(ev.Entry.URL, "/favicon.ico")) {
			// A page's own status is for the test to check (Open returns it), and the
			// browser asks for /favicon.ico on its own when a page names no icon.
			return
		}
		p = fmt.Sprintf("%s error: %s", ev.Entry.Source, ev.Entry.Text)
		if ev.Entry.URL != "" {
			p += " (" + ev.Entry.URL + ")"
		}
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, p)
	b.mu.Unlock()
}

// SetTimeout gives the test d more browser time from now, in place of what is left of
// BrowserTimeout: for benchmarks that load many pages.
func (b *Browser) SetTimeout(d time.Duration) { b.timer.Reset(d) }

// runFor runs a in the tab, bounded by d, and says why it failed.
func runFor[T any](b *Browser, d time.Duration, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	switch {
	case err == nil:
	case context.Cause(b.ctx) != nil:
		err = fmt.Errorf("%w: %w", err, context.Cause(b.ctx))
	case ctx.Err() != nil:
		err = fmt.Errorf("%w: nothing within %v", err, d)
	}
	return v, err
}

// run runs a in the tab, bounded by StepTimeout.
func run[T any](b *Browser, a chromedp.Action[T]) (T, error) { return runFor(b, StepTimeout, a) }

// TakeProblems returns the problems the page reported so far and forgets them, so that a
// test that expects some (a CSP violation it provokes) can check them and still pass.
func (b *Browser) TakeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := b.problems
	b.problems = nil
	return ps
}

// Context is the tab's chromedp context, for actions the helpers do not cover:
// chromedp.Run(b.Context(), chromedp.Evaluate[int](`1+1`)). It ends with the test's browser
// time; StepTimeout does not apply.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs chromedp actions in the tab, all within StepTimeout, and fails the test on the
// first error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if _, err := run(b, chromedp.Steps(actions...)); err != nil {
		b.t.Fatalf("testenv: browser at %s: %v", b.location(), err)
	}
}

// location is the URL of the page in the tab, for error messages.
func (b *Browser) location() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.url
}

// Open navigates to url, waits until an element matching the CSS selector is visible and
// returns the HTTP status of the page (after redirects).
func (b *Browser) Open(url, selector string) int64 {
	b.t.Helper()
	resp, err := run(b, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("testenv: open %s: %v", url, err)
	}
	b.Do(chromedp.WaitVisible(chromedp.CSS(selector)))
	return resp.Status
}

// Text returns the visible text of the first element matching the CSS selector, waiting
// for it to be visible.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	s, err := run(b, chromedp.Text(chromedp.CSS(selector), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("testenv: text of %s at %s: %v", selector, b.location(), err)
	}
	return s
}

// WaitText waits until the visible text of the first element matching the CSS selector
// contains want (a page updating live) and returns that text.
func (b *Browser) WaitText(selector, want string) string {
	b.t.Helper()
	const contains = `(sel, want) => {
		const el = document.querySelector(sel);
		return el && el.innerText.includes(want) ? el.innerText : false;
	}`
	s, err := run(b, chromedp.PollFunction[string](contains, chromedp.WithPollingArgs(selector, want),
		chromedp.WithPollingTimeout(StepTimeout)))
	if err != nil {
		b.t.Fatalf("testenv: wait for %q in %s at %s: %v", want, selector, b.location(), err)
	}
	return s
}

// Click clicks the first visible element matching the CSS selector, as a user would. It
// does not wait for a page to load: Submit does.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.Do(chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
}

// Tab presses the Tab key, as a keyboard user moves through a page, and returns what has the
// focus then: its tag, #id if any, and its name or visible text, e.g. `button "Sign in"`.
func (b *Browser) Tab() string {
	b.t.Helper()
	const focused = `(() => {
		const el = document.activeElement;
		if (!el || el === document.body) return '';
		let s = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
		const label = el.getAttribute('name') || (el.innerText || '').trim();
		return label ? s + ' ' + JSON.stringify(label.slice(0, 40)) : s;
	})()`
	b.Do(chromedp.KeyEvent(kb.Tab))
	s, err := run(b, chromedp.Evaluate[string](focused))
	if err != nil {
		b.t.Fatalf("testenv: focused element at %s: %v", b.location(), err)
	}
	return s
}

// Submit fills the fields of the form matching the CSS selector (name → value, set on the
// element with that name attribute), clicks its submit button as a user would, waits for the
// page it leads to and returns that page's HTTP status.
func (b *Browser) Submit(form string, fields map[string]string) int64 {
	b.t.Helper()
	for name, value := range fields {
		b.Do(chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`%s [name=%q]`, form, name)), value))
	}
	button := fmt.Sprintf(`%[1]s button:not([type]), %[1]s button[type=submit], %[1]s input[type=submit]`, form)
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("testenv: submit %s at %s: %v", form, b.location(), err)
	}
	return resp.Status
}

// SignIn signs in to the Slipway server at baseURL (http://host:port) through its /login
// form, whose inputs are named username and password, and returns the status of the page it
// leads to. The session cookie stays in this Browser only.
func (b *Browser) SignIn(baseURL, username, password string) int64 {
	b.t.Helper()
	const form = `form:has([name="password"])`
	b.Open(baseURL+"/login", form)
	return b.Submit(form, map[string]string{"username": username, "password": password})
}

// ColorScheme makes the page see prefers-color-scheme: "light" or "dark" ("" is the
// browser's default, light).
func (b *Browser) ColorScheme(scheme string) {
	b.t.Helper()
	b.Do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// Screenshot writes full-page PNGs of the tab at DesktopWidth and at PhoneWidth (as a phone:
// mobile viewport, touch) to ArtifactDir(t), as NAME-1280.png and NAME-390.png, and returns
// their paths. The viewport is back to DesktopWidth afterwards. As on a phone, a page without
// <meta name="viewport" content="width=device-width"> is laid out 980 px wide, and so is its
// phone image.
func (b *Browser) Screenshot(name string) []string {
	b.t.Helper()
	dir := ArtifactDir(b.t)
	var paths []string
	for _, w := range []int64{DesktopWidth, PhoneWidth} {
		if w == PhoneWidth {
			b.Do(chromedp.EmulateViewport(w, 844, chromedp.EmulateMobile))
		} else {
			b.Do(chromedp.EmulateViewport(w, 800))
		}
		png, err := run(b, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatalf("testenv: screenshot %s at %d px: %v", name, w, err)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatalf("testenv: %v", err)
		}
		paths = append(paths, path)
	}
	b.Do(chromedp.EmulateViewport(DesktopWidth, 800))
	b.t.Logf("screenshots: %s", strings.Join(paths, " "))
	return paths
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// ArtifactDir is the folder for files a test leaves to be looked at (screenshots):
// $SLIPWAY_TEST_ARTIFACTS/<test name> when that variable is set (.ci/run sets it to
// .ci/out/artifacts, which it keeps), else a t.TempDir() removed after the test.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("SLIPWAY_TEST_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, unsafeName.ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: artifacts: %v", err)
	}
	return dir
}
