// Package notify tells people and forges how a pipeline went: it writes and sends the mail
// to a commit's author (Mail, Mailer), posts outgoing webhooks (Hook) and sets commit
// statuses on GitHub, GitLab and Gitea/Forgejo (Forge).
//
// It owns the content of those messages and their delivery, one attempt per call. It does
// not own when a pipeline changes status, who is told, or retries and queueing: the server
// decides those and calls these functions, which are safe for concurrent use.
package notify

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/internal/status"
)

// Pipeline is what notifications say about a pipeline that changed status.
type Pipeline struct {
	Project string // "group/name"
	ID, IID int64
	Status  status.Status
	// Previous is the status of the previous finished pipeline of the same ref ("" if none).
	Previous status.Status
	Ref      string
	Tag      bool
	SHA      string
	URL      string // the pipeline's page on the Slipway server

	Message, AuthorName, AuthorEmail string

	Jobs []Job
	// Image is the image a tag build made, when known ("" until the registry exists).
	Image    string
	Duration time.Duration
}

// Job is one job of a pipeline as notifications show it.
type Job struct {
	Name, Stage   string
	Status        status.Status
	FailureReason status.Reason
	URL           string // the job's log
}

// shortSHA is the first 8 characters of a commit SHA.
func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// firstLine is the first line of s, without surrounding space.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// truncate cuts s to at most n runes, ending it with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// errBodyLimit bounds how much of an error answer goes into an error message.
const errBodyLimit = 512

// checkResponse turns a non-2xx answer into an error quoting the start of its body, and
// drains what is left so the connection can be reused. It does not close the body.
func checkResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	msg := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if msg == "" {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	return fmt.Errorf("server answered %s: %s", resp.Status, msg)
}
