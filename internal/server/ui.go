package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/logview"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// The web UI: pages rendered by package web, served from the page table below. Every page
// but the sign-in form needs a session (else a redirect to /login?next=…), every POST the
// session's CSRF token and an Origin of this server, and every page of a project a role in it:
// a project the viewer may not read is 404, as is one that does not exist, so that a page
// never tells whether a private project exists; a role too low for a form is 403.

// Who may open a page.
const (
	pageAnyone   = "anyone"    // the sign-in form
	pageSignedIn = "signed-in" // any signed-in user
	pageAdmin    = "admin"     // an admin user
	pageProject  = "project"   // /{namespace}/{project}/…: page.role in that project (anonymous
	// viewers read public projects)
)

// page is one entry of the page table.
type page struct {
	pattern string
	access  string
	// role is what a project page needs: store.RoleReporter to read, RoleDeveloper to run,
	// retry, cancel and play, RoleMaintainer for settings.
	role   store.Role
	handle func(w http.ResponseWriter, r *http.Request, pc *pageCtx) error
}

// pageCtx is what a page handler gets: who is looking, and for project pages the project
// and the viewer's role in it.
type pageCtx struct {
	v       *viewer
	project *store.Project
	role    store.Role
}

// user is the signed-in user, or nil.
func (pc *pageCtx) user() *store.User {
	if pc.v == nil {
		return nil
	}
	return pc.v.user
}

// layout is the frame of every page for this viewer (and project).
func (pc *pageCtx) layout() web.Layout {
	var l web.Layout
	if pc.v != nil {
		l.User, l.Admin, l.CSRF = pc.v.user.Username, pc.v.user.Admin, pc.v.csrf
	}
	l.Project = pc.project
	l.CanRun = pc.role >= store.RoleDeveloper
	l.CanManage = pc.role >= store.RoleMaintainer
	return l
}

// maxFormBody bounds a page form's body; the CI lint page takes a configuration, up to
// Limits.ConfigSize.
const maxFormBody = 1 << 20

// pageTable lists the pages. Handlers of each area add theirs here.
func (s *Server) pageTable() []page {
	pages := []page{
		{"GET /login", pageAnyone, store.RoleNone, s.loginGet},
		{"POST /login", pageAnyone, store.RoleNone, s.loginPost},
		{"POST /logout", pageAnyone, store.RoleNone, s.logout},
	}
	pages = slices.Concat(pages, s.pipelinePages(), s.jobPages(), s.settingsPages())
	return pages
}

// mountPages adds the pages to mux and returns mux with the pages' assets in front: paths
// under /-/assets/ would overlap the badge patterns (/{namespace}/{project}/badge.svg) in the
// mux, so they are told apart before it.
func (s *Server) mountPages(mux *http.ServeMux) http.Handler {
	for _, pg := range s.pageTable() {
		mux.Handle(pg.pattern, s.adaptPage(pg))
	}
	assets := s.site.Assets()
	logAssets := http.StripPrefix(logAssetPrefix, http.HandlerFunc(serveLogAsset))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !strings.HasPrefix(r.URL.Path, web.AssetPrefix):
			mux.ServeHTTP(w, r)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		case strings.HasPrefix(r.URL.Path, logAssetPrefix):
			logAssets.ServeHTTP(w, r)
		default:
			assets.ServeHTTP(w, r)
		}
	})
}

// logAssetPrefix is where the job log's script and stylesheet are served.
const logAssetPrefix = "/-/assets/log/"

// logAsset is one of logview's assets, with the hash of its content.
type logAsset struct {
	data []byte
	hash string
}

// logAssets are logview's assets by name, read once.
var logAssets = sync.OnceValue(func() map[string]logAsset {
	out := map[string]logAsset{}
	entries, _ := fs.ReadDir(logview.Assets, ".")
	for _, e := range entries {
		data, err := fs.ReadFile(logview.Assets, e.Name())
		if err != nil || e.IsDir() {
			continue
		}
		sum := sha256.Sum256(data)
		out[e.Name()] = logAsset{data: data, hash: hex.EncodeToString(sum[:6])}
	}
	return out
})

// logAssetURL is the URL of one of logview's assets, with its content's hash as ?v=, so that
// browsers keep it until it changes.
func logAssetURL(name string) string {
	return logAssetPrefix + name + "?v=" + logAssets()[name].hash
}

// serveLogAsset serves one of logview's assets (its name is the request's path): cached for
// good when asked for by logAssetURL's hash, else revalidated by its ETag.
func serveLogAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := logAssets()[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+a.hash+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(a.data))
}

// adaptPage checks who may open pg, runs it and answers its error with an error page.
func (s *Server) adaptPage(pg page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.SetHeaders(w.Header())
		pc := &pageCtx{}
		err := s.admit(w, r, pg, pc)
		if err == nil {
			err = s.servePage(pg, w, r, pc)
		}
		if err == nil || errors.Is(err, errAnswered) {
			return
		}
		status, msg := s.errorAnswer(pg.pattern, err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		if status == http.StatusNotFound {
			msg = "The page could not be found or you do not have permission to view it."
		}
		s.site.Error(w, pc.layout(), status, msg)
	})
}

// errAnswered is returned by admit when it has answered the request itself (a redirect to
// the sign-in form).
var errAnswered = errors.New("answered")

// admit finds the viewer and, for project pages, the project and the viewer's role, and
// refuses what the viewer may not do. It fills pc.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, pg page, pc *pageCtx) error {
	v, err := s.viewerOf(r)
	if err != nil {
		return err
	}
	pc.v = v
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, max(maxFormBody, int64(s.o.Limits.ConfigSize)+64<<10))
	}
	if pg.access == pageAnyone {
		return nil // the sign-in handlers check what they need themselves
	}
	if r.Method == http.MethodPost {
		// A body past the limit is 413, not a form without its CSRF token.
		var mbe *http.MaxBytesError
		if err := r.ParseForm(); errors.As(err, &mbe) {
			return err
		}
	}
	if r.Method == http.MethodPost && (!s.sameOrigin(r) || !checkCSRF(v, r)) {
		return errStatus(http.StatusForbidden, "The form was refused: it did not come from this page (missing or wrong CSRF token). Reload the page and try again.")
	}
	switch pg.access {
	case pageSignedIn, pageAdmin:
		if v == nil {
			return s.toLogin(w, r)
		}
		if pg.access == pageAdmin && !v.user.Admin {
			return store.ErrNotFound
		}
		return nil
	}
	p, err := s.store.ProjectByPath(r.Context(), r.PathValue("namespace")+"/"+r.PathValue("project"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	role := store.RoleNone
	if p != nil {
		if role, err = s.projectRole(r.Context(), pc.user(), p); err != nil {
			return err
		}
	}
	if role < store.RoleReporter {
		if v == nil {
			return s.toLogin(w, r) // as for a project that does not exist
		}
		return store.ErrNotFound
	}
	pc.project, pc.role = p, role
	if role < pg.role {
		if v == nil {
			return s.toLogin(w, r)
		}
		return errStatus(http.StatusForbidden, "Your role in this project does not allow this.")
	}
	return nil
}

// toLogin redirects a signed-out viewer to the sign-in form, which comes back to the page
// (a GET's own URL; after a POST, the page the form was on is not known: the dashboard).
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) error {
	next := "/"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	return errAnswered
}

// servePage runs a page's handler; a panic in it (a bug) is an internal error, as for the API.
func (s *Server) servePage(pg page, w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	return s.serve(route{pattern: pg.pattern, handle: func(w http.ResponseWriter, r *http.Request, _ *caller) error {
		return pg.handle(w, r, pc)
	}}, w, r, nil)
}

// refused reports whether err is a change a form asked for and the server refused (a 4xx
// the API answers too), with its status and message, for the page to show beside the form's
// values; ok is false for errors that get the error page (an unavailable store, a bug).
func refused(err error) (status int, msg string, ok bool) {
	var he *httpError
	if errors.As(err, &he) && he.status >= 400 && he.status < 500 {
		return he.status, he.msg, true
	}
	return 0, "", false
}
