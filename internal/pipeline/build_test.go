package pipeline

import (
	"strings"
	"testing"
)

// TestUnknownKeyPosition checks that an unknown key of a job is reported at the key itself
// (archlinux/signstar's pages job had its error at the job's line 346:1 instead of the key's
// 352:3), with GitLab's wording (Gitlab::Config::Entry::Validators::AllowedKeysValidator:
// "contains unknown keys: …"), one error per key, including a key a job gets through extends
// from another file.
func TestUnknownKeyPosition(t *testing.T) {
	t.Parallel()
	_, err := loadFS(map[string]string{
		DefaultFile: "include: base.yml\njob:\n  extends: .base\n  script: x\n  scirpt: y\n  artifact: z\n",
		"base.yml":  ".base:\n  imagee: alpine\n",
	}, Options{})
	want := []string{
		".gitlab-ci.yml:5:3: jobs:job config contains unknown keys: scirpt",
		".gitlab-ci.yml:6:3: jobs:job config contains unknown keys: artifact",
		"base.yml:2:3: jobs:job config contains unknown keys: imagee (included from .gitlab-ci.yml)",
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors:\n%v\nwant one to be %s", err, w)
		}
	}
}

// TestPublish checks the job keyword publish, the deprecated directory of a pages job
// (Entry::Job: `entry :publish, Entry::Publish`, a String; `validates :publish, absence:
// {message: "can only be used within a `pages` job"}, unless: pages_job?`), which
// archlinux/signstar's pages job uses.
func TestPublish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, pos, err, want string
	}{
		{name: "pages job", src: "pages:\n  script: x\n  publish: site\n", want: "site"},
		{name: "job with pages:", src: "docs:\n  script: x\n  pages: true\n  publish: site\n", want: "site"},
		{name: "job with a pages hash", src: "docs:\n  script: x\n  pages: {expire_in: 1 week}\n  publish: site\n", want: "site"},
		{name: "not a pages job", src: "docs:\n  script: x\n  publish: site\n", pos: ".gitlab-ci.yml:3:3", err: "publish can only be used within a `pages` job"},
		{name: "pages: false", src: "pages:\n  script: x\n  pages: false\n  publish: site\n", pos: ".gitlab-ci.yml:4:3", err: "publish can only be used within a `pages` job"},
		{name: "not a string", src: "pages:\n  script: x\n  publish: [site]\n", pos: ".gitlab-ci.yml:3:12", err: "jobs:pages:publish config should be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadFS(map[string]string{DefaultFile: tt.src}, Options{})
			if tt.err != "" {
				wantLoadError(t, err, tt.pos, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Jobs[0].Publish; got != tt.want {
				t.Errorf("publish %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTriggerInputs checks trigger:inputs, the inputs of a multi-project pipeline (Entry::Trigger's
// CrossProjectTrigger: ALLOWED_KEYS has inputs, `validates :inputs, type: Hash`; gitlab-org/gitlab
// issue 519963), which gitlab-org/omnibus-gitlab's QA trigger jobs use; a child pipeline
// (SameProjectTrigger) does not take it.
func TestTriggerInputs(t *testing.T) {
	t.Parallel()
	cfg, err := loadFS(map[string]string{DefaultFile: "qa:\n  trigger:\n    project: group/qa\n    inputs:\n      package-variants: ce\n      full: yes\n"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Job("qa").Trigger.Inputs
	if in.Get("package-variants").Str() != "ce" || in.Get("full").Tag != TagBool {
		t.Errorf("inputs %v", in.Interface())
	}
	_, err = loadFS(map[string]string{DefaultFile: "qa:\n  trigger:\n    project: group/qa\n    inputs: [a]\n"}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:4:13", "trigger:inputs config should be a hash")
	_, err = loadFS(map[string]string{DefaultFile: "child:\n  trigger:\n    include: c.yml\n    inputs: {a: b}\n", "c.yml": "x: {script: x}\n"}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:4:5", `unknown key "inputs"`)
}

// TestIncludeRulesWhen checks when: in an include's rules (Entry::Include::Rules::Rule:
// ALLOWED_KEYS = %i[if exists when changes], ALLOWED_WHEN = %w[never always]), which
// gitlab-org/gitlab-runner's .gitlab-ci.yml uses: a matching rule with when: never leaves the
// file out, always takes it.
func TestIncludeRulesWhen(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		DefaultFile: "include:\n" +
			"  - local: never.yml\n    rules:\n      - if: $X == \"1\"\n        when: never\n      - when: always\n" +
			"  - local: always.yml\n    rules:\n      - if: $X == \"1\"\n        when: always\n" +
			"root: {script: x}\n",
		"never.yml":  "never: {script: x}\n",
		"always.yml": "always: {script: x}\n",
	}
	vars := func(v string) *RuleEnv {
		return &RuleEnv{Vars: func(name string) (string, bool) { return v, name == "X" }}
	}
	cfg, err := loadFS(files, Options{Rules: vars("1")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(jobNames(cfg), " "); got != "always root" {
		t.Errorf("X=1: jobs %s, want always root", got)
	}
	cfg, err = loadFS(files, Options{Rules: vars("2")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(jobNames(cfg), " "); got != "never root" {
		t.Errorf("X=2: jobs %s, want never root", got)
	}
	files[DefaultFile] = "include:\n  - local: never.yml\n    rules:\n      - when: manual\nroot: {script: x}\n"
	_, err = loadFS(files, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:4:15", "an include's rule takes never or always")
	files[DefaultFile] = "include:\n  - local: never.yml\n    rules:\n      - allow_failure: true\nroot: {script: x}\n"
	_, err = loadFS(files, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:4:9", `rules: unknown key "allow_failure"`)
}

// TestDurationKeywords checks the four duration keywords as GitLab's DurationValidator has them
// (Gitlab::Config::Entry::LegacyValidationHelpers#validate_duration: `return false unless
// value.is_a?(String)`, then ChronicDuration): petsc/petsc writes `auto_stop_in: one week`;
// never, in any case, keeps artifacts for ever (Gitlab::Ci::Build::DurationParser#never?);
// an integer is no duration; auto_stop_in with a variable is expanded when the job runs
// (Ci::Build#expanded_auto_stop_in), so it is not read here.
func TestDurationKeywords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, pos, err string
		check               func(*Job) bool
	}{
		{name: "words", src: "  timeout: two hours\n  environment: {name: x, auto_stop_in: one week}\n  artifacts: {paths: [a], expire_in: a day}\n",
			check: func(j *Job) bool {
				return j.Timeout == "two hours" && j.Environment.AutoStopIn == "one week" && j.Artifacts.ExpireIn == "a day"
			}},
		{name: "Never", src: "  artifacts: {paths: [a], expire_in: Never}\n  environment: {name: x, auto_stop_in: NEVER}\n",
			check: func(j *Job) bool { return j.Artifacts.ExpireIn == "never" && j.Environment.AutoStopIn == "never" }},
		{name: "variable", src: "  environment: {name: x, auto_stop_in: $STOP}\n",
			check: func(j *Job) bool { return j.Environment.AutoStopIn == "$STOP" }},
		{name: "start_in", src: "  when: delayed\n  start_in: ten minutes\n",
			check: func(j *Job) bool { return j.StartIn == "ten minutes" }},
		{name: "integer", src: "  timeout: 3600\n", pos: ".gitlab-ci.yml:3:12", err: `jobs:job:timeout should be a duration: a string such as "1 hour", not integer`},
		{name: "never is for expire_in", src: "  timeout: never\n", pos: ".gitlab-ci.yml:3:12", err: `invalid word "never"`},
		{name: "an hour", src: "  timeout: an hour\n", pos: ".gitlab-ci.yml:3:12", err: `invalid word "an"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadFS(map[string]string{DefaultFile: "job:\n  script: x\n" + tt.src}, Options{})
			if tt.err != "" {
				wantLoadError(t, err, tt.pos, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j := cfg.Job("job"); !tt.check(j) {
				t.Errorf("job %+v", j)
			}
		})
	}
}
