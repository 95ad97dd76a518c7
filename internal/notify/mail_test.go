package notify

import (
	"strings"
	"testing"
	"time"
)

func testPipeline() Pipeline {
	return Pipeline{
		Project:     "grp/app",
		ID:          1042,
		IID:         7,
		Status:      "failed",
		Previous:    "success",
		Ref:         "main",
		SHA:         "0123456789abcdef0123456789abcdef01234567",
		URL:         "https://ci.example.com/grp/app/-/pipelines/1042",
		Message:     "Fix the frobnicator\n\nLonger text.",
		AuthorName:  "Jane Doe",
		AuthorEmail: "jane@example.com",
		Duration:    83*time.Second + 400*time.Millisecond,
		Jobs: []Job{
			{Name: "build", Stage: "build", Status: "success", URL: "https://ci.example.com/grp/app/-/jobs/1"},
			{Name: "unit", Stage: "test", Status: "failed", FailureReason: "script_failure", URL: "https://ci.example.com/grp/app/-/jobs/2"},
			{Name: "lint", Stage: "test", Status: "failed", URL: "https://ci.example.com/grp/app/-/jobs/3"},
		},
	}
}

func TestMail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		edit     func(p *Pipeline)
		ok       bool
		subject  string
		contains []string
		absent   []string
	}{
		{
			name:    "failed",
			edit:    func(p *Pipeline) {},
			ok:      true,
			subject: "[grp/app] Pipeline #7 failed on main (01234567)",
			contains: []string{
				"Project:  grp/app\n", "Branch:   main\n", "Commit:   01234567 Fix the frobnicator\n",
				"Author:   Jane Doe <jane@example.com>\n", "Status:   failed (previous: success)\n",
				"Duration: 1m23s\n",
				"  test / unit (script_failure)\n    https://ci.example.com/grp/app/-/jobs/2\n",
				"  test / lint\n    https://ci.example.com/grp/app/-/jobs/3\n",
				"Pipeline: https://ci.example.com/grp/app/-/pipelines/1042\n",
			},
			absent: []string{"jobs/1", "Longer text"},
		},
		{
			name:     "failed with no previous",
			edit:     func(p *Pipeline) { p.Previous = "" },
			ok:       true,
			subject:  "[grp/app] Pipeline #7 failed on main (01234567)",
			contains: []string{"Status:   failed\n"},
		},
		{
			name:     "fixed after failed",
			edit:     func(p *Pipeline) { p.Status, p.Previous, p.Jobs = "success", "failed", nil },
			ok:       true,
			subject:  "[grp/app] Pipeline #7 fixed on main (01234567)",
			contains: []string{"Status:   success (previous: failed)\n"},
			absent:   []string{"Failed jobs"},
		},
		{
			name:    "fixed with warnings after canceled",
			edit:    func(p *Pipeline) { p.Status, p.Previous = "warning", "canceled" },
			ok:      true,
			subject: "[grp/app] Pipeline #7 fixed, with warnings on main (01234567)",
		},
		{name: "success after success", edit: func(p *Pipeline) { p.Status, p.Previous = "success", "success" }},
		{name: "success first", edit: func(p *Pipeline) { p.Status, p.Previous = "success", "" }},
		{name: "warning after success", edit: func(p *Pipeline) { p.Status, p.Previous = "warning", "success" }},
		{name: "canceled", edit: func(p *Pipeline) { p.Status = "canceled" }},
		{name: "running after failed", edit: func(p *Pipeline) { p.Status, p.Previous = "running", "failed" }},
		{name: "manual", edit: func(p *Pipeline) { p.Status = "manual" }},
		{name: "failed without author email", edit: func(p *Pipeline) { p.AuthorEmail = "" }},
		{
			name: "tag success with image",
			edit: func(p *Pipeline) {
				p.Tag, p.Ref, p.Status, p.Previous = true, "v1.2.0", "success", "success"
				p.Image = "registry.example.com/grp/app:v1.2.0"
			},
			ok:       true,
			subject:  "[grp/app] Tag v1.2.0: pipeline #7 passed",
			contains: []string{"Tag:      v1.2.0\n", "Image:    registry.example.com/grp/app:v1.2.0\n"},
			absent:   []string{"Branch:"},
		},
		{
			name:    "tag success after failed is not called fixed",
			edit:    func(p *Pipeline) { p.Tag, p.Ref, p.Status, p.Previous = true, "v1.2.0", "success", "failed" },
			ok:      true,
			subject: "[grp/app] Tag v1.2.0: pipeline #7 passed",
			absent:  []string{"Image:"},
		},
		{
			name:    "tag canceled",
			edit:    func(p *Pipeline) { p.Tag, p.Ref, p.Status = true, "v1.2.0", "canceled" },
			ok:      true,
			subject: "[grp/app] Tag v1.2.0: pipeline #7 was canceled",
		},
		{name: "tag skipped", edit: func(p *Pipeline) { p.Tag, p.Status = true, "skipped" }},
		{name: "tag running", edit: func(p *Pipeline) { p.Tag, p.Status = true, "running" }},
		{
			name:    "line breaks kept out of the subject",
			edit:    func(p *Pipeline) { p.Ref = "evil\r\nBcc: x@example.com" },
			ok:      true,
			subject: "[grp/app] Pipeline #7 failed on evil  Bcc: x@example.com (01234567)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testPipeline()
			tt.edit(&p)
			subject, body, ok := Mail(p)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v (subject %q)", ok, tt.ok, subject)
			}
			if !ok {
				return
			}
			if subject != tt.subject {
				t.Errorf("subject %q, want %q", subject, tt.subject)
			}
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("body has %q:\n%s", s, body)
				}
			}
		})
	}
}
