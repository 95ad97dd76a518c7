package webhook

import (
	"encoding/json"
	"fmt"
	"slices"
)

// ParseGitHub parses a GitHub delivery of the event named by its
// X-GitHub-Event header, without verifying it.
//
// push becomes a KindPush or KindTag Event (Deleted for deleted:true or an
// all-zeros after). pull_request becomes a KindMergeRequest Event for the
// actions opened, reopened, synchronize and ready_for_review; the others
// (closed, edited, labeled, assigned…) are Ignored. ping and every other
// event are Ignored. Errors wrap ErrMalformed.
func ParseGitHub(event string, body []byte) (*Event, error) {
	switch event {
	case "push":
		return parseHubPush(GitHub, event, body)
	case "pull_request":
		return parseHubPull(GitHub, event, body, "opened", "reopened", "synchronize", "ready_for_review")
	case "ping":
		return ignoreHub(GitHub, event, body, "ping")
	default:
		return ignoreHub(GitHub, event, body, fmt.Sprintf("unsupported event %q", event))
	}
}

// The hub* types decode the payload fields Slipway reads from GitHub and
// Gitea, which copied GitHub's shapes. Everything else is ignored.

type hubRepo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

// hubPerson is a commit author, a pusher or a user: GitHub and Gitea name
// the same person with different fields.
type hubPerson struct {
	Name     string `json:"name"`      // commit authors, GitHub pushers
	FullName string `json:"full_name"` // Gitea users
	Login    string `json:"login"`     // users
	Username string `json:"username"`  // Gitea users
	Email    string `json:"email"`
}

func (p *hubPerson) name() string { return first(p.Name, p.FullName, p.Login, p.Username) }

type hubCommit struct {
	ID      string    `json:"id"`
	Message string    `json:"message"`
	Author  hubPerson `json:"author"`
}

type hubPush struct {
	Ref        string     `json:"ref"`
	Before     string     `json:"before"`
	After      string     `json:"after"`
	Deleted    bool       `json:"deleted"`
	HeadCommit *hubCommit `json:"head_commit"`
	Pusher     hubPerson  `json:"pusher"`
	Repository hubRepo    `json:"repository"`
}

type hubBranch struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
}

type hubPull struct {
	Action      string `json:"action"`
	Number      int64  `json:"number"`
	Before      string `json:"before"` // GitHub synchronize only
	PullRequest *struct {
		Number int64     `json:"number"`
		Title  string    `json:"title"`
		Body   string    `json:"body"`
		Draft  bool      `json:"draft"`
		Head   hubBranch `json:"head"`
		Base   hubBranch `json:"base"`
		User   hubPerson `json:"user"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
	} `json:"pull_request"`
	Repository hubRepo `json:"repository"`
}

func decode(forge, event string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: decode %s %s: %w", ErrMalformed, forge, event, err)
	}
	return nil
}

// ignoreHub returns an Ignored Event that names the repository if the
// payload does. The body must still be JSON.
func ignoreHub(forge, event string, body []byte, why string) (*Event, error) {
	if event == "" {
		return nil, malformed("%s: no event name", forge)
	}
	var p struct {
		Repository hubRepo `json:"repository"`
	}
	if err := decode(forge, event, body, &p); err != nil {
		return nil, err
	}
	return &Event{Forge: forge, EventName: event, Ignored: why,
		RepoPath: p.Repository.FullName, CloneURL: p.Repository.CloneURL}, nil
}

func parseHubPush(forge, event string, body []byte) (*Event, error) {
	var p hubPush
	if err := decode(forge, event, body, &p); err != nil {
		return nil, err
	}
	ev := &Event{Forge: forge, EventName: event, RepoPath: p.Repository.FullName, CloneURL: p.Repository.CloneURL}
	if p.Ref == "" {
		return nil, malformed("%s push: no ref", forge)
	}
	if p.After == "" {
		return nil, malformed("%s push: no after", forge)
	}
	name, tag, ok := splitRef(p.Ref)
	if !ok {
		ev.Ignored = fmt.Sprintf("ref %q is neither a branch nor a tag", p.Ref)
		return ev, nil
	}
	if err := checkRefName("ref", name); err != nil {
		return nil, err
	}
	ev.Ref, ev.Tag, ev.Kind = name, tag, KindPush
	if tag {
		ev.Kind = KindTag
	}
	var err error
	if ev.Before, err = checkSHA("before", p.Before, true); err != nil {
		return nil, err
	}
	if ev.After, err = checkSHA("after", p.After, false); err != nil {
		return nil, err
	}
	ev.Deleted = p.Deleted || isZeroSHA(ev.After)
	author := &p.Pusher
	if c := p.HeadCommit; c != nil && !ev.Deleted {
		if c.ID != "" {
			// For an annotated tag, after is the tag object; this is the commit.
			if ev.After, err = checkSHA("head_commit.id", c.ID, false); err != nil {
				return nil, err
			}
		}
		ev.Message = c.Message
		author = &c.Author
	}
	ev.AuthorName, ev.AuthorEmail = author.name(), author.Email
	return ev, nil
}

func parseHubPull(forge, event string, body []byte, build ...string) (*Event, error) {
	var p hubPull
	if err := decode(forge, event, body, &p); err != nil {
		return nil, err
	}
	pr := p.PullRequest
	if pr == nil {
		return nil, malformed("%s %s: no pull_request object", forge, event)
	}
	mr := &MergeRequest{
		Number:       pr.Number,
		Title:        pr.Title,
		Description:  pr.Body,
		SourceBranch: pr.Head.Ref,
		TargetBranch: pr.Base.Ref,
		SourceSHA:    pr.Head.SHA,
		TargetSHA:    pr.Base.SHA,
		Action:       p.Action,
		Draft:        pr.Draft,
	}
	if mr.Number == 0 {
		mr.Number = p.Number
	}
	for _, l := range pr.Labels {
		mr.Labels = append(mr.Labels, l.Name)
	}
	ev := &Event{
		Forge: forge, EventName: event,
		Ref: pr.Head.Ref, Before: p.Before, After: pr.Head.SHA,
		RepoPath: p.Repository.FullName, CloneURL: p.Repository.CloneURL,
		AuthorName: pr.User.name(), AuthorEmail: pr.User.Email,
		MergeRequest: mr,
	}
	if !slices.Contains(build, p.Action) {
		ev.Ignored = fmt.Sprintf("pull request action %q", p.Action)
		return ev, nil
	}
	if err := finishMergeRequest(forge, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// finishMergeRequest validates a merge request Event that asks for a build
// and sets its Kind.
func finishMergeRequest(forge string, ev *Event) error {
	mr := ev.MergeRequest
	if mr.Number <= 0 {
		return malformed("%s merge request: number %d", forge, mr.Number)
	}
	if err := checkRefName("source branch", mr.SourceBranch); err != nil {
		return err
	}
	if err := checkRefName("target branch", mr.TargetBranch); err != nil {
		return err
	}
	var err error
	if mr.SourceSHA, err = checkSHA("source SHA", mr.SourceSHA, false); err != nil {
		return err
	}
	if mr.TargetSHA, err = checkSHA("target SHA", mr.TargetSHA, true); err != nil {
		return err
	}
	if ev.Before, err = checkSHA("before", ev.Before, true); err != nil {
		return err
	}
	ev.After = mr.SourceSHA
	ev.Kind = KindMergeRequest
	return nil
}
