package plan

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "main", want: "main"},
		{name: "branch with slash", in: "feature/FOO-123", want: "feature-foo-123"},
		{name: "uppercase", in: "RELEASE", want: "release"},
		{name: "dots and underscores", in: "v1.2.3_rc", want: "v1-2-3-rc"},
		{name: "runs of dashes kept", in: "a--b//c", want: "a--b--c"},
		{name: "leading and trailing punctuation", in: "--/foo/..", want: "foo"},
		{name: "only punctuation", in: "/-_.", want: ""},
		{name: "empty", in: "", want: ""},
		{name: "digits first", in: "123-fix", want: "123-fix"},
		{name: "unicode letters", in: "ünïcode", want: "n-code"},
		{name: "cjk", in: "日本/branch", want: "branch"},
		{name: "emoji", in: "feat/🚀", want: "feat"},
		{name: "dotted capital I", in: "İstanbul", want: "i-stanbul"},
		{name: "kelvin sign", in: "\u212Aelvin", want: "kelvin"},
		{name: "invalid utf-8", in: "a\xffb", want: "a-b"},
		{name: "long", in: strings.Repeat("a", 100), want: strings.Repeat("a", 63)},
		{name: "cut leaves trailing dash", in: strings.Repeat("a", 62) + "/b", want: strings.Repeat("a", 62)},
		{name: "cut counts bytes after replacement", in: strings.Repeat("é", 70), want: ""},
		{name: "whitespace", in: " fix bug ", want: "fix-bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Slug(tt.in); got != tt.want {
				t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPathSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "group and project", in: "gcl/test-project", want: "gcl-test-project"},
		{name: "subgroups", in: "Group/Sub.Group/My_Project", want: "group-sub-group-my-project"},
		{name: "long", in: strings.Repeat("ab/", 30), want: strings.TrimSuffix(strings.Repeat("ab-", 21), "-")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := PathSlug(tt.in); got != tt.want {
				t.Errorf("PathSlug(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestEnvironmentSlug uses GitLab's own cases (spec/lib/gitlab/slug/environment_spec.rb). That
// spec stubs the hash so that every suffix is "q517sa"; here the suffixes are the real SHA-256
// ones, computed independently, and TestEnvSlugSuffix checks the stubbed digest.
func TestEnvironmentSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "too long", in: "staging-12345678901234567", want: "staging-123456789-s729ne"},
		{name: "digit first and too long", in: "9-staging-123456789012345", want: "env-9-staging-123-f6hm7j"},
		{name: "exactly 24", in: "staging-1234567890123456", want: "staging-1234567890123456"},
		{name: "25 with trailing dash", in: "staging-1234567890123456-", want: "staging-123456789-y52hkh"},
		{name: "unchanged", in: "production", want: "production"},
		{name: "uppercase changes it", in: "PRODUCTION", want: "production-vl4voz"},
		{name: "slash", in: "review/1-foo", want: "review-1-foo-9tdj0u"},
		{name: "digit first", in: "1-foo", want: "env-1-foo-1k46wz"},
		{name: "digit first with slash", in: "1/foo", want: "env-1-foo-t4rmb4"},
		{name: "trailing dash dropped", in: "foo-", want: "foo"},
		{name: "double dash squeezed", in: "foo--bar", want: "foo-bar-q006cp"},
		{name: "punctuation", in: "foo**bar", want: "foo-bar-3jfdn1"},
		{name: "punctuation first", in: "*-foo", want: "env-foo-i1o6om"},
		{name: "trailing dash short", in: "staging-12345678-", want: "staging-12345678"},
		{name: "dash at cut", in: "staging-12345678-01234567", want: "staging-12345678-f21q2q"},
		{name: "empty", in: "", want: "env-qhkd3p"},
		{name: "unicode", in: "review/feature/Ünïcode", want: "review-feature-n-9oncou"},
		{name: "long review app", in: "deployment-review/TEST-branch-with-really-long-name", want: "deployment-review-l58kaf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := EnvironmentSlug(tt.in)
			if got != tt.want {
				t.Errorf("EnvironmentSlug(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > 24 || strings.HasSuffix(got, "-") || got[0] < 'a' || got[0] > 'z' {
				t.Errorf("EnvironmentSlug(%q) = %q breaks the slug's contract", tt.in, got)
			}
		})
	}
}

func TestEnvSlugSuffix(t *testing.T) {
	t.Parallel()
	// From GitLab's spec: ('a' * 64).to_i(16).to_s(36).last(6) gives 'q517sa'.
	if got := envSlugSuffix(strings.Repeat("a", 64)); got != "q517sa" {
		t.Errorf("envSlugSuffix(a*64) = %q, want q517sa", got)
	}
}

func TestJobGroupName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "build", want: "build"},
		{name: "parallel", in: "rspec 1/3", want: "rspec"},
		{name: "parallel colon", in: "rspec:2:3", want: "rspec"},
		{name: "matrix", in: "deploy: [aws, eu]", want: "deploy"},
		{name: "matrix and parallel", in: "test [linux] 2/4", want: "test"},
		{name: "number without total", in: "job 1", want: "job 1"},
		{name: "surrounding space", in: "  lint  ", want: "lint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := JobGroupName(tt.in); got != tt.want {
				t.Errorf("JobGroupName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEnvironmentTier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "production", in: "production", want: "production"},
		{name: "prd", in: "eu-prd", want: "production"},
		{name: "live", in: "LIVE", want: "production"},
		{name: "staging", in: "staging", want: "staging"},
		{name: "nonprod is staging", in: "nonprod", want: "staging"},
		{name: "testing before production", in: "MON-B-MTEST", want: "testing"},
		{name: "qa", in: "qa", want: "testing"},
		{name: "review app", in: "review/feature-x", want: "development"},
		{name: "development first", in: "dev-prod-mirror", want: "development"},
		{name: "other", in: "us-east-1", want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := EnvironmentTier(tt.in); got != tt.want {
				t.Errorf("EnvironmentTier(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestJobGroupNameAndTierAsRegexps checks JobGroupName and EnvironmentTier against the plain
// regexps they stand for (an unanchored search for the suffix, GitLab's four tier patterns) on
// names made of the pieces that matter to them.
func TestJobGroupNameAndTierAsRegexps(t *testing.T) {
	t.Parallel()
	suffix := regexp.MustCompile(`([\x08\s\v:]+((\[.*\])|(\d+[\s\v:/\\]+\d+))){1,3}[\s\v]*\z`)
	groupName := func(name string) string {
		if loc := suffix.FindStringIndex(name); loc != nil {
			name = name[:loc[0]] + name[loc[1]:]
		}
		return strings.Trim(name, rubyStripSet)
	}
	tiers := []struct {
		tier string
		re   *regexp.Regexp
	}{
		{"development", regexp.MustCompile(`(?i)(dev|review|trunk)`)},
		{"testing", regexp.MustCompile(`(?i)(test|tst|int|ac(ce|)pt|qa|qc|control|quality)`)},
		{"staging", regexp.MustCompile(`(?i)(st(a|)g|mod(e|)l|pre|demo|non)`)},
		{"production", regexp.MustCompile(`(?i)(pr(o|)d|live)`)},
	}
	tier := func(name string) string {
		for _, t := range tiers {
			if t.re.MatchString(name) {
				return t.tier
			}
		}
		return "other"
	}
	pieces := []string{
		"a", "k", "K", "\u212a", "s", "S", "\u017f", "e", " ", "  ", ":", "[", "]", "[x]", "[a, b]", "1", "23", "10",
		"/", "\\", "\t", "\v", "\b", "\n", "\r", "\f", "\x00", "é", "\xff", "dev", "TEST", "pRoD", "sTaG",
		"\u017ftg", "\u212aontrol", "trun", "te", "t", "c", "tg", "pr", "acpt", "ACCEPT", "modl", "qa", "Live", "1/3", " 2/4", ": [x, y]", "build",
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rnd.IntN(8) {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		name := b.String()
		if got, want := JobGroupName(name), groupName(name); got != want {
			t.Errorf("JobGroupName(%q) = %q, the regexp gives %q", name, got, want)
		}
		if got, want := EnvironmentTier(name), tier(name); got != want {
			t.Errorf("EnvironmentTier(%q) = %q, the regexps give %q", name, got, want)
		}
	}
}
