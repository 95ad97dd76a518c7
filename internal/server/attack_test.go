package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// vars maps a claimed job's variables.
func vars(j *jobapi.Job) map[string]string {
	m := map[string]string{}
	for _, v := range j.Spec.Variables {
		m[v.Key] = v.Value
	}
	return m
}

// otherRepo makes another repository with files committed on main and returns its path.
func (e *env) otherRepo(files map[string]string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "other")
	e.git("init", "-q", "-b", "main", dir)
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.git("-C", dir, "add", "-A")
	e.git("-C", dir, "commit", "-q", "-m", "files")
	return dir
}

// pathProject creates a project at path cloning dir and returns its ID.
func (e *env) pathProject(path, dir string) int64 {
	e.t.Helper()
	var p struct {
		ID int64 `json:"id"`
	}
	e.api("POST", "/api/v1/projects", map[string]any{"path": path, "clone_url": dir}, http.StatusCreated, &p)
	return p.ID
}

// TestAttackProtectedVariablesViaTriggerAPI: a feature-branch job calls the pipeline API with
// its job token, naming main (or a made-up tag) and its own commit, to run the feature commit
// with the protected variables. Nothing of that makes a pipeline; what the token may do is run
// main as main is. A forged push naming main with the feature commit is not protected either.
func TestAttackProtectedVariablesViaTriggerAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "deploy:\n  script: echo\n  environment: production\n")
	pid := e.project("app", "")
	vpath := fmt.Sprintf("/api/v1/projects/%d/variables/", pid)
	e.api("PUT", vpath+"DEPLOY_KEY", map[string]any{"value": "main-only-secret", "protected": true}, http.StatusNoContent, nil)
	e.api("PUT", vpath+"PROD_KEY", map[string]any{"value": "prod-only-secret", "protected": true, "environment_scope": "production"}, http.StatusNoContent, nil)
	mainSHA := e.head()
	e.git("checkout", "-q", "-b", "feature")
	feature := e.commit(map[string]string{"evil.sh": "env"}, "feature")
	e.git("checkout", "-q", "main")
	runner := e.mustRegister("r")
	protected := func(j *jobapi.Job) bool {
		t.Helper()
		v := vars(j)
		has := v["DEPLOY_KEY"] == "main-only-secret"
		if has != (v["PROD_KEY"] == "prod-only-secret") || has != (v["CI_COMMIT_REF_PROTECTED"] == "true") {
			t.Errorf("job %d: DEPLOY_KEY %q, PROD_KEY %q, CI_COMMIT_REF_PROTECTED %q disagree", j.ID, v["DEPLOY_KEY"], v["PROD_KEY"], v["CI_COMMIT_REF_PROTECTED"])
		}
		return has
	}

	e.trigger(pid, "feature", nil)
	attacker := e.claim(runner, "deploy")
	if protected(attacker) {
		t.Fatal("a feature branch pipeline got the protected variables")
	}
	trigger := fmt.Sprintf("/api/v1/projects/%d/pipelines", pid)
	before := len(e.pipelines(pid))
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"main with the feature commit", map[string]any{"ref": "main", "sha": feature}},
		{"a made-up tag with the feature commit", map[string]any{"ref": "v9.9.9", "tag": true, "sha": feature}},
		{"a made-up tag", map[string]any{"ref": "v9.9.9", "tag": true}},
		{"a made-up tag as a ref", map[string]any{"ref": "v9.9.9"}},
		{"the feature commit as a ref", map[string]any{"ref": feature}},
		{"revision syntax", map[string]any{"ref": "feature~0"}},
	} {
		if r := e.do("POST", trigger, attacker.Token, tc.body, nil); r.status != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", tc.name, r)
		}
	}
	if n := len(e.pipelines(pid)); n != before {
		t.Fatalf("the attacks made %d pipelines", n-before)
	}

	// What the job token may do: run main as it is, without the protected variables its own
	// pipeline did not have (see TestAttackTriggerVariablesFromFeatureBranch).
	var p pipelineJSON
	r := e.do("POST", trigger, attacker.Token, map[string]any{"ref": "main"}, nil)
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &p) != nil || p.SHA != mainSHA || p.Source != "pipeline" {
		t.Fatalf("trigger main with a job token: %s", r)
	}
	if protected(e.claim(runner, "deploy")) {
		t.Error("a feature branch job's token made a pipeline with the protected variables")
	}
	// The token of a job of main's pipeline makes one with them.
	e.trigger(pid, "main", nil)
	mainJob := e.claim(runner, "deploy")
	if !protected(mainJob) {
		t.Fatal("main's own pipeline lacks the protected variables")
	}
	if r := e.do("POST", trigger, mainJob.Token, map[string]any{"ref": "main"}, nil); r.status != http.StatusCreated {
		t.Fatalf("trigger main with a job token of main: %s", r)
	}
	if !protected(e.claim(runner, "deploy")) {
		t.Error("a pipeline triggered by a job of main lacks the protected variables")
	}

	// A push delivery (the project has no webhook secret) that names main with the feature
	// commit runs it, unprotected.
	hook := func(ref, sha, id string) *jobapi.Job {
		t.Helper()
		body := gitlabPushBody(push{ref: ref, before: zeroSHA, after: sha, message: "push"})
		if r := e.deliver(forges[1], pid, "Push Hook", id, body, ""); r.status != http.StatusCreated {
			t.Fatalf("push %s %s: %s", ref, sha, r)
		}
		return e.claim(runner, "deploy")
	}
	if protected(hook("refs/heads/main", feature, "forged")) {
		t.Error("a push naming main with the feature commit got the protected variables")
	}
	// A commit main moved on from is on main: protected.
	e.commit(map[string]string{"next.txt": "1"}, "next")
	if !protected(hook("refs/heads/main", mainSHA, "older")) {
		t.Error("a push of an earlier commit of main lacks the protected variables")
	}
	// A tag is protected when it exists and points at the commit.
	if protected(hook("refs/tags/v1", feature, "made-up-tag")) {
		t.Error("a push of a tag the repository does not have got the protected variables")
	}
	e.git("tag", "v1", mainSHA)
	if protected(hook("refs/tags/v1", feature, "tag-elsewhere")) {
		t.Error("a push of a tag that points elsewhere got the protected variables")
	}
	if !protected(hook("refs/tags/v1", mainSHA, "tag")) {
		t.Error("a tag pipeline lacks the protected variables")
	}
	// The API reads a ref that names no branch as a tag.
	var tag struct {
		Tag       bool   `json:"tag"`
		Protected bool   `json:"protected"`
		SHA       string `json:"sha"`
	}
	e.api("POST", trigger, map[string]any{"ref": "v1"}, http.StatusCreated, &tag)
	if !tag.Tag || !tag.Protected || tag.SHA != mainSHA || !protected(e.claim(runner, "deploy")) {
		t.Errorf("a pipeline of ref v1 (a tag) through the API: %+v", tag)
	}

	// Protected branches are a setting of the project, with wildcards.
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"protected_branches": []string{"release/*"}}, http.StatusOK, nil)
	e.git("branch", "release/1.0", feature)
	e.trigger(pid, "release/1.0", nil)
	if !protected(e.claim(runner, "deploy")) {
		t.Error("a pipeline of release/1.0 (protected by release/*) lacks the protected variables")
	}
	e.trigger(pid, "main", nil)
	if protected(e.claim(runner, "deploy")) {
		t.Error("main, no longer protected, got the protected variables")
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"protected_branches": []string{"bad name"}}, http.StatusBadRequest, nil)
}

// TestAttackTriggerVariablesFromFeatureBranch: a feature branch job triggers main with its
// job token and variables of its choosing: BASH_ENV, which bash expands (command substitution
// included) before the job's script runs, would run the attacker's code in main's pipeline,
// next to the protected variables.
func TestAttackTriggerVariablesFromFeatureBranch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "deploy:\n  script: echo deploying\n")
	pid := e.project("app", "")
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/DEPLOY_KEY", pid),
		map[string]any{"value": "main-only-secret", "protected": true, "masked": true}, http.StatusNoContent, nil)
	e.git("checkout", "-q", "-b", "feature")
	e.commit(map[string]string{"evil.sh": "env"}, "feature")
	e.git("checkout", "-q", "main")
	runner := e.mustRegister("r")
	e.trigger(pid, "feature", nil)
	attacker := e.claim(runner, "deploy")
	body := map[string]any{"ref": "main", "variables": map[string]any{"BASH_ENV": "$(echo $DEPLOY_KEY >&2)"}}
	if r := e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", pid), attacker.Token, body, nil); r.status != http.StatusCreated {
		t.Fatalf("trigger: %s", r)
	}
	v := vars(e.claim(runner, "deploy"))
	if v["BASH_ENV"] == "" {
		t.Fatal("the triggered job lacks the trigger's variable")
	}
	if v["DEPLOY_KEY"] != "" || v["CI_COMMIT_REF_PROTECTED"] != "false" {
		t.Errorf("main's pipeline, triggered by a feature branch job with variables of its choosing, got the protected variables (DEPLOY_KEY %q, CI_COMMIT_REF_PROTECTED %q)",
			v["DEPLOY_KEY"], v["CI_COMMIT_REF_PROTECTED"])
	}
}

// TestAttackTagOnFeatureCommit: anybody who can push a branch can push a tag, on any commit;
// a tag on a feature commit must not run it with the protected variables. A tag on a commit
// of main (a protected branch) does.
func TestAttackTagOnFeatureCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "deploy:\n  script: echo\n")
	pid := e.project("app", "")
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/DEPLOY_KEY", pid),
		map[string]any{"value": "main-only-secret", "protected": true}, http.StatusNoContent, nil)
	mainSHA := e.head()
	e.git("checkout", "-q", "-b", "feature")
	feature := e.commit(map[string]string{"evil.sh": "env"}, "feature")
	e.git("tag", "v6.6.6", feature)
	e.git("checkout", "-q", "main")
	e.git("tag", "v1.0.0", mainSHA)
	runner := e.mustRegister("r")
	for _, tc := range []struct {
		tag, sha string
		want     bool
	}{
		{"v6.6.6", feature, false},
		{"v1.0.0", mainSHA, true},
	} {
		body := gitlabPushBody(push{ref: "refs/tags/" + tc.tag, before: zeroSHA, after: tc.sha, message: "tag"})
		if r := e.deliver(forges[1], pid, "Tag Push Hook", tc.tag, body, ""); r.status != http.StatusCreated {
			t.Fatalf("push tag %s: %s", tc.tag, r)
		}
		v := vars(e.claim(runner, "deploy"))
		if got := v["DEPLOY_KEY"] == "main-only-secret"; got != tc.want || v["CI_COMMIT_REF_PROTECTED"] != fmt.Sprint(tc.want) {
			t.Errorf("tag %s: DEPLOY_KEY %q, CI_COMMIT_REF_PROTECTED %q; want protected %v", tc.tag, v["DEPLOY_KEY"], v["CI_COMMIT_REF_PROTECTED"], tc.want)
		}
	}
}

// TestAttackJobTokenOtherProject: a job token of one project triggers pipelines of, and
// downloads artifacts from, projects that do not allow it; it learns nothing about them,
// not even whether they exist.
func TestAttackJobTokenOtherProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: echo\n")
	app := e.project("app", "")
	lib := e.project("lib", "") // same namespace: allowed by default
	secret := e.pathProject("other/secret", e.repo)
	runner := e.mustRegister("r")
	e.trigger(secret, "main", nil)
	secretJob := e.claim(runner, "build")
	e.finish(secretJob, status.Success)
	e.trigger(app, "main", nil)
	tok := e.claim(runner, "build").Token

	missing := e.do("POST", "/api/v1/projects/999/pipelines", tok, map[string]any{}, nil)
	if missing.status != http.StatusNotFound {
		t.Fatalf("trigger of a missing project: %s", missing)
	}
	for _, tc := range []struct {
		name, method, path string
	}{
		{"trigger", "POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", secret)},
		{"artifacts", "GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", secretJob.ID)},
	} {
		r := e.do(tc.method, tc.path, tok, map[string]any{}, nil)
		if r.status != missing.status || string(r.body) != string(missing.body) {
			t.Errorf("%s of a project that does not allow the token: %s, want what a missing one gets: %s", tc.name, r, missing)
		}
	}
	if n := len(e.pipelines(secret)); n != 1 {
		t.Errorf("the other project has %d pipelines, want 1", n)
	}
	if r := e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", lib), tok, map[string]any{}, nil); r.status != http.StatusCreated {
		t.Errorf("trigger of a project of the same namespace: %s", r)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", secretJob.ID), adminToken, nil, nil); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "no archive artifacts") {
		t.Errorf("artifacts with the admin token: %s", r)
	}

	// The allowlist opens a project to others, and closes it to its namespace.
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", secret), map[string]any{"job_token_allowlist": []string{"slipway/app"}}, http.StatusOK, nil)
	if r := e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", secret), tok, map[string]any{}, nil); r.status != http.StatusCreated {
		t.Errorf("trigger of a project that allows the token: %s", r)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", secretJob.ID), tok, nil, nil); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "no archive artifacts") {
		t.Errorf("artifacts of a project that allows the token: %s", r)
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", lib), map[string]any{"job_token_allowlist": []string{"group/*"}}, http.StatusOK, nil)
	if r := e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", lib), tok, map[string]any{}, nil); r.status != http.StatusNotFound {
		t.Errorf("trigger of a project whose allowlist leaves the token out: %s", r)
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", lib), map[string]any{"job_token_allowlist": []string{"no slash"}}, http.StatusBadRequest, nil)
}

// TestAttackIncludeProjectAcrossNamespaces: a pipeline includes files of a project of another
// namespace, which does not allow it, to read them. The include fails with an error that names
// it and says nothing of that project: the same error as for a project that does not exist.
func TestAttackIncludeProjectAcrossNamespaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: echo\n")
	other := e.otherRepo(map[string]string{
		"ci/jobs.yml":   "leaked:\n  script: [echo TOPSECRET-JOB]\n",
		"ci/broken.yml": "key: [TOPSECRET-BROKEN\n",
	})
	secret := e.pathProject("other/secret", other)
	app := e.project("app", "")
	include := func(project, file string) *reply {
		t.Helper()
		e.commit(map[string]string{".gitlab-ci.yml": fmt.Sprintf("include:\n  - project: %s\n    file: %s\nbuild:\n  script: echo\n", project, file)}, "include "+project)
		return e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", app), adminToken, map[string]any{}, nil)
	}
	absent := include("other/nothing", "ci/jobs.yml")
	for _, file := range []string{"ci/jobs.yml", "ci/broken.yml", "ci/missing.yml"} {
		r := include("other/secret", file)
		if r.status != http.StatusBadRequest || strings.Contains(string(r.body), "TOPSECRET") {
			t.Errorf("include of %s of a project that does not allow it: %s", file, r)
		}
		want := strings.NewReplacer("other/nothing", "other/secret", "ci/jobs.yml", file).Replace(string(absent.body))
		if string(r.body) != want {
			t.Errorf("include of %s of a project that does not allow it says\n%s\nwhere one that does not exist says\n%s", file, r.body, absent.body)
		}
	}
	if !strings.Contains(string(absent.body), `include:project \"other/nothing\"`) {
		t.Errorf("the error does not name the include: %s", absent)
	}

	// Allowed, the include works; a broken file of it is a configuration error as any, whose
	// syntax errors give a position, not the text.
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", secret), map[string]any{"job_token_allowlist": []string{"slipway/*"}}, http.StatusOK, nil)
	if r := include("other/secret", "ci/jobs.yml"); r.status != http.StatusCreated {
		t.Errorf("include of an allowing project: %s", r)
	}
	if r := include("other/secret", "ci/broken.yml"); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "other/secret:ci/broken.yml:2:1") || strings.Contains(string(r.body), "TOPSECRET") {
		t.Errorf("include of a broken file of an allowing project: %s", r)
	}
}

// TestCloneURLCredentials: credentials in a project's clone URL never come back from the API
// (projects, errors, deliveries), and giving the hidden URL back keeps them.
func TestCloneURLCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	const url = "https://ci-bot:s3cret-token@127.0.0.1:1/acme/app.git"
	var p struct {
		ID       int64  `json:"id"`
		CloneURL string `json:"clone_url"`
	}
	r := e.api("POST", "/api/v1/projects", map[string]any{"path": "acme/app", "clone_url": url}, http.StatusCreated, &p)
	if p.CloneURL != "https://ci-bot:xxxxx@127.0.0.1:1/acme/app.git" {
		t.Errorf("clone_url shown as %q", p.CloneURL)
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", p.ID), map[string]any{"clone_url": p.CloneURL, "default_branch": "trunk"}, http.StatusOK, nil)
	got, err := e.srv.store.Project(context.Background(), p.ID)
	if err != nil || got.CloneURL != url {
		t.Errorf("after a PATCH with the hidden URL the stored one is %q (%v)", got.CloneURL, err)
	}
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", p.ID), map[string]any{"clone_url": "https://ghp_s3cret-token@127.0.0.1:1/acme/app.git"}, http.StatusOK, nil)
	for _, r := range []*reply{
		r,
		e.do("GET", "/api/v1/projects", adminToken, nil, nil),
		e.do("GET", fmt.Sprintf("/api/v1/projects/%d", p.ID), adminToken, nil, nil),
		e.do("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", p.ID), adminToken, map[string]any{}, nil),
		e.deliver(forges[1], p.ID, "Push Hook", "d1", gitlabPushBody(push{ref: "refs/heads/main", before: zeroSHA, after: strings.Repeat("a", 40)}), ""),
		e.do("GET", fmt.Sprintf("/api/v1/projects/%d/hooks", p.ID), adminToken, nil, nil),
	} {
		if strings.Contains(string(r.body), "s3cret") {
			t.Errorf("an answer shows the credentials: %s", r)
		}
	}
}

// TestBootstrapTokenLength: an admin or registration token given by hand needs 32
// characters.
func TestBootstrapTokenLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJob)
	for _, tc := range []struct{ admin, reg, env string }{
		{"short", "", "SLIPWAY_ADMIN_TOKEN"},
		{"", strings.Repeat("x", MinTokenLength-1), "SLIPWAY_REGISTRATION_TOKEN"},
	} {
		_, _, err := e.srv.Bootstrap(context.Background(), tc.admin, tc.reg)
		if err == nil || !strings.Contains(err.Error(), tc.env) || !strings.Contains(err.Error(), "32") {
			t.Errorf("Bootstrap(%q, %q) = %v, want an error naming %s and 32", tc.admin, tc.reg, err, tc.env)
		}
	}
	n, err := e.srv.store.CountTokens(context.Background(), "admin")
	if err != nil || n != 1 {
		t.Errorf("%d admin tokens (%v), want the first one alone", n, err)
	}
	if _, _, err := e.srv.Bootstrap(context.Background(), strings.Repeat("x", MinTokenLength), ""); err != nil {
		t.Errorf("a token of %d characters: %v", MinTokenLength, err)
	}
}

// outage is a store that fails with store.ErrUnavailable, as a database that went away does,
// while down is set.
type outage struct {
	store.Store
	down atomic.Bool
}

func (o *outage) err() error {
	if o.down.Load() {
		return fmt.Errorf("query: %w: dial tcp 10.9.8.7:5432: connect: connection refused", store.ErrUnavailable)
	}
	return nil
}

func (o *outage) TokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.Store.TokenByHash(ctx, hash)
}

func (o *outage) RunnerByTokenHash(ctx context.Context, hash string) (*store.Runner, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.Store.RunnerByTokenHash(ctx, hash)
}

func (o *outage) JobByTokenHash(ctx context.Context, hash string) (*store.Job, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.Store.JobByTokenHash(ctx, hash)
}

func (o *outage) Project(ctx context.Context, id int64) (*store.Project, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.Store.Project(ctx, id)
}

func (o *outage) ProjectByPath(ctx context.Context, path string) (*store.Project, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.Store.ProjectByPath(ctx, path)
}

func (o *outage) CountTokens(ctx context.Context, kind string) (int, error) {
	if err := o.err(); err != nil {
		return 0, err
	}
	return o.Store.CountTokens(ctx, kind)
}

// TestFaultStoreUnavailable: while the store is down, every call that needs it is a 503 with
// Retry-After, with no detail of the failure: no token check turns into a 401 "invalid token"
// (on which runners drop their jobs), no webhook into an answer, no badge into "unknown". When
// the store is back, everything answers again.
func TestFaultStoreUnavailable(t *testing.T) {
	t.Parallel()
	var st *outage
	e := newEnv(t, oneJob, func(o *Options) {
		st = &outage{Store: o.Store}
		o.Store = st
	})
	pid := e.project("demo", "")
	e.trigger(pid, "main", nil)
	runner := e.mustRegister("r")
	j := e.claim(runner, "build")
	hook := gitlabPushBody(push{ref: "refs/heads/main", before: zeroSHA, after: e.head(), message: "x"})
	calls := []struct {
		name, method, path, token string
		body                      any
		header                    http.Header
		up                        int
	}{
		{"API token", "GET", "/api/v1/projects", adminToken, nil, nil, http.StatusOK},
		{"unknown token", "GET", "/api/v1/projects", "slp_unknown", nil, nil, http.StatusUnauthorized},
		{"runner token", "POST", jobapi.PathRequest, runner, jobapi.JobRequest{Version: jobapi.Version, Key: "k", WaitSeconds: 0.001}, nil, http.StatusNoContent},
		{"job token", "PUT", jobapi.PathJob(j.ID), j.Token, jobapi.Update{State: status.Running}, nil, http.StatusOK},
		{"job token, log", "PATCH", jobapi.PathLog(j.ID), j.Token, "x", http.Header{"Content-Range": {jobapi.ContentRange(0, 1)}}, http.StatusAccepted},
		{"registration", "POST", "/api/v1/runners", "", jobapi.RegisterRequest{Version: jobapi.Version, Token: regToken, Name: "r2"}, nil, http.StatusCreated},
		{"webhook", "POST", fmt.Sprintf("/hooks/gitlab/%d", pid), "", hook, http.Header{"X-Gitlab-Event": {"Push Hook"}}, http.StatusCreated},
		{"health", "GET", "/healthz", "", nil, nil, http.StatusOK},
		{"badge", "GET", "/slipway/demo/badge.svg", "", nil, nil, http.StatusOK},
		{"git", "GET", fmt.Sprintf("/api/v1/git/%d.git/info/refs?service=git-upload-pack", pid), "", nil,
			http.Header{"Authorization": {basicAuth(jobapi.GitUser, j.Token)}}, http.StatusOK},
	}
	st.down.Store(true)
	for _, c := range calls {
		r := e.do(c.method, c.path, c.token, c.body, c.header)
		switch {
		case r.status != http.StatusServiceUnavailable:
			t.Errorf("%s while the store is down: %s, want 503", c.name, r)
		case r.header.Get("Retry-After") != "5" || r.header.Get("WWW-Authenticate") != "":
			t.Errorf("%s: Retry-After %q, WWW-Authenticate %q", c.name, r.header.Get("Retry-After"), r.header.Get("WWW-Authenticate"))
		case strings.Contains(string(r.body), "10.9.8.7") || strings.Contains(string(r.body), "refused"):
			t.Errorf("%s: the answer shows the failure: %s", c.name, r)
		}
	}
	if r := e.do("GET", "/healthz", "", nil, nil); string(r.body) != "unavailable\n" {
		t.Errorf("healthz while the store is down: %q", r.body)
	}
	st.down.Store(false)
	for _, c := range calls {
		if r := e.do(c.method, c.path, c.token, c.body, c.header); r.status != c.up {
			t.Errorf("%s once the store is back: %s, want %d", c.name, r, c.up)
		}
	}
}
