package webhook

import "fmt"

// ParseGitea parses a Gitea or Forgejo delivery of the event named by its
// X-Gitea-Event (or X-Forgejo-Event) header, without verifying it.
//
// The payloads have GitHub's shapes. push becomes a KindPush or KindTag
// Event (Deleted for an all-zeros after). pull_request becomes a
// KindMergeRequest Event for the actions opened, reopened and synchronized;
// the others (closed, edited, label_updated, assigned…) are Ignored, as are
// every other event, create and delete included (a tag or branch push
// arrives as push too). Errors wrap ErrMalformed.
func ParseGitea(event string, body []byte) (*Event, error) {
	switch event {
	case "push":
		return parseHubPush(Gitea, event, body)
	case "pull_request":
		return parseHubPull(Gitea, event, body, "opened", "reopened", "synchronized")
	default:
		return ignoreHub(Gitea, event, body, fmt.Sprintf("unsupported event %q", event))
	}
}
