package server

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// Sessions, sign-in and CSRF.
//
// Signing in (POST /login) makes a session: a random token in the slipway_session cookie
// (HttpOnly, SameSite=Lax, Path=/, Secure over TLS or when Options.URL is https), of which
// the store keeps only the SHA-256, and a CSRF token every state-changing form of the
// session sends back (checkCSRF). A session ends when it has been unused for
// Limits.SessionIdle, when it is Limits.SessionLifetime old, when its user is disabled, or at
// sign-out.

// sessionCookie is the name of the session cookie.
const sessionCookie = "slipway_session"

// sessionTouch is how stale a session's LastSeen may get before a request writes it again:
// a request does not write to the store each time.
const sessionTouch = time.Minute

// viewer is the signed-in user of a page request, with its session and the session's CSRF
// token (for forms). A nil *viewer is anonymous.
type viewer struct {
	user    *store.User
	session *store.Session
	csrf    string
}

// viewerOf is the signed-in user of r from its session cookie, or nil, nil when there is no
// cookie, no such session (deleted, signed out), the session ended (idle too long, too old)
// or its user is disabled or gone. A store that fails is an error (store.ErrUnavailable:
// answer 503), never anonymous.
func (s *Server) viewerOf(r *http.Request) (*viewer, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ctx := r.Context()
	hash := hashToken(c.Value)
	ss, err := s.store.Session(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(ss.Expires) || now.Sub(ss.LastSeen) >= s.o.Limits.SessionIdle {
		if err := s.store.DeleteSession(ctx, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	u, err := s.activeUser(ctx, ss.UserID)
	if u == nil || err != nil {
		return nil, err
	}
	if now.Sub(ss.LastSeen) >= sessionTouch {
		err := s.store.TouchSession(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil // signed out meanwhile
		}
		if err != nil {
			return nil, err
		}
		ss.LastSeen = now
	}
	return &viewer{user: u, session: ss, csrf: ss.CSRF}, nil
}

// checkCSRF reports whether r carries v's CSRF token, in the form field "csrf" or the
// X-CSRF-Token header, compared in constant time. It is false for an anonymous v. Every
// state-changing page route calls it and answers 403 when it is false.
func checkCSRF(v *viewer, r *http.Request) bool {
	if v == nil || v.csrf == "" {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) == 1
}

// newSession makes a session for u and sets its cookie on w.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, u *store.User) error {
	tok, hash := newToken("")
	now := s.now()
	ss := &store.Session{Hash: hash, UserID: u.ID, CSRF: rand.Text(), Created: now, LastSeen: now,
		Expires: now.Add(s.o.Limits.SessionLifetime)}
	if err := s.store.CreateSession(r.Context(), ss); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	http.SetCookie(w, s.sessionCookie(r, tok, ss.Expires))
	return nil
}

// sessionCookie is the session cookie holding tok until expires (a zero expires deletes it).
func (s *Server) sessionCookie(r *http.Request, tok string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(strings.ToLower(s.o.URL), "https://")}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// safeNext is where a sign-in goes next: next when it is a path of this server ("/x?y"),
// else "/". Anything that a browser could read as another origin is refused: a scheme or
// host ("https://evil", "//evil"), backslashes ("/\evil", which browsers read as "//evil"),
// control characters and whitespace.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(c rune) bool { return c == '\\' || c <= ' ' || c == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

// sameOrigin reports whether a form post came from a page of this server: browsers send
// Origin with every POST, and a page elsewhere that posts to /login (to sign the victim in as
// the attacker) or /logout has another one. Requests without Origin (scripts) pass.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	base, err := url.Parse(s.o.URL)
	return err == nil && base.Host != "" && strings.EqualFold(u.Host, base.Host)
}

// clientAddr is the address a request came from, without its port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginGet is GET /login: the sign-in form, or for a signed-in user a redirect to next.
func (s *Server) loginGet(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	next := safeNext(r.URL.Query().Get("next"))
	if pc.v != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	return s.site.Render(w, http.StatusOK, web.Login{Next: next})
}

// msgBadLogin is the one answer to a wrong username, a wrong password and a disabled user.
const msgBadLogin = "Invalid username or password."

// loginPost is POST /login: form fields username, password and next. Attempts are limited per
// client address and per username (Limits.LoginRate, LoginUserRate: 429 with Retry-After past
// them). A wrong username, a wrong password and a disabled user get the same answer (401 and
// the form again) after the same work. Success makes a new session (an earlier one of the
// request is deleted) and redirects (303) to next, if it is a path of this server, else to /.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request, _ *pageCtx) error {
	if !s.sameOrigin(r) {
		return errStatus(http.StatusForbidden, "sign-in form posted from another site")
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errStatus(http.StatusBadRequest, "bad form: %v", err)
	}
	name, pw := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	addr, key := clientAddr(r), strings.ToLower(name)
	if ok, wait := s.loginAddrs.take(addr); !ok {
		return s.tooManyLogins(w, wait, name, next)
	}
	if ok, wait := s.loginUsers.take(key); !ok {
		return s.tooManyLogins(w, wait, name, next)
	}
	ctx := r.Context()
	u, err := s.store.UserByName(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		u = nil
	case err != nil:
		return err
	}
	if !s.passwordMatches(u, pw) || u.Disabled {
		return s.site.Render(w, http.StatusUnauthorized, web.Login{Username: name, Next: next, Error: msgBadLogin})
	}
	s.loginAddrs.refund(addr)
	s.loginUsers.refund(key)
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.store.DeleteSession(ctx, hashToken(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if err := s.newSession(w, r, u); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// tooManyLogins answers a sign-in past a rate limit: 429, Retry-After, and the form again.
func (s *Server) tooManyLogins(w http.ResponseWriter, wait time.Duration, name, next string) error {
	w.Header().Set("Retry-After", retryAfterSeconds(wait))
	return s.site.Render(w, http.StatusTooManyRequests, web.Login{Username: name, Next: next,
		Error: "Too many sign-in attempts. Try again in a minute."})
}

// logout is POST /logout: it deletes the session (CSRF-checked: 403 without the session's
// token) and its cookie, and redirects to /login. Without a session it only redirects.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	if !s.sameOrigin(r) {
		return errStatus(http.StatusForbidden, "sign-out form posted from another site")
	}
	if v := pc.v; v != nil {
		if !checkCSRF(v, r) {
			return errStatus(http.StatusForbidden, "missing or wrong CSRF token")
		}
		if err := s.store.DeleteSession(r.Context(), v.session.Hash); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	http.SetCookie(w, s.sessionCookie(r, "", time.Time{}))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
