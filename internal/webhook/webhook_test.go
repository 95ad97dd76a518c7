package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const testSecret = "It's a Secret to Everybody"

// fixtures are the payloads in testdata, each with the forge and event
// header it is delivered with. Each has a golden Event in
// testdata/<name>.golden.json.
var fixtures = []struct {
	name, forge, event string
}{
	{"github_push", GitHub, "push"},
	{"github_push_delete", GitHub, "push"},
	{"github_tag", GitHub, "push"},
	{"github_pull_request", GitHub, "pull_request"},
	{"github_pull_request_synchronize", GitHub, "pull_request"},
	{"github_pull_request_closed", GitHub, "pull_request"},
	{"github_ping", GitHub, "ping"},
	{"gitlab_push", GitLab, "Push Hook"},
	{"gitlab_tag_push", GitLab, "Tag Push Hook"},
	{"gitlab_merge_request", GitLab, "Merge Request Hook"},
	{"gitlab_merge_request_update", GitLab, "Merge Request Hook"},
	{"gitlab_merge_request_labels", GitLab, "Merge Request Hook"},
	{"gitea_push", Gitea, "push"},
	{"gitea_tag", Gitea, "push"},
	{"gitea_pull_request", Gitea, "pull_request"},
	{"gitea_pull_request_label", Gitea, "pull_request"},
}

func hexHMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// delivery returns the headers forge sends with body: event name, delivery
// ID and signature or token for secret.
func delivery(forge, event string, body []byte, secret string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	switch forge {
	case GitHub:
		h.Set("X-GitHub-Event", event)
		h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		h.Set("X-Hub-Signature-256", "sha256="+hexHMAC(secret, body))
	case GitLab:
		h.Set("X-Gitlab-Event", event)
		h.Set("X-Gitlab-Event-UUID", "d30562ce-aed7-45f0-8fcd-62bb05561dd3")
		h.Set("X-Gitlab-Webhook-UUID", "904f79d8-6352-4805-9f21-eafaac9071b1")
		h.Set("X-Gitlab-Token", secret)
	case Gitea:
		h.Set("X-Gitea-Event", event)
		h.Set("X-Gitea-Delivery", "ae544000-468f-4975-b27d-3c359aa6adda")
		h.Set("X-Gitea-Signature", hexHMAC(secret, body))
	}
	return h
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtures replays each payload in testdata through Parse, signed as the
// forge signs it, and compares the Event with its golden file.
func TestFixtures(t *testing.T) {
	for _, tc := range fixtures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := readFixture(t, tc.name)
			ev, err := Parse(tc.forge, delivery(tc.forge, tc.event, body, testSecret), body, testSecret)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Event differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			checkEvent(t, tc.forge, tc.event, ev)
		})
	}
}

// checkEvent asserts the guarantees of the package doc on an Event that
// parsed without error.
func checkEvent(t *testing.T, forge, event string, ev *Event) {
	t.Helper()
	if ev == nil {
		t.Fatal("nil Event without error")
	}
	if ev.Forge != forge || ev.EventName != event {
		t.Fatalf("Forge, EventName = %q, %q; want %q, %q", ev.Forge, ev.EventName, forge, event)
	}
	if (ev.Ignored == "") == (ev.Kind == "") {
		t.Fatalf("Kind %q with Ignored %q: exactly one must be set", ev.Kind, ev.Ignored)
	}
	if ev.Ignored != "" {
		return
	}
	switch ev.Kind {
	case KindPush, KindTag:
		if ev.Tag != (ev.Kind == KindTag) {
			t.Fatalf("Kind %q with Tag %v", ev.Kind, ev.Tag)
		}
	case KindMergeRequest:
		mr := ev.MergeRequest
		if mr == nil {
			t.Fatal("merge request Event without MergeRequest")
		}
		if ev.Tag || ev.Deleted || mr.Number <= 0 || mr.SourceSHA != ev.After || mr.SourceBranch != ev.Ref {
			t.Fatalf("inconsistent merge request Event %+v %+v", ev, mr)
		}
		if mr.TargetSHA != "" && !isSHA(mr.TargetSHA) || !validName(mr.TargetBranch) {
			t.Fatalf("bad target %q %q", mr.TargetBranch, mr.TargetSHA)
		}
	default:
		t.Fatalf("unknown Kind %q", ev.Kind)
	}
	if !validName(ev.Ref) {
		t.Fatalf("Ref %q handed to git", ev.Ref)
	}
	if !isSHA(ev.After) || ev.Before != "" && !isSHA(ev.Before) {
		t.Fatalf("Before, After = %q, %q: not SHAs", ev.Before, ev.After)
	}
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	return s != "" && s[0] != '-' && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// TestParseRejects covers deliveries that must fail, and how.
func TestParseRejects(t *testing.T) {
	t.Parallel()
	push := readFixture(t, "github_push")
	tests := []struct {
		name  string
		forge string
		h     func(body []byte) http.Header
		body  []byte
		want  error
	}{
		{
			name: "unknown forge", forge: "bitbucket", body: push, want: ErrMalformed,
			h: func(b []byte) http.Header { return delivery(GitHub, "push", b, testSecret) },
		},
		{
			name: "no event header", forge: GitHub, body: push, want: ErrMalformed,
			h: func(b []byte) http.Header {
				h := delivery(GitHub, "push", b, testSecret)
				h.Del("X-GitHub-Event")
				return h
			},
		},
		{
			name: "signed with another secret", forge: GitHub, body: push, want: ErrSignature,
			h: func(b []byte) http.Header { return delivery(GitHub, "push", b, "guess") },
		},
		{
			name: "gitlab wrong token", forge: GitLab, body: readFixture(t, "gitlab_push"), want: ErrSignature,
			h: func(b []byte) http.Header { return delivery(GitLab, "Push Hook", b, "guess") },
		},
		{
			name: "body over MaxBody", forge: Gitea, body: make([]byte, MaxBody+1), want: ErrMalformed,
			h: func(b []byte) http.Header { return delivery(Gitea, "push", b, testSecret) },
		},
		{
			name: "signature checked before JSON", forge: Gitea, body: []byte("{"), want: ErrSignature,
			h: func(b []byte) http.Header { return delivery(Gitea, "push", b, "guess") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := Parse(tc.forge, tc.h(tc.body), tc.body, testSecret)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %+v, %v; want %v", ev, err, tc.want)
			}
		})
	}
}

// TestParseHeaders covers the alternative headers: Forgejo's and GitLab's
// Idempotency-Key.
func TestParseHeaders(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "gitea_push")
	h := http.Header{}
	h.Set("X-Forgejo-Event", "push")
	h.Set("X-Forgejo-Delivery", "5b5d0d6e-9a7b-4c0e-8a53-05d7e1e0c0de")
	h.Set("X-Forgejo-Signature", hexHMAC(testSecret, body))
	ev, err := Parse(Gitea, h, body, testSecret)
	if err != nil || ev.Kind != KindPush || ev.DeliveryID != "5b5d0d6e-9a7b-4c0e-8a53-05d7e1e0c0de" {
		t.Fatalf("Forgejo headers: %+v, %v", ev, err)
	}

	body = readFixture(t, "gitlab_push")
	h = delivery(GitLab, "Push Hook", body, testSecret)
	h.Del("X-Gitlab-Event-UUID")
	h.Set("Idempotency-Key", "f1c2a7e0-3b7d-4f4e-9d1a-2b8c6e5d4a30")
	ev, err = Parse(GitLab, h, body, testSecret)
	if err != nil || ev.DeliveryID != "f1c2a7e0-3b7d-4f4e-9d1a-2b8c6e5d4a30" {
		t.Fatalf("Idempotency-Key: %+v, %v", ev, err)
	}
}

// TestPayloads covers payload cases the fixtures do not: ignored refs and
// events, and malformed bodies.
func TestPayloads(t *testing.T) {
	t.Parallel()
	const sha = "5da67fed65ea729596e22d70bf119045212b1e75"
	parsers := map[string]func(string, []byte) (*Event, error){
		GitHub: ParseGitHub, GitLab: ParseGitLab, Gitea: ParseGitea,
	}
	tests := []struct {
		name, forge, event, body string
		wantErr                  error  // nil: must parse
		ignored                  string // when parsed: want Ignored
		kind                     string // when parsed and not ignored
	}{
		{name: "github unsupported event", forge: GitHub, event: "issues", body: `{"action":"opened"}`,
			ignored: `unsupported event "issues"`},
		{name: "github notes ref", forge: GitHub, event: "push", body: `{"ref":"refs/notes/commits","after":"` + sha + `"}`,
			ignored: `ref "refs/notes/commits" is neither a branch nor a tag`},
		{name: "github push without ref", forge: GitHub, event: "push", body: `{"after":"` + sha + `"}`, wantErr: ErrMalformed},
		{name: "github push without after", forge: GitHub, event: "push", body: `{"ref":"refs/heads/main"}`, wantErr: ErrMalformed},
		{name: "github push null", forge: GitHub, event: "push", body: `null`, wantErr: ErrMalformed},
		{name: "github bad JSON", forge: GitHub, event: "push", body: `{"ref":`, wantErr: ErrMalformed},
		{name: "github ping bad JSON", forge: GitHub, event: "ping", body: `[`, wantErr: ErrMalformed},
		{name: "github empty event", forge: GitHub, event: "", body: `{}`, wantErr: ErrMalformed},
		{name: "github after not hex", forge: GitHub, event: "push",
			body: `{"ref":"refs/heads/main","after":"--upload-pack=touch /tmp/x"}`, wantErr: ErrMalformed},
		{name: "github branch like an option", forge: GitHub, event: "push",
			body: `{"ref":"refs/heads/-x","after":"` + sha + `"}`, wantErr: ErrMalformed},
		{name: "github branch with newline", forge: GitHub, event: "push",
			body: `{"ref":"refs/heads/a\nb","after":"` + sha + `"}`, wantErr: ErrMalformed},
		{name: "github empty branch", forge: GitHub, event: "push",
			body: `{"ref":"refs/heads/","after":"` + sha + `"}`, wantErr: ErrMalformed},
		{name: "github minimal push, head_commit missing", forge: GitHub, event: "push",
			body: `{"ref":"refs/heads/main","after":"` + strings.ToUpper(sha) + `"}`, kind: KindPush},
		{name: "github sha256 repository", forge: GitHub, event: "push",
			body: `{"ref":"refs/heads/main","after":"` + sha + `0123456789abcdef01234567"}`, kind: KindPush},
		{name: "github pull_request without object", forge: GitHub, event: "pull_request",
			body: `{"action":"opened","number":1}`, wantErr: ErrMalformed},
		{name: "github pull_request number as string", forge: GitHub, event: "pull_request",
			body: `{"action":"opened","number":"1","pull_request":{}}`, wantErr: ErrMalformed},
		{name: "github pull_request without head sha", forge: GitHub, event: "pull_request",
			body: `{"action":"opened","pull_request":{"number":3,"head":{"ref":"x"},"base":{"ref":"main"}}}`, wantErr: ErrMalformed},
		{name: "github pull_request labeled", forge: GitHub, event: "pull_request",
			body: `{"action":"labeled","pull_request":{"number":3}}`, ignored: `pull request action "labeled"`},
		{name: "github ready_for_review", forge: GitHub, event: "pull_request",
			body: `{"action":"ready_for_review","pull_request":{"number":3,"head":{"ref":"x","sha":"` + sha + `"},"base":{"ref":"main"}}}`,
			kind: KindMergeRequest},
		{name: "gitea synchronize is GitHub's spelling", forge: Gitea, event: "pull_request",
			body:    `{"action":"synchronize","pull_request":{"number":3,"head":{"ref":"x","sha":"` + sha + `"},"base":{"ref":"main"}}}`,
			ignored: `pull request action "synchronize"`},
		{name: "gitea delete event", forge: Gitea, event: "delete", body: `{"ref":"old","ref_type":"branch"}`,
			ignored: `unsupported event "delete"`},
		{name: "gitea branch deletion push", forge: Gitea, event: "push",
			body: `{"ref":"refs/heads/old","before":"` + sha + `","after":"0000000000000000000000000000000000000000","head_commit":null}`,
			kind: KindPush},
		{name: "gitlab pipeline hook", forge: GitLab, event: "Pipeline Hook", body: `{"object_kind":"pipeline"}`,
			ignored: `unsupported event "Pipeline Hook"`},
		{name: "gitlab system hook", forge: GitLab, event: "System Hook", body: `{"object_kind":"push"}`,
			ignored: `unsupported event "System Hook"`},
		{name: "gitlab empty event", forge: GitLab, event: "", body: `{}`, wantErr: ErrMalformed},
		{name: "gitlab push without after", forge: GitLab, event: "Push Hook", body: `{"ref":"refs/heads/main"}`, wantErr: ErrMalformed},
		{name: "gitlab bad checkout_sha", forge: GitLab, event: "Push Hook",
			body: `{"ref":"refs/heads/main","after":"` + sha + `","checkout_sha":"HEAD"}`, wantErr: ErrMalformed},
		{name: "gitlab branch deletion", forge: GitLab, event: "Push Hook",
			body: `{"ref":"refs/heads/old","before":"` + sha + `","after":"0000000000000000000000000000000000000000","checkout_sha":null}`,
			kind: KindPush},
		{name: "gitlab merge request merged", forge: GitLab, event: "Merge Request Hook",
			body: `{"object_attributes":{"iid":5,"action":"merge"}}`, ignored: `merge request action "merge"`},
		{name: "gitlab merge request approved", forge: GitLab, event: "Merge Request Hook",
			body: `{"object_attributes":{"iid":5,"action":"approved"}}`, ignored: `merge request action "approved"`},
		{name: "gitlab merge request without attributes", forge: GitLab, event: "Merge Request Hook",
			body: `{"object_kind":"merge_request"}`, wantErr: ErrMalformed},
		{name: "gitlab merge request reopen without last_commit", forge: GitLab, event: "Merge Request Hook",
			body: `{"object_attributes":{"iid":5,"action":"reopen","source_branch":"a","target_branch":"main"}}`, wantErr: ErrMalformed},
		{name: "gitlab merge request reopen", forge: GitLab, event: "Merge Request Hook",
			body: `{"object_attributes":{"iid":5,"action":"reopen","source_branch":"a","target_branch":"main","last_commit":{"id":"` + sha + `"}}}`,
			kind: KindMergeRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := parsers[tc.forge](tc.event, []byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %+v, %v; want %v", ev, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkEvent(t, tc.forge, tc.event, ev)
			if ev.Ignored != tc.ignored || ev.Kind != tc.kind {
				t.Fatalf("Kind, Ignored = %q, %q; want %q, %q", ev.Kind, ev.Ignored, tc.kind, tc.ignored)
			}
		})
	}
}

func TestSkipCI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, message string
		want          bool
	}{
		{"empty", "", false},
		{"plain", "Fix the parser", false},
		{"skip ci", "docs: typo [skip ci]", true},
		{"ci skip", "[ci skip] bump version", true},
		{"upper case", "Release notes [SKIP CI]", true},
		{"mixed case", "x [Ci Skip]", true},
		{"hyphen", "x [skip-ci]", true},
		{"underscore", "x [ci_skip]", true},
		{"in the body", "Update fixtures\n\nNothing to test here. [skip ci]\n", true},
		{"after another bracket", "[wip] [skip ci]", true},
		{"nested bracket", "[[skip ci]]", true},
		{"no brackets", "skip ci", false},
		{"two spaces", "[skip  ci]", false},
		{"other separator", "[skip.ci]", false},
		{"unclosed", "[skip ci", false},
		{"truncated at end", "x [ci ski", false},
		{"skip actions is GitHub's only", "[skip actions]", false},
		{"no ci is GitHub's only", "[no ci]", false},
		{"not ASCII folding", "[ſkip ci]", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := SkipCI(tc.message); got != tc.want {
				t.Errorf("SkipCI(%q) = %v, want %v", tc.message, got, tc.want)
			}
		})
	}
}
