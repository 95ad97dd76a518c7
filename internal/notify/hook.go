package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/slipway/slipway/internal/status"
)

// Headers of an outgoing webhook.
const (
	HookEventHeader     = "X-Slipway-Event"
	HookSignatureHeader = "X-Slipway-Signature-256"
)

// hookBody is the JSON an outgoing webhook carries.
type hookBody struct {
	Event           string        `json:"event"` // "pipeline"
	Project         string        `json:"project"`
	ID              int64         `json:"id"`
	IID             int64         `json:"iid"`
	Status          status.Status `json:"status"`
	Previous        status.Status `json:"previous_status,omitempty"`
	Ref             string        `json:"ref"`
	Tag             bool          `json:"tag"`
	SHA             string        `json:"sha"`
	URL             string        `json:"url"`
	Message         string        `json:"message"`
	AuthorName      string        `json:"author_name"`
	AuthorEmail     string        `json:"author_email"`
	Image           string        `json:"image,omitempty"`
	DurationSeconds float64       `json:"duration_seconds"`
	Jobs            []hookJob     `json:"jobs"`
}

type hookJob struct {
	Name          string        `json:"name"`
	Stage         string        `json:"stage"`
	Status        status.Status `json:"status"`
	FailureReason status.Reason `json:"failure_reason,omitempty"`
	URL           string        `json:"url"`
}

// Hook POSTs the pipeline as JSON to url, an outgoing webhook, with the header
// X-Slipway-Event: pipeline and, when secret is not empty, X-Slipway-Signature-256:
// sha256=<hex HMAC-SHA256 of the body keyed with secret> (GitHub's scheme, so receivers
// can check it the same way). A non-2xx answer is an error. c nil means
// http.DefaultClient, and c's timeout or ctx bound the call; it does not retry.
//
// The body is an object with event ("pipeline"), project, id, iid, status,
// previous_status, ref, tag, sha, url, message, author_name, author_email, image,
// duration_seconds and jobs (name, stage, status, failure_reason, url). Errors name only
// the URL's scheme and host, since hook URLs often carry a token in their path.
func Hook(ctx context.Context, c *http.Client, hookURL, secret string, p Pipeline) error {
	u, err := url.Parse(hookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("post webhook: the URL is not an absolute http(s) URL")
	}
	where := u.Scheme + "://" + u.Host
	body, err := json.Marshal(newHookBody(p))
	if err != nil {
		return fmt.Errorf("post webhook to %s: encode: %w", where, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post webhook to %s: %w", where, redactURLError(err, where))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HookEventHeader, "pipeline")
	if secret != "" {
		req.Header.Set(HookSignatureHeader, Signature(secret, body))
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook to %s: %w", where, redactURLError(err, where))
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return fmt.Errorf("post webhook to %s: %w", where, err)
	}
	return nil
}

// Signature is the X-Slipway-Signature-256 value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with secret. Receivers compare it with hmac.Equal.
func Signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// userAgent is the User-Agent of Slipway's outgoing requests.
const userAgent = "Slipway"

func newHookBody(p Pipeline) hookBody {
	jobs := make([]hookJob, len(p.Jobs))
	for i, j := range p.Jobs {
		jobs[i] = hookJob(j)
	}
	return hookBody{
		Event:           "pipeline",
		Project:         p.Project,
		ID:              p.ID,
		IID:             p.IID,
		Status:          p.Status,
		Previous:        p.Previous,
		Ref:             p.Ref,
		Tag:             p.Tag,
		SHA:             p.SHA,
		URL:             p.URL,
		Message:         p.Message,
		AuthorName:      p.AuthorName,
		AuthorEmail:     p.AuthorEmail,
		Image:           p.Image,
		DurationSeconds: p.Duration.Seconds(),
		Jobs:            jobs,
	}
}

// redactURLError replaces the URL in a *url.Error with where, keeping the cause.
func redactURLError(err error, where string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: where, Err: ue.Err}
	}
	return err
}
