package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// userJSON is the API's user.
type userJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Admin    bool   `json:"admin"`
	Disabled bool   `json:"disabled"`
}

// user makes a user through the API (admin token) and returns its ID.
func (e *env) user(name, password string, admin bool) int64 {
	e.t.Helper()
	var u userJSON
	e.api("POST", "/api/v1/users", map[string]any{"username": name, "password": password, "admin": admin}, http.StatusCreated, &u)
	if u.ID == 0 || u.Username != name || u.Admin != admin {
		e.t.Fatalf("created user %+v", u)
	}
	return u.ID
}

// personalToken makes a personal token of user uid (admin token) and returns the token
// and its ID.
func (e *env) personalToken(uid int64) (string, int64) {
	e.t.Helper()
	var tok struct {
		ID     int64  `json:"id"`
		Kind   string `json:"kind"`
		UserID int64  `json:"user_id"`
		Token  string `json:"token"`
	}
	e.api("POST", fmt.Sprintf("/api/v1/users/%d/tokens", uid), map[string]any{"name": "test"}, http.StatusCreated, &tok)
	if tok.Kind != "personal" || tok.UserID != uid || !strings.HasPrefix(tok.Token, "slpat_") {
		e.t.Fatalf("new personal token %+v", tok)
	}
	return tok.Token, tok.ID
}

// member gives user uid role in project pid (admin token).
func (e *env) member(pid, uid int64, role string) {
	e.t.Helper()
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/members/%d", pid, uid), map[string]any{"role": role}, http.StatusOK, nil)
}

// form posts a form without following redirects; cookie, when set, is the session cookie.
func (e *env) form(path, cookie string, values url.Values, header http.Header) *reply {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url+path, strings.NewReader(values.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		req.Header[k] = vs
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	return e.raw(req)
}

// raw sends req without following redirects.
func (e *env) raw(req *http.Request) *reply {
	e.t.Helper()
	hc := &http.Client{Transport: e.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// login signs in and returns the session cookie's value.
func (e *env) login(name, password string) string {
	e.t.Helper()
	r := e.form("/login", "", url.Values{"username": {name}, "password": {password}}, nil)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: got %s, want 303", name, r)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return c.Value
		}
	}
	e.t.Fatalf("sign in as %s: no session cookie in %v", name, r.header)
	return ""
}

// viewer is the viewer of a request with the session cookie.
func (e *env) viewer(cookie string) *viewer {
	e.t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	v, err := e.srv.viewerOf(req)
	if err != nil {
		e.t.Fatalf("viewerOf: %v", err)
	}
	return v
}

// withCookie is a GET with the session cookie.
func (e *env) getWithCookie(path, cookie string) *reply {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	return e.raw(req)
}

func TestCheckUsername(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ada", true}, {"Ada.Lovelace", true}, {"a_b-c", true}, {"_x", true}, {"x_", true}, {"ab", true},
		{strings.Repeat("a", 255), true},
		{"a", false}, {strings.Repeat("a", 256), false}, {"-ada", false}, {"ada.", false}, {"a..b", false},
		{"a_-b", false}, {"ada.git", false}, {"ADA.ATOM", false}, {"ad a", false}, {"adé", false},
		{"a/b", false}, {"<script>", false}, {"", false},
	} {
		if err := checkUsername(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkUsername(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	for _, tc := range []struct {
		name, password string
		want           int
	}{
		{"too short", "1234567", http.StatusBadRequest},
		{"too long for bcrypt", strings.Repeat("p", MaxPasswordLength+1), http.StatusBadRequest},
		{"eight characters", "12345678", http.StatusCreated},
	} {
		r := e.do("POST", "/api/v1/users", adminToken, map[string]any{"username": "u" + strings.ReplaceAll(tc.name, " ", ""), "password": tc.password}, nil)
		if r.status != tc.want {
			t.Errorf("%s: got %s, want %d", tc.name, r, tc.want)
		}
	}
	if r := e.do("POST", "/api/v1/users", adminToken, map[string]any{"username": "UEIGHTCHARACTERS", "password": "12345678"}, nil); r.status != http.StatusConflict {
		t.Errorf("username taken in another case: got %s, want 409", r)
	}
	u := &store.User{PasswordHash: ""}
	if e.srv.passwordMatches(nil, "x") || e.srv.passwordMatches(u, "") {
		t.Error("an unknown user or one without a hash matched")
	}
	hash, err := e.srv.hashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = hash
	if !e.srv.passwordMatches(u, "correct horse") || e.srv.passwordMatches(u, "correct horsE") {
		t.Error("passwordMatches is wrong")
	}
}

func TestBootstrapAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	ctx := context.Background()
	if _, err := e.srv.BootstrapAdmin(ctx, "short"); err == nil || !strings.Contains(err.Error(), "SLIPWAY_ADMIN_PASSWORD") {
		t.Fatalf("a short SLIPWAY_ADMIN_PASSWORD: %v", err)
	}
	pw, err := e.srv.BootstrapAdmin(ctx, "")
	if err != nil || len(pw) < 20 {
		t.Fatalf("BootstrapAdmin = %q, %v; want a generated password", pw, err)
	}
	v := e.viewer(e.login("admin", pw))
	if v == nil || v.user.Username != AdminUsername || !v.user.Admin {
		t.Fatalf("signed in as %+v", v)
	}
	// Later starts change nothing, whatever the environment says.
	for _, given := range []string{"", "another password"} {
		if again, err := e.srv.BootstrapAdmin(ctx, given); err != nil || again != "" {
			t.Errorf("BootstrapAdmin(%q) on a later start = %q, %v", given, again, err)
		}
	}
	e.login("admin", pw)

	f := newEnv(t, oneJob)
	if pw, err := f.srv.BootstrapAdmin(ctx, "from the environment"); err != nil || pw != "" {
		t.Fatalf("BootstrapAdmin with a password = %q, %v", pw, err)
	}
	f.login("ADMIN", "from the environment")
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	e.user("ada", "analytical engine", false)

	r := e.do("GET", "/login?next=/slipway/demo", "", nil, nil)
	for _, want := range []string{`name="username"`, `name="password"`, `name="next" value="/slipway/demo"`} {
		if r.status != http.StatusOK || !strings.Contains(string(r.body), want) {
			t.Fatalf("GET /login: %d, want a form with %s:\n%s", r.status, want, r.body)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	r = e.form("/login", "", url.Values{"username": {"Ada"}, "password": {"analytical engine"}, "next": {"/slipway/demo/-/pipelines/1?x=1"}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/slipway/demo/-/pipelines/1?x=1" {
		t.Fatalf("sign in: got %d to %q", r.status, r.header.Get("Location"))
	}
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over http", c)
	}
	v := e.viewer(c.Value)
	if v == nil || v.user.Username != "ada" || len(v.csrf) < 20 {
		t.Fatalf("viewer %+v", v)
	}
	// The store keeps the token's hash, not the token.
	if _, err := e.srv.store.Session(context.Background(), c.Value); err == nil {
		t.Error("the session is stored under its token")
	}
	if got := e.getWithCookie("/api/v1/user", c.Value); got.status != http.StatusOK || !strings.Contains(string(got.body), `"username":"ada"`) {
		t.Errorf("GET /api/v1/user with the session: %s", got)
	}
	if got := e.getWithCookie("/login", c.Value); got.status != http.StatusSeeOther || got.header.Get("Location") != "/" {
		t.Errorf("GET /login signed in: %d to %q", got.status, got.header.Get("Location"))
	}

	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", "ada", "analytical enginE"},
		{"unknown user", "bob", "analytical engine"},
		{"empty", "", ""},
	} {
		r := e.form("/login", "", url.Values{"username": {tc.user}, "password": {tc.password}}, nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), msgBadLogin) || len(r.header.Values("Set-Cookie")) != 0 {
			t.Errorf("%s: got %s, want 401 with %q and no cookie", tc.name, r, msgBadLogin)
		}
	}
	// A form posted by a page of another site (login CSRF) is refused.
	r = e.form("/login", "", url.Values{"username": {"ada"}, "password": {"analytical engine"}}, http.Header{"Origin": {"https://evil.example"}})
	if r.status != http.StatusForbidden {
		t.Errorf("sign-in from another origin: got %s, want 403", r)
	}
}

func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob, func(o *Options) { o.URL = "https://ci.example" })
	e.user("ada", "analytical engine", false)
	r := e.form("/login", "", url.Values{"username": {"ada"}, "password": {"analytical engine"}}, nil)
	if cs := (&http.Response{Header: r.header}).Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("behind https: cookies %+v, want Secure", cs)
	}
}

func TestAttackOpenRedirectThroughNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	e.user("ada", "analytical engine", false)
	for _, tc := range []struct{ next, want string }{
		{"//evil.example", "/"},
		{"https://evil.example/", "/"},
		{"http:evil.example", "/"},
		{`/\evil.example`, "/"},
		{`\\evil.example`, "/"},
		{"/\t/evil.example", "/"},
		{"/%09/evil.example", "/%09/evil.example"}, // a path of this server
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"///evil.example", "/"},
		{"", "/"},
		{"/slipway/demo?ref=main#x", "/slipway/demo?ref=main#x"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			t.Parallel()
			r := e.form("/login", "", url.Values{"username": {"ada"}, "password": {"analytical engine"}, "next": {tc.next}}, nil)
			if r.status != http.StatusSeeOther || r.header.Get("Location") != tc.want {
				t.Errorf("next %q: got %d to %q, want %q", tc.next, r.status, r.header.Get("Location"), tc.want)
			}
		})
	}
}

func TestAttackLoginBruteForceRateLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		addrRate, users int
	}{
		{"per client address", 3, 100},
		{"per username", 100, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, oneJob, func(o *Options) { o.Limits.LoginRate, o.Limits.LoginUserRate = tc.addrRate, tc.users })
			e.user("ada", "analytical engine", false)
			// Successful sign-ins are not counted.
			for range 5 {
				e.login("ada", "analytical engine")
			}
			for i := range 3 {
				if r := e.form("/login", "", url.Values{"username": {"ada"}, "password": {fmt.Sprint("guess", i)}}, nil); r.status != http.StatusUnauthorized {
					t.Fatalf("guess %d: got %s, want 401", i, r)
				}
			}
			for _, pw := range []string{"guess 4", "analytical engine"} {
				r := e.form("/login", "", url.Values{"username": {"ada"}, "password": {pw}}, nil)
				if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || len(r.header.Values("Set-Cookie")) != 0 {
					t.Errorf("past the limit with %q: got %d (Retry-After %q), want 429 with Retry-After and no session", pw, r.status, r.header.Get("Retry-After"))
				}
			}
		})
	}
}

func TestAttackLogoutWithoutCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	e.user("ada", "analytical engine", false)
	cookie := e.login("ada", "analytical engine")
	csrf := e.viewer(cookie).csrf
	for _, tc := range []struct {
		name   string
		values url.Values
		header http.Header
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {"x" + csrf[1:]}}, nil},
		{"wrong header", url.Values{}, http.Header{"X-Csrf-Token": {"nope"}}},
		{"token of another site's form", url.Values{"csrf": {csrf}}, http.Header{"Origin": {"https://evil.example"}}},
	} {
		if r := e.form("/logout", cookie, tc.values, tc.header); r.status != http.StatusForbidden {
			t.Errorf("%s: got %s, want 403", tc.name, r)
		}
		if e.viewer(cookie) == nil {
			t.Fatalf("%s: the session ended", tc.name)
		}
	}
	r := e.form("/logout", cookie, url.Values{"csrf": {csrf}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("sign out: got %d to %q", r.status, r.header.Get("Location"))
	}
	if e.viewer(cookie) != nil {
		t.Error("the session lives on after sign-out")
	}
}

func TestAttackDeletedSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	e.user("ada", "analytical engine", false)
	cookie := e.login("ada", "analytical engine")
	if r := e.form("/logout", cookie, url.Values{"csrf": {e.viewer(cookie).csrf}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("sign out: %s", r)
	}
	// The cookie, kept by whoever copied it, opens nothing.
	if e.viewer(cookie) != nil {
		t.Error("viewerOf accepts a deleted session")
	}
	if r := e.getWithCookie("/api/v1/user", cookie); r.status != http.StatusUnauthorized {
		t.Errorf("API with a deleted session: got %s, want 401", r)
	}
	if r := e.getWithCookie("/login", cookie); r.status != http.StatusOK {
		t.Errorf("GET /login with a deleted session: got %d, want the form", r.status)
	}
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e := newEnv(t, oneJob, func(o *Options) {
		o.Now, o.Limits.SessionIdle, o.Limits.SessionLifetime = clk.now, time.Hour, 3*time.Hour
	})
	e.user("ada", "analytical engine", false)
	idle := e.login("ada", "analytical engine")
	used := e.login("ada", "analytical engine")
	for range 3 { // used every 50 minutes: never idle for an hour
		clk.add(50 * time.Minute)
		if e.viewer(used) == nil {
			t.Fatalf("a session used every 50 minutes ended after %v", 50*time.Minute)
		}
	}
	if e.viewer(idle) != nil {
		t.Error("a session unused for 150 minutes lives on (SessionIdle 1h)")
	}
	clk.add(50 * time.Minute)
	if e.viewer(used) != nil {
		t.Error("a session older than SessionLifetime lives on")
	}
	fresh := e.login("ada", "analytical engine")
	clk.add(2 * time.Hour)
	if err := e.srv.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.store.Session(context.Background(), hashToken(fresh)); err == nil {
		t.Error("retention kept an idle session")
	}
}

func TestAttackDisabledUserSessionAndTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	uid := e.user("ada", "analytical engine", false)
	cookie := e.login("ada", "analytical engine")
	tok, _ := e.personalToken(uid)
	if r := e.do("GET", "/api/v1/user", tok, nil, nil); r.status != http.StatusOK {
		t.Fatalf("personal token: %s", r)
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/users/%d", uid), map[string]any{"disabled": true}, http.StatusOK, nil)
	if e.viewer(cookie) != nil {
		t.Error("a disabled user's session works")
	}
	if r := e.do("GET", "/api/v1/projects", tok, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a disabled user's token: got %s, want 401", r)
	}
	if r := e.form("/login", "", url.Values{"username": {"ada"}, "password": {"analytical engine"}}, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a disabled user signs in: got %s, want 401", r)
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/users/%d", uid), map[string]any{"disabled": false}, http.StatusOK, nil)
	if r := e.do("GET", "/api/v1/projects", tok, nil, nil); r.status != http.StatusOK {
		t.Errorf("the token of a user enabled again: got %s, want 200", r)
	}
	if e.viewer(cookie) != nil {
		t.Error("disabling a user did not end their session")
	}
}

func TestAttackRevokedToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	ada, bob := e.user("ada", "analytical engine", false), e.user("bob", "bobbybobby", false)
	tok, id := e.personalToken(ada)
	bobTok, _ := e.personalToken(bob)
	var made struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	r := e.do("POST", "/api/v1/user/tokens", tok, map[string]any{"name": "laptop", "expires_at": "2099-01-01"}, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create a personal token: %s", r)
	}
	mustJSON(t, r.body, &made)
	// Another user's token does not exist for bob.
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/user/tokens/%d", id), bobTok, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("bob revokes ada's token: got %s, want 404", r)
	}
	if r := e.do("DELETE", fmt.Sprintf("/api/v1/user/tokens/%d", made.ID), tok, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %s", r)
	}
	if r := e.do("GET", "/api/v1/user", made.Token, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a revoked token: got %s, want 401", r)
	}
	var list []struct {
		ID      int64 `json:"id"`
		Revoked bool  `json:"revoked"`
	}
	r = e.do("GET", "/api/v1/user/tokens", tok, nil, nil)
	mustJSON(t, r.body, &list)
	if len(list) != 2 || list[0].ID != id || list[0].Revoked || list[1].ID != made.ID || !list[1].Revoked || strings.Contains(string(r.body), "slpat_") {
		t.Errorf("tokens listed: %s", r.body)
	}
	if r := e.do("POST", "/api/v1/user/tokens", tok, map[string]any{"name": "old", "expires_at": "2001-01-01"}, nil); r.status != http.StatusBadRequest {
		t.Errorf("a token expired at birth: got %s, want 400", r)
	}
	if r := e.do("GET", "/api/v1/user", tok, nil, nil); r.status != http.StatusOK {
		t.Errorf("the token not revoked: %s", r)
	}
}

// TestAttackExpiredToken: a personal token past its expires_at works no more.
func TestAttackExpiredToken(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e := newEnv(t, oneJob, func(o *Options) { o.Now = clk.now })
	uid := e.user("ada", "analytical engine", false)
	tok, _ := e.personalToken(uid)
	var made struct {
		Token string `json:"token"`
	}
	r := e.do("POST", "/api/v1/user/tokens", tok, map[string]any{"name": "day", "expires_at": clk.now().Add(time.Hour).Format(time.RFC3339)}, nil)
	mustJSON(t, r.body, &made)
	if r := e.do("GET", "/api/v1/user", made.Token, nil, nil); r.status != http.StatusOK {
		t.Fatalf("new token: %s", r)
	}
	clk.add(time.Hour)
	if r := e.do("GET", "/api/v1/user", made.Token, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("an expired token: got %s, want 401", r)
	}
}

func mustJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// roleEnv is a server with a private project that has a pipeline of one job, and a user of
// each role in it (and one outside it), with their personal tokens.
type roleEnv struct {
	*env
	pid                                       int64
	pipeline, job                             int64
	outsider, reporter, developer, maintainer string
}

func newRoleEnv(t *testing.T) *roleEnv {
	t.Helper()
	e := &roleEnv{env: newEnv(t, oneJob)}
	e.pid = e.project("secret", "")
	pl := e.trigger(e.pid, "main", nil)
	e.pipeline, e.job = pl.ID, e.env.pipeline(pl.ID).Jobs[0].ID
	for _, u := range []struct {
		name, role string
		tok        *string
	}{{"outsider", "", &e.outsider}, {"rep", "reporter", &e.reporter}, {"dev", "developer", &e.developer}, {"maint", "maintainer", &e.maintainer}} {
		uid := e.user(u.name, "password-"+u.name, false)
		*u.tok, _ = e.personalToken(uid)
		if u.role != "" {
			e.member(e.pid, uid, u.role)
		}
	}
	return e
}

// projectRoutes are requests to every route of one project, by the project's, pipeline's or
// job's id, with the role each needs.
func (e *roleEnv) projectRoutes() []struct {
	method, path string
	body         any
	need         store.Role
} {
	p, pl, j := fmt.Sprint("/api/v1/projects/", e.pid), fmt.Sprint("/api/v1/pipelines/", e.pipeline), fmt.Sprint("/api/v1/jobs/", e.job)
	return []struct {
		method, path string
		body         any
		need         store.Role
	}{
		{"GET", p, nil, store.RoleReporter},
		{"GET", p + "/pipelines", nil, store.RoleReporter},
		{"GET", pl, nil, store.RoleReporter},
		{"GET", j, nil, store.RoleReporter},
		{"GET", j + "/log", nil, store.RoleReporter},
		{"GET", j + "/artifacts", nil, store.RoleReporter},
		{"POST", p + "/pipelines", map[string]any{"ref": "main"}, store.RoleDeveloper},
		{"POST", pl + "/cancel", nil, store.RoleDeveloper},
		{"POST", j + "/retry", nil, store.RoleDeveloper},
		{"POST", j + "/cancel", nil, store.RoleDeveloper},
		{"POST", j + "/play", nil, store.RoleDeveloper},
		{"PATCH", p, map[string]any{"default_branch": "main"}, store.RoleMaintainer},
		{"GET", p + "/variables", nil, store.RoleMaintainer},
		{"PUT", p + "/variables/K", map[string]any{"value": "v"}, store.RoleMaintainer},
		{"DELETE", p + "/variables/K", nil, store.RoleMaintainer},
		{"GET", p + "/schedules", nil, store.RoleMaintainer},
		{"POST", p + "/schedules", map[string]any{"cron": "0 3 * * *"}, store.RoleMaintainer},
		{"DELETE", p + "/schedules/1", nil, store.RoleMaintainer},
		{"GET", p + "/hooks", nil, store.RoleMaintainer},
		{"GET", p + "/members", nil, store.RoleMaintainer},
		{"PUT", p + "/members/1", map[string]any{"role": "reporter"}, store.RoleMaintainer},
		{"DELETE", p + "/members/1", nil, store.RoleMaintainer},
	}
}

// TestAttackNonMemberReadsPrivateProjectByID: a signed-in user outside a private project asks
// for it, its pipeline, job, log and artifacts by their ids, and tries every change: each
// answer is the 404 of something that does not exist, word for word.
func TestAttackNonMemberReadsPrivateProjectByID(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	missing := e.do("GET", "/api/v1/jobs/999999", e.outsider, nil, nil)
	if missing.status != http.StatusNotFound {
		t.Fatalf("a job that does not exist: %s", missing)
	}
	for _, rt := range e.projectRoutes() {
		r := e.do(rt.method, rt.path, e.outsider, rt.body, nil)
		if r.status != http.StatusNotFound || string(r.body) != string(missing.body) {
			t.Errorf("outsider %s %s: got %s, want %s", rt.method, rt.path, r, missing)
		}
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/log/stream", e.job), e.outsider, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("outsider reads the log stream: %s", r)
	}
	var ps []struct {
		ID int64 `json:"id"`
	}
	r := e.do("GET", "/api/v1/projects", e.outsider, nil, nil)
	mustJSON(t, r.body, &ps)
	if len(ps) != 0 {
		t.Errorf("outsider lists %s", r.body)
	}
	// Internal: every signed-in user reads it, and changes nothing.
	e.api("PATCH", fmt.Sprint("/api/v1/projects/", e.pid), map[string]any{"visibility": "internal"}, http.StatusOK, nil)
	if r := e.do("GET", fmt.Sprint("/api/v1/jobs/", e.job), e.outsider, nil, nil); r.status != http.StatusOK {
		t.Errorf("outsider reads a job of an internal project: %s", r)
	}
	if r := e.do("POST", fmt.Sprintf("/api/v1/jobs/%d/retry", e.job), e.outsider, nil, nil); r.status != http.StatusForbidden {
		t.Errorf("outsider retries a job of an internal project: got %s, want 403", r)
	}
	r = e.do("GET", "/api/v1/projects", e.outsider, nil, nil)
	mustJSON(t, r.body, &ps)
	if len(ps) != 1 || ps[0].ID != e.pid {
		t.Errorf("outsider lists %s, want the internal project", r.body)
	}
}

// TestAttackReporterCannotRunJobs and TestAttackDeveloperCannotChangeVariables: each role
// does what it may, and gets 403 for the rest (what it reads is no secret to it).
func TestAttackReporterCannotRunJobs(t *testing.T) {
	t.Parallel()
	testRoles(t, newRoleEnv(t), store.RoleReporter)
}

func TestAttackDeveloperCannotChangeVariables(t *testing.T) {
	t.Parallel()
	testRoles(t, newRoleEnv(t), store.RoleDeveloper)
}

func testRoles(t *testing.T, e *roleEnv, role store.Role) {
	tok := map[store.Role]string{store.RoleReporter: e.reporter, store.RoleDeveloper: e.developer}[role]
	for _, rt := range e.projectRoutes() {
		r := e.do(rt.method, rt.path, tok, rt.body, nil)
		switch {
		case role < rt.need && r.status != http.StatusForbidden:
			t.Errorf("%s %s %s: got %s, want 403", role, rt.method, rt.path, r)
		case role >= rt.need && (r.status == http.StatusForbidden || r.status == http.StatusUnauthorized):
			t.Errorf("%s %s %s: got %s, want it allowed", role, rt.method, rt.path, r)
		}
	}
}

func TestMaintainerAndCreator(t *testing.T) {
	t.Parallel()
	e := newRoleEnv(t)
	p := fmt.Sprint("/api/v1/projects/", e.pid)
	for _, rt := range e.projectRoutes() {
		if r := e.do(rt.method, rt.path, e.maintainer, rt.body, nil); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
			t.Errorf("maintainer %s %s: %s", rt.method, rt.path, r)
		}
	}
	var v struct {
		Visibility string `json:"visibility"`
	}
	r := e.do("PATCH", p, e.maintainer, map[string]any{"visibility": "public"}, nil)
	mustJSON(t, r.body, &v)
	if r.status != http.StatusOK || v.Visibility != "public" {
		t.Errorf("maintainer makes the project public: %s", r)
	}
	if r := e.do("PATCH", p, e.maintainer, map[string]any{"visibility": "everyone"}, nil); r.status != http.StatusBadRequest {
		t.Errorf("visibility everyone: got %s, want 400", r)
	}
	// A user who makes a project maintains it, and its path on the server's host stays the
	// admins' to give.
	var made struct {
		ID         int64  `json:"id"`
		Visibility string `json:"visibility"`
	}
	r = e.do("POST", "/api/v1/projects", e.outsider, map[string]any{"name": "mine", "clone_url": "https://example.com/mine.git"}, nil)
	mustJSON(t, r.body, &made)
	if r.status != http.StatusCreated || made.Visibility != "private" {
		t.Fatalf("outsider creates a project: %s", r)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/projects/%d/members", made.ID), e.outsider, nil, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"role":"maintainer"`) {
		t.Errorf("the creator's membership: %s", r)
	}
	if r := e.do("POST", "/api/v1/projects", e.outsider, map[string]any{"name": "local", "clone_url": e.repo}, nil); r.status != http.StatusBadRequest {
		t.Errorf("a user clones a path of the server's host: got %s, want 400", r)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/runners"}, {"GET", "/api/v1/users"}, {"POST", "/api/v1/tokens"},
	} {
		if r := e.do(tc.method, tc.path, e.maintainer, map[string]any{}, nil); r.status != http.StatusForbidden {
			t.Errorf("a user who is no admin: %s %s: got %s, want 403", tc.method, tc.path, r)
		}
	}
}

func TestProjectRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	ctx := context.Background()
	admin := &store.User{ID: e.user("root", "password1", true), Admin: true}
	member := &store.User{ID: e.user("member", "password1", false)}
	other := &store.User{ID: e.user("other", "password1", false)}
	disabled := &store.User{ID: e.user("gone", "password1", false), Disabled: true}
	pid := e.project("p", "")
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/members/%d", pid, member.ID), map[string]any{"access_level": 30}, http.StatusOK, nil)
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/members/%d", pid, disabled.ID), map[string]any{"access_level": 40}, http.StatusOK, nil)
	for _, tc := range []struct {
		name       string
		visibility string
		user       *store.User
		want       store.Role
	}{
		{"admin, private", "private", admin, store.RoleMaintainer},
		{"member, private", "private", member, store.RoleDeveloper},
		{"member, public", "public", member, store.RoleDeveloper},
		{"other, private", "private", other, store.RoleNone},
		{"other, internal", "internal", other, store.RoleReporter},
		{"other, public", "public", other, store.RoleReporter},
		{"anonymous, private", "private", nil, store.RoleNone},
		{"anonymous, internal", "internal", nil, store.RoleNone},
		{"anonymous, public", "public", nil, store.RoleReporter},
		{"disabled member, private", "private", disabled, store.RoleNone},
		{"disabled member, public", "public", disabled, store.RoleReporter},
	} {
		p := &store.Project{ID: pid, Visibility: tc.visibility}
		got, err := e.srv.projectRole(ctx, tc.user, p)
		if err != nil || got != tc.want {
			t.Errorf("%s: projectRole = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	uid := e.user("ada", "analytical engine", false)
	tok, _ := e.personalToken(uid)
	cookie := e.login("ada", "analytical engine")
	for _, tc := range []struct {
		name          string
		current, next string
		want          int
	}{
		{"wrong current password", "difference engine", "new password", http.StatusForbidden},
		{"too short", "analytical engine", "short", http.StatusBadRequest},
		{"changed", "analytical engine", "new password", http.StatusNoContent},
	} {
		if r := e.do("PUT", "/api/v1/user/password", tok, map[string]any{"current_password": tc.current, "password": tc.next}, nil); r.status != tc.want {
			t.Errorf("%s: got %s, want %d", tc.name, r, tc.want)
		}
	}
	if e.viewer(cookie) != nil {
		t.Error("a session lives on after a change of password")
	}
	e.login("ada", "new password")
	if r := e.do("PUT", "/api/v1/user/password", adminToken, map[string]any{"current_password": "x", "password": "new password"}, nil); r.status != http.StatusForbidden {
		t.Errorf("the admin token has no password: got %s, want 403", r)
	}
}
