// Package webhook owns the forge side of a build trigger: it authenticates a
// webhook delivery from GitHub, GitLab or Gitea/Forgejo (HMAC signature or
// secret token) and turns its JSON payload into an Event: a push, a tag or a
// merge request to build, or a reason why nothing is built.
//
// It does not create pipelines, read .gitlab-ci.yml, talk to the forge's API,
// deduplicate deliveries or decide policy such as whether drafts, forks or
// skip-CI commits are built: the server does, from the Event. The package is
// pure: no network, no clock, no global state, and it never panics on input.
//
// # Forges
//
//   - GitHub: X-GitHub-Event; X-Hub-Signature-256 is "sha256=" and the hex
//     HMAC-SHA256 of the body. Events push and pull_request; ping is ignored.
//   - GitLab: X-Gitlab-Event ("Push Hook", "Tag Push Hook", "Merge Request
//     Hook"); X-Gitlab-Token is the secret itself, not a signature.
//   - Gitea and Forgejo: X-Gitea-Event or X-Forgejo-Event;
//     X-Gitea-Signature or X-Forgejo-Signature is the bare hex HMAC-SHA256.
//     Payloads have GitHub's shapes, with Gitea's pull request actions.
//
// # What an Event guarantees
//
// When Parse or a ParseX function returns no error, either Ignored is set
// and Kind is "", or Kind is set and Ignored is "". For a Kind that is not
// Deleted, Ref is a plausible branch or tag name (non-empty, no control
// characters, no leading '-') and After is a 40- or 64-digit lowercase hex
// SHA, so the server may hand both to git. Every other error wraps
// ErrSignature or ErrMalformed.
package webhook
