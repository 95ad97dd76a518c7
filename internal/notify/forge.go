package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/slipway/slipway/internal/status"
)

// Forge reports commit statuses to a forge. Its fields are read-only once Status is
// called; Status is safe for concurrent use.
type Forge struct {
	Kind string // "github", "gitlab" or "gitea" (Gitea and Forgejo)
	// URL is the API base: https://api.github.com (or https://HOST/api/v3 for GitHub
	// Enterprise), https://gitlab.example.com, https://gitea.example.com.
	URL string
	// Repo is "owner/name" on GitHub and Gitea, and the project's numeric id or path
	// ("group/sub/name", escaped here as GitLab wants) on GitLab.
	Repo   string
	Token  string
	Client *http.Client // nil means http.DefaultClient
	// Context names Slipway's status on the commit (GitLab calls it name); "" means
	// "slipway". Use "slipway/<project>" when several Slipway projects build one repo.
	Context string
}

// Status sets the commit status of p.SHA to p.Status mapped to the forge's states, with
// target URL p.URL, a description such as "Pipeline #12 failed" and Forge.Context:
//
//	Slipway                  GitHub   GitLab    Gitea
//	created pending manual   pending  pending   pending
//	running                  pending  running   pending
//	success                  success  success   success
//	warning                  success  success   warning
//	failed                   failure  failed    failure
//	canceled skipped         error    canceled  error
//
// GitLab answers 400 "Cannot transition status" to pending after pending, running after
// running and pending after running (it updates an unfinished status in place); Status
// takes that as done. Other non-2xx answers are errors. It does not retry.
func (f *Forge) Status(ctx context.Context, p Pipeline) error {
	if err := f.status(ctx, p); err != nil {
		return fmt.Errorf("set %s commit status of %s: %w", f.Kind, shortSHA(p.SHA), err)
	}
	return nil
}

func (f *Forge) status(ctx context.Context, p Pipeline) error {
	if !p.Status.Known() {
		return fmt.Errorf("unknown pipeline status %q", p.Status)
	}
	if p.SHA == "" || strings.Trim(p.SHA, "0123456789abcdefABCDEF") != "" {
		return fmt.Errorf("commit SHA %q is not hexadecimal", p.SHA)
	}
	base := strings.TrimRight(f.URL, "/")
	if u, err := url.Parse(base); err != nil || u.Host == "" {
		return errors.New("the forge URL is not absolute")
	}
	if f.Token == "" {
		return errors.New("no token")
	}
	name := f.Context
	if name == "" {
		name = "slipway"
	}
	desc := truncate(oneLine(fmt.Sprintf("Pipeline #%d %s", p.IID, statusDescription(p.Status))), 140)
	sha := url.PathEscape(p.SHA)

	var (
		endpoint string
		body     map[string]string
		header   = http.Header{}
	)
	switch f.Kind {
	case "github", "gitea":
		owner, repo, ok := strings.Cut(f.Repo, "/")
		if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
			return fmt.Errorf("repository %q is not owner/name", f.Repo)
		}
		state := githubState(p.Status)
		prefix := ""
		if f.Kind == "github" {
			header.Set("Authorization", "Bearer "+f.Token)
			header.Set("Accept", "application/vnd.github+json")
			header.Set("X-GitHub-Api-Version", "2022-11-28")
		} else {
			state = giteaState(p.Status)
			prefix = "/api/v1"
			header.Set("Authorization", "token "+f.Token)
			header.Set("Accept", "application/json")
		}
		endpoint = base + prefix + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/statuses/" + sha
		body = map[string]string{"state": state, "target_url": p.URL, "description": desc, "context": name}
	case "gitlab":
		id := f.Repo
		if u, err := url.PathUnescape(id); err == nil {
			id = u // accept a path that is escaped already
		}
		if id == "" {
			return errors.New("no project")
		}
		header.Set("PRIVATE-TOKEN", f.Token)
		header.Set("Accept", "application/json")
		endpoint = base + "/api/v4/projects/" + url.PathEscape(id) + "/statuses/" + sha
		body = map[string]string{"state": gitlabState(p.Status), "target_url": p.URL, "description": desc, "name": name}
		if p.Ref != "" {
			body["ref"] = p.Ref
		}
	default:
		return fmt.Errorf("unknown forge kind %q", f.Kind)
	}
	if p.URL == "" {
		delete(body, "target_url")
	}

	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	c := f.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = checkResponse(resp)
	if err != nil && f.Kind == "gitlab" && resp.StatusCode == http.StatusBadRequest &&
		strings.Contains(err.Error(), "Cannot transition status") {
		// GitLab refuses to set a status the commit already has (pending after pending,
		// running after running) and answers with only this text to tell it apart.
		return nil
	}
	return err
}

// statusDescription says a pipeline status in words for a commit status.
func statusDescription(s status.Status) string {
	switch s {
	case status.Created, status.Pending:
		return "is pending"
	case status.Running:
		return "is running"
	case status.Manual:
		return "waits for a manual action"
	}
	return statusWords(s)
}

// githubState, gitlabState and giteaState map a pipeline status to the forge's commit
// states (their vocabularies, not Slipway's).
func githubState(s status.Status) string {
	switch s {
	case status.Success, status.Warning:
		return "success"
	case status.Failed:
		return "failure"
	case status.Canceled, status.Skipped:
		return "error"
	}
	return "pending"
}

func gitlabState(s status.Status) string {
	switch s {
	case status.Running:
		return "running"
	case status.Success, status.Warning:
		return "success"
	case status.Failed:
		return "failed"
	case status.Canceled, status.Skipped:
		return "canceled"
	}
	return "pending"
}

func giteaState(s status.Status) string {
	switch s {
	case status.Success:
		return "success"
	case status.Warning:
		return "warning"
	case status.Failed:
		return "failure"
	case status.Canceled, status.Skipped:
		return "error"
	}
	return "pending"
}
