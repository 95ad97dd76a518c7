package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kinds of Event that ask for a build.
const (
	KindPush         = "push"
	KindTag          = "tag"
	KindMergeRequest = "merge_request"
)

// Forge names accepted by Parse and Verify, and set in Event.Forge.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea" // Forgejo too: it sends the same payloads
)

// MaxBody is the largest delivery body the server accepts; it answers a
// larger one with 413 before calling Parse. GitHub caps payloads at 25 MB.
const MaxBody = 25 << 20

var (
	// ErrSignature means the delivery's signature or token is missing or
	// wrong while a secret is configured. The server answers 401.
	ErrSignature = errors.New("bad webhook signature")
	// ErrMalformed means the delivery is not one the forge would send: bad
	// JSON, a missing event header, a push without ref or after, a SHA
	// that is not hex, an unknown forge. The server answers 400. Errors
	// wrap it with detail.
	ErrMalformed = errors.New("malformed webhook payload")
)

// Event is what a delivery asks for.
type Event struct {
	Forge string // GitHub, GitLab or Gitea
	// Kind is KindPush, KindTag or KindMergeRequest, or "" when Ignored.
	Kind string
	// Ignored, when not empty, says why nothing is built: an unsupported
	// event, a ping, a closed merge request, a label change, a ref that is
	// neither a branch nor a tag.
	Ignored string
	// DeliveryID identifies the delivery for deduplication and logs:
	// X-GitHub-Delivery, X-Gitlab-Event-UUID (or Idempotency-Key),
	// X-Gitea-Delivery (or X-Forgejo-Delivery). Only Parse sets it.
	DeliveryID string
	EventName  string // the event header's value
	// Ref is the short branch or tag name ("main", "v1.2.0"); for a merge
	// request, its source branch.
	Ref string
	Tag bool // Ref is a tag
	// Before and After are SHAs. After is the commit to build: for a merge
	// request the source branch's head; for an annotated tag the tagged
	// commit when the payload names it (GitLab's checkout_sha, the head
	// commit on GitHub and Gitea). Before is the previous head when the
	// forge sends one (all zeros for a new branch).
	Before, After string
	// Deleted reports a branch or tag deletion (deleted:true or After all
	// zeros). The server builds nothing for it, but may cancel pipelines.
	Deleted bool
	// RepoPath is "owner/name" (GitLab: path_with_namespace). For a merge
	// request it is the target repository's.
	RepoPath string
	// CloneURL is the HTTP clone URL of RepoPath. For a merge request from
	// a fork this is still the target repository: every forge serves the
	// source head there too (refs/pull/N/head, refs/merge-requests/N/head).
	CloneURL string
	// Message, AuthorName and AuthorEmail are the head commit's: GitHub and
	// Gitea head_commit, GitLab the commit whose id is checkout_sha or
	// after (merge requests: last_commit). Without one, the author is the
	// pusher (GitLab user_name/user_email) and Message is empty. GitHub and
	// Gitea pull requests carry no commit: the author is the pull request's
	// (GitHub: login; Gitea: full name, else login) and Message is empty.
	Message, AuthorName, AuthorEmail string
	// MergeRequest is set for every merge request delivery whose payload
	// decodes, ignored ones included (a closed one lets the server cancel
	// its pipelines). It is never nil when Kind is KindMergeRequest.
	MergeRequest *MergeRequest
}

// MergeRequest is a GitHub or Gitea pull request or a GitLab merge request.
type MergeRequest struct {
	Number       int64 // the repository-scoped number (GitLab iid)
	Title        string
	Description  string
	SourceBranch string
	TargetBranch string
	SourceSHA    string // the source head: Event.After
	TargetSHA    string // the target head; GitLab does not send it
	Action       string // the forge's action verbatim ("synchronize", "update"…)
	Draft        bool
	Labels       []string
}

// Parse verifies a delivery of forge with secret, then parses it: h holds
// the request's headers and body its whole body. An empty secret means no
// verification is configured and any delivery, signed or not, is accepted.
// Errors wrap ErrSignature or ErrMalformed.
func Parse(forge string, h http.Header, body []byte, secret string) (*Event, error) {
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), MaxBody)
	}
	if err := Verify(forge, h, body, secret); err != nil {
		return nil, err
	}
	var (
		name, id string
		parse    func(string, []byte) (*Event, error)
	)
	switch forge {
	case GitHub:
		name, id, parse = h.Get("X-GitHub-Event"), h.Get("X-GitHub-Delivery"), ParseGitHub
	case GitLab:
		name, id, parse = h.Get("X-Gitlab-Event"), first(h.Get("X-Gitlab-Event-UUID"), h.Get("Idempotency-Key")), ParseGitLab
	case Gitea:
		name = first(h.Get("X-Gitea-Event"), h.Get("X-Forgejo-Event"))
		id, parse = first(h.Get("X-Gitea-Delivery"), h.Get("X-Forgejo-Delivery")), ParseGitea
	}
	ev, err := parse(name, body)
	if err != nil {
		return nil, err
	}
	ev.DeliveryID = id
	return ev, nil
}

// SkipCI reports whether a commit message asks to skip CI, as GitLab
// decides it: "[skip ci]" or "[ci skip]" anywhere, ASCII case-insensitive,
// where the space may also be '_' or '-' ("[SKIP-CI]"). GitHub's spellings
// with a space are included.
func SkipCI(message string) bool {
	for i := strings.IndexByte(message, '['); i >= 0 && i+9 <= len(message); {
		if message[i+8] == ']' {
			var w [7]byte
			for j := range w {
				c := message[i+1+j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				w[j] = c
			}
			s := string(w[:])
			if s[:4] == "skip" && isSkipSep(s[4]) && s[5:] == "ci" ||
				s[:2] == "ci" && isSkipSep(s[2]) && s[3:] == "skip" {
				return true
			}
		}
		next := strings.IndexByte(message[i+1:], '[')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

func isSkipSep(c byte) bool { return c == ' ' || c == '_' || c == '-' }

// malformed returns an error wrapping ErrMalformed with detail.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// splitRef returns the short name of a full ref and whether it is a tag; ok
// is false for a ref that is neither refs/heads/ nor refs/tags/.
func splitRef(ref string) (name string, tag, ok bool) {
	if name, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return name, false, true
	}
	if name, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return name, true, true
	}
	return "", false, false
}

// checkRefName rejects names the server must not hand to git: empty, with
// control characters, or looking like an option.
func checkRefName(field, name string) error {
	if name == "" {
		return malformed("empty %s", field)
	}
	if name[0] == '-' {
		return malformed("%s %q starts with '-'", field, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return malformed("%s %q has a control character", field, name)
		}
	}
	return nil
}

// isZeroSHA reports an all-zeros SHA, the forges' "no commit".
func isZeroSHA(s string) bool { return s != "" && strings.Trim(s, "0") == "" }

// checkSHA validates an object name, SHA-1 or SHA-256 hex, and returns it
// in lowercase. An empty one is an error unless optional.
func checkSHA(field, s string, optional bool) (string, error) {
	if s == "" {
		if optional {
			return "", nil
		}
		return "", malformed("no %s", field)
	}
	if len(s) != 40 && len(s) != 64 {
		return "", malformed("%s %q is not a SHA", field, s)
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + 'a' - 'A'
		default:
			return "", malformed("%s %q is not a SHA", field, s)
		}
	}
	return string(b), nil
}
