package web

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// render renders a page as the server would, and returns the response.
func render(t testing.TB, s *Site, p Page) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := s.Render(w, http.StatusOK, p); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestGolden renders every page from its fixture and compares it with testdata/NAME.html.
func TestGolden(t *testing.T) {
	s := newSite(t)
	for _, f := range fixtures(t, "") {
		t.Run(f.name, func(t *testing.T) {
			got := render(t, s, f.page).Body.Bytes()
			file := filepath.Join("testdata", f.name+".html")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered page (go test -update rewrites it); rendered:\n%s", file, got)
			}
		})
	}
}

// Every page template is in the fixtures, so the goldens cover them all.
func TestEveryPageHasAFixture(t *testing.T) {
	s := newSite(t)
	seen := map[string]bool{}
	for _, f := range fixtures(t, "") {
		seen[f.page.template()] = true
	}
	for name := range s.pages {
		if !seen[name] {
			t.Errorf("page template %s has no fixture", name)
		}
	}
}

func TestHeaders(t *testing.T) {
	s := newSite(t)
	w := render(t, s, fixtures(t, "")[0].page)
	for k, v := range map[string]string{
		"Content-Security-Policy": CSP,
		"Referrer-Policy":         "same-origin",
		"X-Content-Type-Options":  "nosniff",
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "style-src 'self'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
}

// TestErrorPage404 checks the 404 page names no project.
func TestErrorPage404(t *testing.T) {
	s := newSite(t)
	w := httptest.NewRecorder()
	s.Error(w, Layout{User: "eve", CSRF: "x"}, http.StatusNotFound, "The page does not exist, or you may not see it.")
	if w.Code != http.StatusNotFound {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	if !strings.Contains(body, "Not Found") || strings.Contains(body, "project-head") {
		t.Errorf("404 page:\n%s", body)
	}
	if w.Header().Get("Content-Security-Policy") != CSP {
		t.Error("404 page without CSP")
	}
}

var (
	styleAttr   = regexp.MustCompile(`(?i)\sstyle\s*=`)
	handlerAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	inlineTag   = regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]|<style\b`)
	scriptNoSrc = regexp.MustCompile(`(?is)<script\b[^>]*>`)
)

// TestTemplatesNeedNoUnsafeInline reads every template: no style attribute, no on* event
// handler, no inline script or style element, and every script element has a src. The CSP
// forbids all of them, so any one would be a broken page.
func TestTemplatesNeedNoUnsafeInline(t *testing.T) {
	paths, err := filepath.Glob("templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob("templates/pages/*.html")
	for _, p := range append(paths, pages...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, re := range []*regexp.Regexp{styleAttr, handlerAttr, inlineTag} {
			if m := re.FindString(src); m != "" {
				t.Errorf("%s: %q is refused by the CSP", p, m)
			}
		}
		for _, tag := range scriptNoSrc.FindAllString(src, -1) {
			if !strings.Contains(tag, "src=") {
				t.Errorf("%s: inline script %q", p, tag)
			}
		}
	}
	// The rendered pages too: a template function could emit one.
	s := newSite(t)
	for _, f := range fixtures(t, "") {
		body := render(t, s, f.page).Body.String()
		for _, re := range []*regexp.Regexp{styleAttr, handlerAttr, inlineTag} {
			if m := re.FindString(body); m != "" {
				t.Errorf("rendered %s: %q is refused by the CSP", f.name, m)
			}
		}
	}
}

// TestEveryStateChangeCarriesCSRF checks every form of every page: POST forms carry the
// hidden csrf input (but the login form of a viewer without a session), and no form changes
// state with GET.
func TestEveryStateChangeCarriesCSRF(t *testing.T) {
	s := newSite(t)
	form := regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	for _, f := range fixtures(t, "") {
		body := render(t, s, f.page).Body.String()
		for _, m := range form.FindAllStringSubmatch(body, -1) {
			attrs, inner := m[1], m[2]
			switch {
			case strings.Contains(attrs, `method="post"`):
				if f.name != "login" && !strings.Contains(inner, `<input type="hidden" name="csrf" value="csrf-token-1">`) {
					t.Errorf("%s: POST form %s without the csrf input", f.name, attrs)
				}
			case strings.Contains(attrs, `method="get"`) && strings.Contains(attrs, `role="search"`):
			default:
				t.Errorf("%s: form %s is neither POST nor a search", f.name, attrs)
			}
		}
	}
}

// TestRenderConcurrently renders every page from several goroutines (run with -race).
func TestRenderConcurrently(t *testing.T) {
	s := newSite(t)
	pages := fixtures(t, "")
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, f := range pages {
				if err := s.Render(httptest.NewRecorder(), http.StatusOK, f.page); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
