// Package web renders Slipway's pages: the html/template templates, the stylesheet and the small
// scripts (embedded, served under /-/assets/), the view models the templates read, and the
// fragments the server sends over Server-Sent Events to keep a page live. It owns no routing,
// no sign-in and no data access: the page handlers of package server fill a view model and call
// Site.Render. The job log's HTML and its script are package logview's; the job page only holds
// the log in a slot (Job.Log).
//
// Every page is readable without JavaScript. Templates hold no inline script, no style
// attribute and no event handler attribute, so the Content-Security-Policy of SetHeaders can
// forbid them.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"sync"
	"time"
)

//go:embed templates assets
var files embed.FS

// Options configures a Site.
type Options struct {
	// Name is the product name shown in titles and the header; "" means "Slipway".
	Name string
	// Now gives the time relative times ("3 min ago") are measured from; nil means time.Now.
	Now func() time.Time
}

// Site renders pages. It is safe for concurrent use.
type Site struct {
	name   string
	now    func() time.Time
	pages  map[string]*template.Template // by page template name
	parts  *template.Template            // layout and partials, for fragments
	assets *assets
	bufs   sync.Pool
}

// Page is a view model Render can render: one of the page types of this package.
type Page interface {
	template() string
}

// New parses every template and hashes every asset once.
func New(o Options) (*Site, error) {
	s := &Site{name: o.Name, now: o.Now, pages: map[string]*template.Template{}}
	if s.name == "" {
		s.name = "Slipway"
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	a, err := loadAssets(files)
	if err != nil {
		return nil, err
	}
	s.assets = a
	base, err := template.New("base").Funcs(s.funcs()).ParseFS(files, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(files, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("list page templates: %w", err)
	}
	for _, n := range names {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("clone layout for %s: %w", n, err)
		}
		if _, err := t.ParseFS(files, n); err != nil {
			return nil, fmt.Errorf("parse page %s: %w", n, err)
		}
		s.pages[path.Base(n[:len(n)-len(".html")])] = t
	}
	if s.parts, err = base.Clone(); err != nil {
		return nil, fmt.Errorf("clone partials: %w", err)
	}
	return s, nil
}

// CSP is the Content-Security-Policy of every page: no inline script or style, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// SetHeaders sets the security headers every page carries: the CSP, Referrer-Policy,
// X-Content-Type-Options, and no caching (pages hold CSRF tokens and private data).
func SetHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// Render renders page with the given HTTP status. Nothing is written when the template fails,
// so the caller can still answer with an error page.
func (s *Site) Render(w http.ResponseWriter, status int, page Page) error {
	t := s.pages[page.template()]
	if t == nil {
		return fmt.Errorf("render %s: no such page template", page.template())
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); s.bufs.Put(buf) }()
	if err := t.ExecuteTemplate(buf, "layout", page); err != nil {
		return fmt.Errorf("render %s: %w", page.template(), err)
	}
	SetHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Error renders the error page: the status text and msg, which must say nothing the viewer
// may not know (a 404 never tells whether a private project exists). l may be the zero
// Layout (signed out).
func (s *Site) Error(w http.ResponseWriter, l Layout, status int, msg string) {
	p := ErrorPage{Layout: l, Status: status, Title: http.StatusText(status), Message: msg}
	if p.Title == "" {
		p.Title = "Error"
	}
	if err := s.Render(w, status, p); err != nil {
		// The error template is static apart from escaped text; should it fail, a plain
		// answer still carries the status.
		SetHeaders(w.Header())
		http.Error(w, p.Title, status)
	}
}
