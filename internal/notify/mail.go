package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/slipway/slipway/internal/status"
)

// Mail decides whether a pipeline change is mailed to the commit author (p.AuthorEmail),
// and writes the mail's subject and plain-text body. It mails:
//   - a failed pipeline;
//   - a fixed one: success or warning after a failed or canceled previous pipeline;
//   - every finished tag build (not a skipped one), with the image it made when p.Image is
//     set.
//
// It says no when p.AuthorEmail is empty, since there is nobody to tell. The subject holds
// no line breaks; Mailer.Send encodes it and writes the body with CRLF line endings.
func Mail(p Pipeline) (subject, body string, ok bool) {
	if p.AuthorEmail == "" || !p.Status.Final() {
		return "", "", false
	}
	fixed := (p.Status == status.Success || p.Status == status.Warning) &&
		(p.Previous == status.Failed || p.Previous == status.Canceled)
	tag := p.Tag && p.Status != status.Skipped
	if p.Status != status.Failed && !fixed && !tag {
		return "", "", false
	}

	outcome := statusWords(p.Status)
	if fixed && !p.Tag {
		outcome = "fixed"
		if p.Status == status.Warning {
			outcome = "fixed, with warnings"
		}
	}
	var s string
	if p.Tag {
		s = fmt.Sprintf("[%s] Tag %s: pipeline #%d %s", p.Project, p.Ref, p.IID, outcome)
	} else {
		s = fmt.Sprintf("[%s] Pipeline #%d %s on %s (%s)", p.Project, p.IID, outcome, p.Ref, shortSHA(p.SHA))
	}
	return oneLine(s), mailBody(p, outcome), true
}

// statusWords says a final status in words.
func statusWords(s status.Status) string {
	switch s {
	case status.Success:
		return "passed"
	case status.Warning:
		return "passed with warnings"
	case status.Failed:
		return "failed"
	case status.Canceled:
		return "was canceled"
	case status.Skipped:
		return "was skipped"
	}
	return string(s)
}

// oneLine replaces control characters (line breaks among them) with spaces, so that text
// from commits and refs can go into a header.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// mailBody writes the body of a pipeline's mail with "\n" line endings.
func mailBody(p Pipeline, outcome string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Pipeline #%d of %s %s.\n\n", p.IID, p.Project, outcome)

	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-10s%s\n", name+":", value)
		}
	}
	field("Project", p.Project)
	if p.Tag {
		field("Tag", p.Ref)
	} else {
		field("Branch", p.Ref)
	}
	commit := shortSHA(p.SHA)
	if m := oneLine(firstLine(p.Message)); m != "" {
		commit += " " + truncate(m, 100)
	}
	field("Commit", commit)
	author := oneLine(p.AuthorName)
	switch {
	case author == "":
		author = p.AuthorEmail
	case p.AuthorEmail != "":
		author += " <" + p.AuthorEmail + ">"
	}
	field("Author", author)
	st := string(p.Status)
	if p.Previous != "" {
		st += " (previous: " + string(p.Previous) + ")"
	}
	field("Status", st)
	if p.Duration > 0 {
		field("Duration", p.Duration.Round(time.Second).String())
	}
	field("Image", p.Image)

	var failed []Job
	for _, j := range p.Jobs {
		if j.Status == status.Failed {
			failed = append(failed, j)
		}
	}
	if len(failed) > 0 {
		b.WriteString("\nFailed jobs:\n")
		for _, j := range failed {
			name := j.Name
			if j.Stage != "" {
				name = j.Stage + " / " + name
			}
			fmt.Fprintf(&b, "  %s", oneLine(name))
			if j.FailureReason != "" {
				fmt.Fprintf(&b, " (%s)", oneLine(string(j.FailureReason)))
			}
			b.WriteString("\n")
			if j.URL != "" {
				fmt.Fprintf(&b, "    %s\n", j.URL)
			}
		}
	}
	if p.URL != "" {
		fmt.Fprintf(&b, "\nPipeline: %s\n", p.URL)
	}
	return b.String()
}
