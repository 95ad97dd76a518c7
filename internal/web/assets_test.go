package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestAssets serves every asset a page links to: by its content-hashed name (immutable for a
// year), by its plain name (revalidated), with its content type, an ETag that answers 304,
// and 404 for anything else.
func TestAssets(t *testing.T) {
	s := newSite(t)
	h := s.Assets()
	body := render(t, s, fixtures(t, "")[1].page).Body.String()
	links := regexp.MustCompile(`"(/-/assets/[^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(links) < 3 {
		t.Fatalf("the page links %d assets, want css, js and icon", len(links))
	}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	for _, l := range links {
		u := l[1]
		if !regexp.MustCompile(`\.[0-9a-f]{12}\.[a-z]+$`).MatchString(u) {
			t.Errorf("%s is not content-hashed", u)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", u, nil))
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", u, w.Code)
		}
		ext := u[strings.LastIndex(u, "."):]
		if got := w.Header().Get("Content-Type"); got != types[ext] {
			t.Errorf("%s: Content-Type %q, want %q", u, got, types[ext])
		}
		if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", u, got)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", u)
		}
		etag := w.Header().Get("ETag")
		hash := u[strings.LastIndex(u[:len(u)-len(ext)], ".")+1 : len(u)-len(ext)]
		if etag != `"`+hash+`"` {
			t.Errorf("%s: ETag %q, want the name's hash", u, etag)
		}
		// The plain name: same bytes, revalidated.
		plain := strings.Replace(u, "."+hash, "", 1)
		w2 := httptest.NewRecorder()
		h.ServeHTTP(w2, httptest.NewRequest("GET", plain, nil))
		if w2.Code != 200 || w2.Body.String() != w.Body.String() || w2.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: %d, Cache-Control %q", plain, w2.Code, w2.Header().Get("Cache-Control"))
		}
		r := httptest.NewRequest("GET", plain, nil)
		r.Header.Set("If-None-Match", etag)
		w3 := httptest.NewRecorder()
		h.ServeHTTP(w3, r)
		if w3.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d, want 304", plain, w3.Code)
		}
	}
	for _, u := range []string{"/-/assets/nope.css", "/-/assets/", "/-/assets/../web.go", "/other/app.css"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", u, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", u, w.Code)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", links[0][1], nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}
