package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// uiUser is a signed-in browser: its session cookie and CSRF token.
type uiUser struct {
	name, cookie, csrf string
	id                 int64
}

// signIn makes a user and signs them in.
func (e *env) signIn(name string, admin bool) uiUser {
	e.t.Helper()
	pw := "password-of-" + name
	id := e.user(name, pw, admin)
	cookie := e.login(name, pw)
	return uiUser{name: name, cookie: cookie, csrf: e.viewer(cookie).csrf, id: id}
}

// post sends a page form as u, with u's CSRF token.
func (e *env) post(u uiUser, path string, v url.Values) *reply {
	e.t.Helper()
	form := url.Values{"csrf": {u.csrf}}
	for k, vs := range v {
		form[k] = vs
	}
	return e.form(path, u.cookie, form, nil)
}

// settingsEnv is a server with project slipway/demo and its people: admin, a maintainer, a
// developer, a reporter and a user who is no member.
type settingsEnv struct {
	*env
	pid                                   int64
	admin, maint, dev, reporter, stranger uiUser
	settings                              string
}

func newSettingsEnv(t *testing.T, opt ...func(*Options)) *settingsEnv {
	e := &settingsEnv{env: newEnv(t, "job:\n  script: [echo]\n", opt...)}
	e.pid = e.project("demo", "old-webhook-secret")
	e.admin = e.signIn("root", true)
	e.maint, e.dev, e.reporter, e.stranger = e.signIn("maud", false), e.signIn("dave", false), e.signIn("rita", false), e.signIn("sam", false)
	e.member(e.pid, e.maint.id, "maintainer")
	e.member(e.pid, e.dev.id, "developer")
	e.member(e.pid, e.reporter.id, "reporter")
	e.settings = "/slipway/demo/-/settings"
	return e
}

// wantStatus fails unless r has status want and its body every one of has.
func wantStatus(t *testing.T, what string, r *reply, want int, has ...string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: got %d, want %d; body:\n%s", what, r.status, want, r.body)
	}
	for _, h := range has {
		if !strings.Contains(string(r.body), h) {
			t.Fatalf("%s: the body lacks %q:\n%s", what, h, r.body)
		}
	}
}

func TestSettingsPageAccess(t *testing.T) {
	e := newSettingsEnv(t)
	for _, tc := range []struct {
		name   string
		who    uiUser
		status int
	}{
		{"admin", e.admin, http.StatusOK},
		{"maintainer", e.maint, http.StatusOK},
		{"developer", e.dev, http.StatusForbidden},
		{"reporter", e.reporter, http.StatusForbidden},
		{"non-member", e.stranger, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.getWithCookie(e.settings, tc.who.cookie)
			wantStatus(t, "GET settings", r, tc.status)
			if tc.status == http.StatusOK {
				// Badges use the server's URL; the retention is the server's.
				badge := "[![pipeline status](" + e.url + "/slipway/demo/badge.svg)](" + e.url + "/slipway/demo)"
				wantStatus(t, "GET settings", r, http.StatusOK, "CI/CD variables", badge,
					`&lt;img alt="pipeline status" src="`+e.url+`/slipway/demo/badge.svg"&gt;`, "kept for 90 days",
					"<td data-label=\"User\">maud</td><td data-label=\"Role\">maintainer</td>")
			}
			post := e.post(tc.who, e.settings+"/general", url.Values{"visibility": {"private"}})
			want := tc.status
			if want == http.StatusOK {
				want = http.StatusSeeOther
			}
			wantStatus(t, "POST general", post, want)
		})
	}
	t.Run("signed out", func(t *testing.T) {
		r := e.getWithCookie(e.settings, "")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape(e.settings) {
			t.Fatalf("signed out: got %d to %q", r.status, r.header.Get("Location"))
		}
	})
}

// variableOf is the stored variable key of the project (scope *), or nil.
func (e *settingsEnv) variableOf(key string) *store.Variable {
	e.t.Helper()
	v, err := e.srv.variable(context.Background(), e.pid, key, "*")
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func TestSettingsVariables(t *testing.T) {
	e := newSettingsEnv(t)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		has    string
	}{
		{"plain", url.Values{"key": {"GREETING"}, "value": {"hello world"}, "environment": {"*"}}, http.StatusSeeOther, ""},
		{"file and protected", url.Values{"key": {"KUBECONFIG"}, "value": {"apiVersion: v1"}, "file": {"1"}, "protected": {"1"}, "environment": {"production"}}, http.StatusSeeOther, ""},
		{"masked", url.Values{"key": {"TOKEN"}, "value": {"s3cr3t-Token_value"}, "masked": {"1"}}, http.StatusSeeOther, ""},
		{"masked too short", url.Values{"key": {"SHORT"}, "value": {"abc"}, "masked": {"1"}}, http.StatusBadRequest, "a masked value must be one line of at least 8 characters"},
		{"masked with a space", url.Values{"key": {"SPACED"}, "value": {"two words here"}, "masked": {"1"}}, http.StatusBadRequest, "a masked value must be"},
		{"masked on two lines", url.Values{"key": {"LINES"}, "value": {"abcdefgh\nijklmnop"}, "masked": {"1"}}, http.StatusBadRequest, "a masked value must be"},
		{"bad key", url.Values{"key": {"1BAD"}, "value": {"x"}}, http.StatusBadRequest, "variable key &#34;1BAD&#34;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.maint, e.settings+"/variables", tc.form)
			wantStatus(t, "POST variable", r, tc.status, tc.has)
		})
	}
	page := e.getWithCookie(e.settings, e.maint.cookie)
	wantStatus(t, "settings", page, http.StatusOK, "<code>GREETING</code>", "<code>hello world</code>", "<code>KUBECONFIG</code>", "<code>production</code>", "<code>TOKEN</code>")
	if v := e.variableOf("KUBECONFIG"); v != nil {
		t.Fatalf("KUBECONFIG is scoped to production, found in *: %+v", v)
	}

	// Editing a masked variable without a value keeps its value; unmasking takes a value.
	wantStatus(t, "edit masked", e.post(e.maint, e.settings+"/variables", url.Values{"key": {"TOKEN"}, "masked": {"1"}, "protected": {"1"}}), http.StatusSeeOther)
	if v := e.variableOf("TOKEN"); v == nil || v.Value != "s3cr3t-Token_value" || !v.Protected || !v.Masked {
		t.Fatalf("edited masked variable: %+v", v)
	}
	wantStatus(t, "unmask without a value", e.post(e.maint, e.settings+"/variables", url.Values{"key": {"TOKEN"}}), http.StatusBadRequest, "give its value to unmask it")
	wantStatus(t, "new masked value", e.post(e.maint, e.settings+"/variables", url.Values{"key": {"TOKEN"}, "value": {"another-Value-123"}, "masked": {"1"}}), http.StatusSeeOther)
	if v := e.variableOf("TOKEN"); v.Value != "another-Value-123" {
		t.Fatalf("masked variable given a new value: %+v", v)
	}
	// The API takes the same rule.
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/API_MASKED", e.pid), map[string]any{"value": "has space inside", "masked": true}, http.StatusBadRequest, nil)

	wantStatus(t, "delete", e.post(e.maint, e.settings+"/variables/delete", url.Values{"key": {"GREETING"}, "environment": {"*"}}), http.StatusSeeOther)
	if v := e.variableOf("GREETING"); v != nil {
		t.Fatalf("deleted variable still there: %+v", v)
	}
	wantStatus(t, "delete again", e.post(e.maint, e.settings+"/variables/delete", url.Values{"key": {"GREETING"}}), http.StatusNotFound, "no variable GREETING")
}

// TestAttackMaskedVariableValueRead: a masked variable's value, once set (through the page or
// the API), is in no answer of a page or of the API to a maintainer.
func TestAttackMaskedVariableValueRead(t *testing.T) {
	e := newSettingsEnv(t)
	const secret, apiSecret = "Pa55-w0rd_of.the~project", "api-set-Secret-987"
	wantStatus(t, "set", e.post(e.maint, e.settings+"/variables", url.Values{"key": {"DEPLOY_KEY"}, "value": {secret}, "masked": {"1"}}), http.StatusSeeOther)
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/API_KEY", e.pid), map[string]any{"value": apiSecret, "masked": true}, http.StatusNoContent, nil)
	bodies := map[string]*reply{
		"settings page":         e.getWithCookie(e.settings, e.maint.cookie),
		"settings page (admin)": e.getWithCookie(e.settings, e.admin.cookie),
		"refused form":          e.post(e.maint, e.settings+"/variables", url.Values{"key": {"DEPLOY_KEY"}}),
		"refused schedule":      e.post(e.maint, e.settings+"/schedules", url.Values{"cron": {"nonsense"}}),
		"edit keeping value":    e.post(e.maint, e.settings+"/variables", url.Values{"key": {"DEPLOY_KEY"}, "masked": {"1"}}),
		"secret regenerated":    e.post(e.maint, e.settings+"/webhook-secret", nil),
		"API variables":         e.do("GET", fmt.Sprintf("/api/v1/projects/%d/variables", e.pid), adminToken, nil, nil),
	}
	for name, r := range bodies {
		if r.status >= 500 {
			t.Fatalf("%s: %s", name, r)
		}
		for _, s := range []string{secret, apiSecret} {
			if strings.Contains(string(r.body), s) || strings.Contains(string(r.body), url.QueryEscape(s)) {
				t.Errorf("%s: the masked value %q is in the answer:\n%s", name, s, r.body)
			}
		}
	}
	if v := e.variableOf("DEPLOY_KEY"); v.Value != secret {
		t.Fatalf("the masked value changed: %+v", v)
	}
}

func TestSettingsWebhookSecret(t *testing.T) {
	e := newSettingsEnv(t)
	r := e.post(e.maint, e.settings+"/webhook-secret", nil)
	wantStatus(t, "regenerate", r, http.StatusOK, fmt.Sprintf("%s/hooks/github/%d", e.url, e.pid))
	p, err := e.srv.store.Project(context.Background(), e.pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.WebhookSecret == "old-webhook-secret" || len(p.WebhookSecret) < MinTokenLength || !strings.Contains(string(r.body), p.WebhookSecret) {
		t.Fatalf("new secret %q not stored or not shown", p.WebhookSecret)
	}
	if page := e.getWithCookie(e.settings, e.maint.cookie); strings.Contains(string(page.body), p.WebhookSecret) {
		t.Fatal("the settings page shows the webhook secret again")
	}
	wantStatus(t, "developer regenerates", e.post(e.dev, e.settings+"/webhook-secret", nil), http.StatusForbidden)
}

// memberRole is u's role in the project, RoleNone when u is no member.
func (e *settingsEnv) memberRole(uid int64) store.Role {
	e.t.Helper()
	m, err := e.srv.store.Member(context.Background(), e.pid, uid)
	if err != nil {
		return store.RoleNone
	}
	return m.Role
}

func TestSettingsMembers(t *testing.T) {
	e := newSettingsEnv(t)
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		uid    int64
		role   store.Role
	}{
		{"add", "/members", url.Values{"username": {"sam"}, "role": {"developer"}}, http.StatusSeeOther, e.stranger.id, store.RoleDeveloper},
		{"change role, case of the username aside", "/members", url.Values{"username": {"SAM"}, "role": {"reporter"}}, http.StatusSeeOther, e.stranger.id, store.RoleReporter},
		{"bad role", "/members", url.Values{"username": {"sam"}, "role": {"owner"}}, http.StatusBadRequest, e.stranger.id, store.RoleReporter},
		{"remove", "/members/delete", url.Values{"username": {"sam"}}, http.StatusSeeOther, e.stranger.id, store.RoleNone},
		{"remove a non-member", "/members/delete", url.Values{"username": {"sam"}}, http.StatusBadRequest, e.stranger.id, store.RoleNone},
		{"unknown user", "/members", url.Values{"username": {"nobody"}, "role": {"developer"}}, http.StatusBadRequest, 0, store.RoleNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.maint, e.settings+tc.path, tc.form)
			wantStatus(t, "POST", r, tc.status)
			if got := e.memberRole(tc.uid); got != tc.role {
				t.Fatalf("role %s, want %s", got, tc.role)
			}
		})
	}
}

// TestAttackLastMaintainerRemoved: the last maintainer among a project's members can be
// neither removed nor demoted, by the page or the API; with a second one, they can.
func TestAttackLastMaintainerRemoved(t *testing.T) {
	e := newSettingsEnv(t)
	wantStatus(t, "remove self", e.post(e.maint, e.settings+"/members/delete", url.Values{"username": {"maud"}}), http.StatusConflict, "last maintainer")
	wantStatus(t, "demote self", e.post(e.maint, e.settings+"/members", url.Values{"username": {"maud"}, "role": {"developer"}}), http.StatusConflict, "last maintainer")
	e.api("DELETE", fmt.Sprintf("/api/v1/projects/%d/members/%d", e.pid, e.maint.id), nil, http.StatusConflict, nil)
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/members/%d", e.pid, e.maint.id), map[string]any{"role": "reporter"}, http.StatusConflict, nil)
	if got := e.memberRole(e.maint.id); got != store.RoleMaintainer {
		t.Fatalf("the last maintainer is now %s", got)
	}
	e.member(e.pid, e.dev.id, "maintainer")
	wantStatus(t, "remove with another maintainer", e.post(e.maint, e.settings+"/members/delete", url.Values{"username": {"maud"}}), http.StatusSeeOther)
	if got := e.memberRole(e.maint.id); got != store.RoleNone {
		t.Fatalf("removed maintainer is %s", got)
	}
}

func TestSettingsSchedules(t *testing.T) {
	e := newSettingsEnv(t)
	r := e.post(e.maint, e.settings+"/schedules", url.Values{"description": {"nightly"}, "cron": {"0 3 * * *"}, "timezone": {"Europe/Paris"},
		"ref": {"main"}, "active": {"1"}, "var_key": {"MODE", ""}, "var_value": {"full", ""}})
	wantStatus(t, "add", r, http.StatusSeeOther)
	ss, err := e.srv.store.Schedules(context.Background(), e.pid)
	if err != nil || len(ss) != 1 || ss[0].Vars["MODE"] != "full" || !ss[0].Active || ss[0].Timezone != "Europe/Paris" || ss[0].NextRun.IsZero() {
		t.Fatalf("schedules %+v, %v", ss, err)
	}
	wantStatus(t, "page", e.getWithCookie(e.settings, e.maint.cookie), http.StatusOK, "nightly", "<code>0 3 * * *</code>", "Europe/Paris", "<code>MODE</code>")
	wantStatus(t, "bad cron", e.post(e.maint, e.settings+"/schedules", url.Values{"description": {"x"}, "cron": {"@every 1m"}, "active": {"1"}}), http.StatusBadRequest, "want 5 fields")
	wantStatus(t, "bad zone", e.post(e.maint, e.settings+"/schedules", url.Values{"description": {"x"}, "cron": {"0 3 * * *"}, "timezone": {"Mars/Olympus"}}), http.StatusBadRequest, "not a time zone")
	wantStatus(t, "delete", e.post(e.maint, fmt.Sprintf("%s/schedules/%d/delete", e.settings, ss[0].ID), nil), http.StatusSeeOther)
	if ss, _ := e.srv.store.Schedules(context.Background(), e.pid); len(ss) != 0 {
		t.Fatalf("after delete: %+v", ss)
	}
}

// TestAttackDeleteOtherProjectsSchedule: a maintainer of one project cannot delete another
// project's schedule by its ID, through the API or a page.
func TestAttackDeleteOtherProjectsSchedule(t *testing.T) {
	e := newSettingsEnv(t)
	other := e.project("other", "s")
	var sc struct{ ID int64 }
	e.api("POST", fmt.Sprintf("/api/v1/projects/%d/schedules", other), map[string]any{"description": "theirs", "cron": "0 3 * * *"}, http.StatusCreated, &sc)
	tok, _ := e.personalToken(e.maint.id)
	r := e.do("DELETE", fmt.Sprintf("/api/v1/projects/%d/schedules/%d", e.pid, sc.ID), tok, nil, nil)
	wantStatus(t, "API", r, http.StatusNotFound)
	wantStatus(t, "page", e.post(e.maint, fmt.Sprintf("%s/schedules/%d/delete", e.settings, sc.ID), nil), http.StatusNotFound)
	if ss, _ := e.srv.store.Schedules(context.Background(), other); len(ss) != 1 {
		t.Fatalf("the other project's schedules: %+v", ss)
	}
}

func TestSettingsVisibility(t *testing.T) {
	e := newSettingsEnv(t)
	wantStatus(t, "stranger before", e.getWithCookie("/slipway/demo/-/settings", e.stranger.cookie), http.StatusNotFound)
	wantStatus(t, "internal", e.post(e.maint, e.settings+"/general", url.Values{"visibility": {"internal"}}), http.StatusSeeOther)
	p, _ := e.srv.store.Project(context.Background(), e.pid)
	if p.Visibility != store.VisibilityInternal {
		t.Fatalf("visibility %q", p.Visibility)
	}
	// A signed-in stranger now reads the project, but is no maintainer.
	wantStatus(t, "stranger after", e.getWithCookie(e.settings, e.stranger.cookie), http.StatusForbidden)
	wantStatus(t, "bad", e.post(e.maint, e.settings+"/general", url.Values{"visibility": {"secret"}}), http.StatusBadRequest, "want private, internal or public")
}

// TestAttackSettingsFormWithoutCSRF: a form of each family posted without the session's CSRF
// token, or with another one, is refused and changes nothing.
func TestAttackSettingsFormWithoutCSRF(t *testing.T) {
	e := newSettingsEnv(t)
	for _, tc := range []struct {
		name, path string
		who        uiUser
		form       url.Values
	}{
		{"variable", e.settings + "/variables", e.maint, url.Values{"key": {"X"}, "value": {"y"}}},
		{"member", e.settings + "/members", e.maint, url.Values{"username": {"sam"}, "role": {"maintainer"}}},
		{"user", "/-/admin/users", e.admin, url.Values{"username": {"eve"}, "password": {"long-enough-pw"}, "admin": {"1"}}},
		{"token", "/-/profile/tokens", e.dev, url.Values{"name": {"stolen"}}},
		{"lint", "/-/lint", e.dev, url.Values{"yaml": {"job: {script: [echo]}"}}},
		{"runner", "/-/admin/runners/token", e.admin, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, csrf := range []string{"", "wrong-token"} {
				form := url.Values{}
				for k, v := range tc.form {
					form[k] = v
				}
				if csrf != "" {
					form.Set("csrf", csrf)
				}
				wantStatus(t, "csrf "+csrf, e.form(tc.path, tc.who.cookie, form, nil), http.StatusForbidden, "CSRF")
			}
		})
	}
	if tok, err := e.srv.store.TokenByHash(context.Background(), hashToken(regToken)); err != nil || tok.Revoked {
		t.Fatalf("a refused form reset the registration token: %+v, %v", tok, err)
	}
	if e.variableOf("X") != nil || e.memberRole(e.stranger.id) != store.RoleNone {
		t.Fatal("a refused form changed something")
	}
	if _, err := e.srv.store.UserByName(context.Background(), "eve"); err == nil {
		t.Fatal("a refused form made a user")
	}
	if ts, _ := e.srv.store.UserTokens(context.Background(), e.dev.id); len(ts) != 0 {
		t.Fatalf("a refused form made a token: %+v", ts)
	}
}

func TestAdminUsersPage(t *testing.T) {
	e := newSettingsEnv(t)
	wantStatus(t, "non-admin", e.getWithCookie("/-/admin/users", e.maint.cookie), http.StatusNotFound)
	wantStatus(t, "non-admin POST", e.post(e.maint, "/-/admin/users", url.Values{"username": {"eve"}, "password": {"long-enough-pw"}}), http.StatusNotFound)
	r := e.getWithCookie("/-/admin/users", "")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
	}
	wantStatus(t, "admin", e.getWithCookie("/-/admin/users", e.admin.cookie), http.StatusOK, "<strong>maud</strong>", "<strong>root</strong>")

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		has    string
	}{
		{"create", url.Values{"username": {"nina"}, "password": {"long-enough-pw"}}, http.StatusSeeOther, ""},
		{"create admin", url.Values{"username": {"ada"}, "password": {"long-enough-pw"}, "admin": {"1"}}, http.StatusSeeOther, ""},
		{"taken", url.Values{"username": {"NINA"}, "password": {"long-enough-pw"}}, http.StatusConflict, "is taken"},
		{"short password", url.Values{"username": {"olga"}, "password": {"short"}}, http.StatusBadRequest, "at least 8"},
		{"hostile username", url.Values{"username": {"<script>alert(1)</script>"}, "password": {"long-enough-pw"}}, http.StatusBadRequest, "&lt;script&gt;alert(1)&lt;/script&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.admin, "/-/admin/users", tc.form)
			wantStatus(t, "POST", r, tc.status, tc.has)
			if strings.Contains(string(r.body), "<script>alert(1)") {
				t.Fatalf("unescaped: %s", r.body)
			}
		})
	}
	ada, err := e.srv.store.UserByName(context.Background(), "ada")
	if err != nil || !ada.Admin {
		t.Fatalf("ada: %+v %v", ada, err)
	}
	nina, _ := e.srv.store.UserByName(context.Background(), "nina")
	if nina == nil || nina.Admin {
		t.Fatalf("nina: %+v", nina)
	}
	ninaCookie := e.login("nina", "long-enough-pw")

	wantStatus(t, "disable", e.post(e.admin, "/-/admin/users/nina/disable", url.Values{"disabled": {"1"}}), http.StatusSeeOther)
	if u, _ := e.srv.store.UserByName(context.Background(), "nina"); !u.Disabled {
		t.Fatal("nina is not disabled")
	}
	// Her session ended.
	if r := e.getWithCookie("/-/profile/tokens", ninaCookie); r.status != http.StatusSeeOther {
		t.Fatalf("disabled user's session: %d", r.status)
	}
	wantStatus(t, "page shows disabled", e.getWithCookie("/-/admin/users", e.admin.cookie), http.StatusOK, "disabled")
	wantStatus(t, "enable", e.post(e.admin, "/-/admin/users/nina/disable", url.Values{"disabled": {"0"}}), http.StatusSeeOther)
	if u, _ := e.srv.store.UserByName(context.Background(), "nina"); u.Disabled {
		t.Fatal("nina is still disabled")
	}
	wantStatus(t, "disable self", e.post(e.admin, "/-/admin/users/root/disable", url.Values{"disabled": {"1"}}), http.StatusBadRequest, "may not disable themselves")
	wantStatus(t, "unknown", e.post(e.admin, "/-/admin/users/nobody/disable", url.Values{"disabled": {"1"}}), http.StatusNotFound)
}

func TestProfileTokensPage(t *testing.T) {
	e := newSettingsEnv(t)
	r := e.getWithCookie("/-/profile/tokens", "")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2F-%2Fprofile%2Ftokens" {
		t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
	}
	wantStatus(t, "empty", e.getWithCookie("/-/profile/tokens", e.dev.cookie), http.StatusOK, "No tokens.")

	r = e.post(e.dev, "/-/profile/tokens", url.Values{"name": {"<b>laptop</b>"}, "expires_at": {"2099-01-01"}})
	wantStatus(t, "create", r, http.StatusCreated, "&lt;b&gt;laptop&lt;/b&gt;", "2099-01-01")
	i := strings.Index(string(r.body), "slpat_")
	if i < 0 {
		t.Fatalf("no token shown:\n%s", r.body)
	}
	secret := string(r.body[i : i+len("slpat_")+40])
	wantStatus(t, "the token works", e.do("GET", "/api/v1/user", secret, nil, nil), http.StatusOK, `"username":"dave"`)
	list := e.getWithCookie("/-/profile/tokens", e.dev.cookie)
	wantStatus(t, "list", list, http.StatusOK, "&lt;b&gt;laptop&lt;/b&gt;")
	if strings.Contains(string(list.body), secret) {
		t.Fatal("the list shows the token again")
	}

	for _, tc := range []struct {
		name string
		form url.Values
		has  string
	}{
		{"no name", url.Values{"name": {" "}}, "want 1 to 255 characters"},
		{"past expiry", url.Values{"name": {"old"}, "expires_at": {"2001-01-01"}}, "want a time in the future"},
		{"bad expiry", url.Values{"name": {"old"}, "expires_at": {"tomorrow"}}, "want YYYY-MM-DD"},
		{"expiry past what is stored", url.Values{"name": {"old"}, "expires_at": {"2999-01-01"}}, "within 100 years"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, "refused", e.post(e.dev, "/-/profile/tokens", tc.form), http.StatusBadRequest, tc.has)
		})
	}

	ts, _ := e.srv.store.UserTokens(context.Background(), e.dev.id)
	if len(ts) != 1 {
		t.Fatalf("tokens %+v", ts)
	}
	// Another user cannot revoke it: it does not exist for them.
	wantStatus(t, "revoke another's", e.post(e.maint, fmt.Sprintf("/-/profile/tokens/%d/revoke", ts[0].ID), nil), http.StatusNotFound)
	wantStatus(t, "revoke", e.post(e.dev, fmt.Sprintf("/-/profile/tokens/%d/revoke", ts[0].ID), nil), http.StatusSeeOther)
	wantStatus(t, "revoked token", e.do("GET", "/api/v1/user", secret, nil, nil), http.StatusUnauthorized)
	wantStatus(t, "list after revoke", e.getWithCookie("/-/profile/tokens", e.dev.cookie), http.StatusOK, "No tokens.")
}

func TestLintPage(t *testing.T) {
	e := newSettingsEnv(t, func(o *Options) { o.Limits.ConfigSize = 4 << 10 })
	r := e.getWithCookie("/-/lint", "")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
	}
	wantStatus(t, "form", e.getWithCookie("/-/lint", e.stranger.cookie), http.StatusOK, `name="yaml"`, `<option value="merge_request_event">`)

	const valid = `stages: [build, test, deploy]
build:
  stage: build
  script: [make]
test:
  stage: test
  script: [make test]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_TAG
      when: manual
deploy:
  stage: deploy
  script: [make deploy]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
`
	row := func(name, stage, when string) string {
		return fmt.Sprintf(`<td data-label="Job"><strong>%s</strong></td><td data-label="Stage">%s</td><td data-label="When">%s</td>`, name, stage, when)
	}
	for _, tc := range []struct {
		name, yaml, ref, source string
		status                  int
		has, lacks              []string
	}{
		{name: "branch", yaml: valid, ref: "main", source: "push", status: http.StatusOK,
			has:   []string{"The configuration is valid", row("build", "build", "on_success"), row("deploy", "deploy", "on_success"), ".gitlab-ci.yml:16:7"},
			lacks: []string{row("test", "test", "on_success")}},
		{name: "other branch", yaml: valid, ref: "feature", source: "push", status: http.StatusOK,
			has: []string{row("build", "build", "on_success"), "Left out", `<td data-label="Job">deploy</td>`}, lacks: []string{row("deploy", "deploy", "on_success")}},
		{name: "merge request", yaml: valid, ref: "feature", source: "merge_request_event", status: http.StatusOK,
			has: []string{row("test", "test", "on_success")}},
		{name: "tag", yaml: valid, ref: "v1.0", source: "tag", status: http.StatusOK,
			has: []string{row("test", "test", "manual")}},
		{name: "error", yaml: "job:\n  script: [echo]\n  when: sometimes\n", status: http.StatusOK,
			has: []string{"The configuration is invalid", "<code>.gitlab-ci.yml:3:9: "}},
		{name: "syntax error", yaml: "job:\n  script: [true\n", status: http.StatusOK,
			has: []string{"The configuration is invalid", "<code>.gitlab-ci.yml:"}},
		{name: "include:project", yaml: "include:\n  - project: group/other\n    file: ci.yml\njob: {script: [echo]}\n", status: http.StatusOK,
			has: []string{".gitlab-ci.yml:2:", "the lint page checks one file"}},
		{name: "include:local", yaml: "include: other.yml\njob: {script: [echo]}\n", status: http.StatusOK,
			has: []string{".gitlab-ci.yml:1:"}},
		{name: "too large", yaml: "# " + strings.Repeat("x", 4<<10) + "\njob: {script: [echo]}\n", status: http.StatusRequestEntityTooLarge,
			has: []string{"more than the limit of 4096"}},
		{name: "larger than a form", yaml: strings.Repeat("x", 2<<20), status: http.StatusRequestEntityTooLarge,
			has: []string{"too large"}},
		{name: "hostile", yaml: "\"<script>alert(1)</script>\":\n  script: [\"</textarea><img src=x onerror=alert(2)>\"]\n", status: http.StatusOK,
			has:   []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;/textarea&gt;&lt;img src=x onerror=alert(2)&gt;"},
			lacks: []string{"<script>alert(1)", "<img src=x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.stranger, "/-/lint", url.Values{"yaml": {tc.yaml}, "ref": {tc.ref}, "source": {tc.source}})
			wantStatus(t, "lint", r, tc.status, tc.has...)
			for _, s := range tc.lacks {
				if strings.Contains(string(r.body), s) {
					t.Fatalf("the body has %q:\n%s", s, r.body)
				}
			}
		})
	}
}

// panicGlobFS is a repository whose file globbing panics: what a bug of the engine does.
type panicGlobFS struct{ fstest.MapFS }

func (panicGlobFS) Glob(string) ([]string, error) { panic("glob bug") }

// TestAttackLintPanic: a panic of the engine while it plans a pasted file is a 500 page that
// names the line, and the server goes on.
func TestAttackLintPanic(t *testing.T) {
	e := newSettingsEnv(t)
	e.srv.lintFS = func(yaml []byte) fs.FS { return panicGlobFS{lintFiles(yaml).(fstest.MapFS)} }
	yaml := "a:\n  script: [echo]\nb:\n  script: [echo]\n  rules:\n    - exists: [go.mod]\n"
	r := e.post(e.dev, "/-/lint", url.Values{"yaml": {yaml}})
	wantStatus(t, "lint", r, http.StatusInternalServerError, ".gitlab-ci.yml:3:")
	wantStatus(t, "after", e.getWithCookie("/-/lint", e.dev.cookie), http.StatusOK)
}

// registerAs registers a runner named name that says it runs version (none when "").
func (e *env) registerAs(name, version string, tags ...string) string {
	e.t.Helper()
	r := e.do("POST", jobapi.PathRegister, "", jobapi.RegisterRequest{Version: jobapi.Version, Token: regToken, Name: name, Tags: tags, RunUntagged: true, RunnerVersion: version}, nil)
	var out jobapi.RegisterResponse
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &out) != nil {
		e.t.Fatalf("register %s: %s", name, r)
	}
	return out.Token
}

// runnerNamed is the stored runner of that name.
func (e *env) runnerNamed(name string) *store.Runner {
	e.t.Helper()
	rs, err := e.srv.store.ListRunners(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, rn := range rs {
		if rn.Name == name {
			return rn
		}
	}
	return nil
}

func TestAdminRunnersPage(t *testing.T) {
	e := newSettingsEnv(t)
	const hostile = `<img src=x onerror=alert(1)>`
	busyTok := e.registerAs(hostile, "v1.2.3", "linux")
	e.registerAs("old", "")
	wantStatus(t, "non-admin", e.getWithCookie("/-/admin/runners", e.maint.cookie), http.StatusNotFound)
	wantStatus(t, "non-admin pause", e.post(e.maint, fmt.Sprintf("/-/admin/runners/%d/pause", e.runnerNamed("old").ID), url.Values{"pause": {"1"}}), http.StatusNotFound)

	// The busy runner takes the project's job; a request of a newer build updates its version.
	e.trigger(e.pid, "main", nil)
	var j *jobapi.Job
	eventually(t, 10*time.Second, func() (bool, string) {
		r := e.do("POST", jobapi.PathRequest, busyTok, jobapi.JobRequest{Version: jobapi.Version, Key: "k", WaitSeconds: 0.2, RunnerVersion: "v1.2.4"}, nil)
		if r.status == http.StatusCreated {
			j = &jobapi.Job{}
			mustJSON(t, r.body, j)
		}
		return j != nil, "no job claimed"
	})
	page := e.getWithCookie("/-/admin/runners", e.admin.cookie)
	wantStatus(t, "admin", page, http.StatusOK,
		"<strong>&lt;img src=x onerror=alert(1)&gt;</strong>", "<code>linux</code>", "v1.2.4", "online",
		fmt.Sprintf(`<a href="/slipway/demo/-/jobs/%d">job #%d</a>`, j.ID, j.ID),
		"<strong>old</strong>", "unknown")
	if strings.Contains(string(page.body), hostile) {
		t.Fatal("the runner's name is not escaped")
	}

	// Reset the registration token: the new one is shown once and works, the old one no more.
	r := e.post(e.admin, "/-/admin/runners/token", nil)
	wantStatus(t, "reset", r, http.StatusOK, "slr_")
	i := strings.Index(string(r.body), "slr_")
	newReg := string(r.body[i : i+len("slr_")+40])
	if r := e.do("POST", jobapi.PathRegister, "", jobapi.RegisterRequest{Version: jobapi.Version, Token: regToken, Name: "late"}, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("the old registration token after a reset: %s", r)
	}
	if r := e.do("POST", jobapi.PathRegister, "", jobapi.RegisterRequest{Version: jobapi.Version, Token: newReg, Name: "new"}, nil); r.status != http.StatusCreated {
		t.Fatalf("the new registration token: %s", r)
	}
	if strings.Contains(string(e.getWithCookie("/-/admin/runners", e.admin.cookie).body), newReg) {
		t.Fatal("the registration token is shown again")
	}

	// Remove: the runner's token stops working.
	old := e.runnerNamed("old")
	wantStatus(t, "remove", e.post(e.admin, fmt.Sprintf("/-/admin/runners/%d/delete", old.ID), nil), http.StatusSeeOther)
	if e.runnerNamed("old") != nil {
		t.Fatal("the removed runner is listed")
	}
	wantStatus(t, "remove again", e.post(e.admin, fmt.Sprintf("/-/admin/runners/%d/delete", old.ID), nil), http.StatusNotFound)
	wantStatus(t, "version too long", e.do("POST", jobapi.PathRegister, "", jobapi.RegisterRequest{Version: jobapi.Version, Token: newReg, RunnerVersion: strings.Repeat("v", 65)}, nil), http.StatusBadRequest)
}

// TestPausedRunnerGetsNoJob: a runner paused on the admin page gets no job while one waits
// for it; resumed, it gets it.
func TestPausedRunnerGetsNoJob(t *testing.T) {
	e := newSettingsEnv(t)
	tok := e.registerAs("r1", "v1")
	id := e.runnerNamed("r1").ID
	wantStatus(t, "pause", e.post(e.admin, fmt.Sprintf("/-/admin/runners/%d/pause", id), url.Values{"pause": {"1"}}), http.StatusSeeOther)
	if !e.runnerNamed("r1").Paused {
		t.Fatal("not paused")
	}
	wantStatus(t, "page", e.getWithCookie("/-/admin/runners", e.admin.cookie), http.StatusOK, "paused", "Resume")
	pl := e.trigger(e.pid, "main", nil)
	eventually(t, 10*time.Second, func() (bool, string) {
		st := e.pipeline(pl.ID).job("job").Status
		return st == status.Pending, "job is " + string(st)
	})
	for range 3 {
		if j, err := e.request(tok); err != nil || j != nil {
			t.Fatalf("paused runner: got %+v, %v", j, err)
		}
	}
	wantStatus(t, "resume", e.post(e.admin, fmt.Sprintf("/-/admin/runners/%d/pause", id), url.Values{"pause": {"0"}}), http.StatusSeeOther)
	e.claim(tok, "job")
}

// TestAttackHostileSettingsStrings: strings of attackers in the forms of the settings pages
// (a variable key, a username, an environment scope, a schedule) come back escaped.
func TestAttackHostileSettingsStrings(t *testing.T) {
	e := newSettingsEnv(t)
	const x = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"variable key", "/variables", url.Values{"key": {x}, "value": {"v"}}},
		{"environment scope", "/variables", url.Values{"key": {"SCOPED"}, "value": {"v"}, "environment": {x}}},
		{"member", "/members", url.Values{"username": {x}, "role": {"developer"}}},
		{"member role", "/members", url.Values{"username": {"sam"}, "role": {x}}},
		{"schedule", "/schedules", url.Values{"description": {x}, "cron": {"0 3 * * *"}, "ref": {x}, "var_key": {"K"}, "var_value": {x}, "active": {"1"}}},
		{"schedule zone", "/schedules", url.Values{"description": {"d"}, "cron": {"0 3 * * *"}, "timezone": {x}}},
		{"visibility", "/general", url.Values{"visibility": {x}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []*reply{e.post(e.maint, e.settings+tc.path, tc.form), e.getWithCookie(e.settings, e.maint.cookie)} {
				if r.status >= 500 {
					t.Fatalf("got %s", r)
				}
				for _, bad := range []string{"<script>alert(1)", "<img src=x"} {
					if strings.Contains(string(r.body), bad) {
						t.Fatalf("%q is in the page unescaped:\n%s", bad, r.body)
					}
				}
			}
		})
	}
	// The scoped variable was stored, with its hostile scope, and shown escaped.
	wantStatus(t, "settings", e.getWithCookie(e.settings, e.maint.cookie), http.StatusOK, "&lt;script&gt;alert(1)&lt;/script&gt;")
}
