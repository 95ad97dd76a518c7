package webhook

import (
	"fmt"
	"slices"
)

// ParseGitLab parses a GitLab delivery of the event named by its
// X-Gitlab-Event header, without verifying it.
//
// "Push Hook" and "Tag Push Hook" become a KindPush or KindTag Event
// (Deleted for an all-zeros after); After is checkout_sha when present, the
// commit an annotated tag points to. "Merge Request Hook" becomes a
// KindMergeRequest Event for the actions open and reopen, and for update
// when oldrev shows new commits; an update without oldrev (title, labels,
// assignees) and the other actions (close, merge, approved…) are Ignored.
// Every other event is Ignored. Errors wrap ErrMalformed.
func ParseGitLab(event string, body []byte) (*Event, error) {
	switch event {
	case "Push Hook", "Tag Push Hook":
		return parseGitLabPush(event, body)
	case "Merge Request Hook":
		return parseGitLabMR(event, body)
	case "":
		return nil, malformed("gitlab: no event name")
	default:
		var p struct {
			Project labProject `json:"project"`
		}
		if err := decode(GitLab, event, body, &p); err != nil {
			return nil, err
		}
		return &Event{Forge: GitLab, EventName: event, Ignored: fmt.Sprintf("unsupported event %q", event),
			RepoPath: p.Project.PathWithNamespace, CloneURL: p.Project.GitHTTPURL}, nil
	}
}

// The lab* types decode the GitLab payload fields Slipway reads.

type labProject struct {
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
}

type labCommit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Author  struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"author"`
}

type labPush struct {
	Ref         string      `json:"ref"`
	Before      string      `json:"before"`
	After       string      `json:"after"`
	CheckoutSHA string      `json:"checkout_sha"`
	UserName    string      `json:"user_name"`
	UserEmail   string      `json:"user_email"`
	Project     labProject  `json:"project"`
	Commits     []labCommit `json:"commits"`
}

type labMR struct {
	User struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
	Project labProject `json:"project"`
	Attrs   *struct {
		IID            int64      `json:"iid"`
		Title          string     `json:"title"`
		Description    string     `json:"description"`
		SourceBranch   string     `json:"source_branch"`
		TargetBranch   string     `json:"target_branch"`
		LastCommit     *labCommit `json:"last_commit"`
		Action         string     `json:"action"`
		OldRev         string     `json:"oldrev"`
		Draft          bool       `json:"draft"`
		WorkInProgress bool       `json:"work_in_progress"`
	} `json:"object_attributes"`
	Labels []struct {
		Title string `json:"title"`
	} `json:"labels"`
}

func parseGitLabPush(event string, body []byte) (*Event, error) {
	var p labPush
	if err := decode(GitLab, event, body, &p); err != nil {
		return nil, err
	}
	ev := &Event{Forge: GitLab, EventName: event, RepoPath: p.Project.PathWithNamespace, CloneURL: p.Project.GitHTTPURL}
	if p.Ref == "" {
		return nil, malformed("gitlab %s: no ref", event)
	}
	if p.After == "" {
		return nil, malformed("gitlab %s: no after", event)
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
	ev.Deleted = isZeroSHA(ev.After)
	head := ev.After
	if !ev.Deleted && p.CheckoutSHA != "" {
		if ev.After, err = checkSHA("checkout_sha", p.CheckoutSHA, false); err != nil {
			return nil, err
		}
		head = ev.After
	}
	ev.AuthorName, ev.AuthorEmail = p.UserName, p.UserEmail
	if i := slices.IndexFunc(p.Commits, func(c labCommit) bool { return c.ID == head }); i >= 0 && !ev.Deleted {
		c := &p.Commits[i]
		ev.Message = c.Message
		ev.AuthorName, ev.AuthorEmail = c.Author.Name, c.Author.Email
	}
	return ev, nil
}

func parseGitLabMR(event string, body []byte) (*Event, error) {
	var p labMR
	if err := decode(GitLab, event, body, &p); err != nil {
		return nil, err
	}
	a := p.Attrs
	if a == nil {
		return nil, malformed("gitlab %s: no object_attributes", event)
	}
	mr := &MergeRequest{
		Number:       a.IID,
		Title:        a.Title,
		Description:  a.Description,
		SourceBranch: a.SourceBranch,
		TargetBranch: a.TargetBranch,
		Action:       a.Action,
		Draft:        a.Draft || a.WorkInProgress,
	}
	for _, l := range p.Labels {
		mr.Labels = append(mr.Labels, l.Title)
	}
	ev := &Event{
		Forge: GitLab, EventName: event,
		Ref: a.SourceBranch, Before: a.OldRev,
		RepoPath: p.Project.PathWithNamespace, CloneURL: p.Project.GitHTTPURL,
		AuthorName: p.User.Name, AuthorEmail: p.User.Email,
		MergeRequest: mr,
	}
	if c := a.LastCommit; c != nil {
		mr.SourceSHA, ev.After = c.ID, c.ID
		ev.Message = c.Message
		if c.Author.Name != "" || c.Author.Email != "" {
			ev.AuthorName, ev.AuthorEmail = c.Author.Name, c.Author.Email
		}
	}
	switch {
	case a.Action == "open" || a.Action == "reopen":
	case a.Action == "update" && a.OldRev != "":
	case a.Action == "update":
		ev.Ignored = "merge request update without new commits"
		return ev, nil
	default:
		ev.Ignored = fmt.Sprintf("merge request action %q", a.Action)
		return ev, nil
	}
	if err := finishMergeRequest(GitLab, ev); err != nil {
		return nil, err
	}
	return ev, nil
}
