package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/webhook"
)

const (
	hookSecret = "It's a Secret to Everybody"
	zeroSHA    = "0000000000000000000000000000000000000000"
)

// push is what a test push delivery says.
type push struct {
	ref, before, after, message string
	deleted                     bool
}

// forgeHooks builds deliveries as one forge sends them.
type forgeHooks struct {
	forge string
	// body is a push payload; ignored is another event's name that Slipway ignores.
	body    func(p push) []byte
	ignored string
	// sign sets the event, delivery and signature headers of a delivery.
	sign func(h http.Header, event, delivery string, body []byte, secret string)
}

func hexHMAC(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// hubPushBody is a push payload in GitHub's shape, which Gitea copies.
func hubPushBody(p push) []byte {
	commit := map[string]any{
		"id": p.after, "message": p.message, "timestamp": "2025-01-02T03:04:05Z",
		"author": map[string]string{"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
		"added":  []string{}, "removed": []string{}, "modified": []string{".gitlab-ci.yml"},
		"distinct": true,
	}
	body := map[string]any{
		"ref": p.ref, "before": p.before, "after": p.after, "created": false, "deleted": p.deleted,
		"forced": false, "compare": "https://example.com/acme/demo/compare/x...y",
		"commits":     []any{commit},
		"head_commit": commit,
		"repository": map[string]any{
			"id": 42, "name": "demo", "full_name": "acme/demo", "private": false,
			"clone_url": "https://example.com/acme/demo.git", "default_branch": "main",
		},
		"pusher": map[string]string{"name": "ada", "email": "ada@example.com"},
		"sender": map[string]any{"login": "ada", "id": 1},
	}
	if p.deleted {
		body["commits"], body["head_commit"] = []any{}, nil
	}
	b, _ := json.Marshal(body)
	return b
}

func gitlabPushBody(p push) []byte {
	commits := []any{map[string]any{
		"id": p.after, "message": p.message, "title": strings.SplitN(p.message, "\n", 2)[0],
		"timestamp": "2025-01-02T03:04:05+00:00", "url": "https://gitlab.example.com/acme/demo/-/commit/" + p.after,
		"author": map[string]string{"name": "Ada Lovelace", "email": "ada@example.com"},
		"added":  []string{}, "modified": []string{".gitlab-ci.yml"}, "removed": []string{},
	}}
	checkout := p.after
	if p.deleted {
		commits, checkout = []any{}, ""
	}
	b, _ := json.Marshal(map[string]any{
		"object_kind": "push", "event_name": "push", "before": p.before, "after": p.after, "ref": p.ref,
		"ref_protected": true, "checkout_sha": checkout, "user_id": 4, "user_name": "Ada Lovelace",
		"user_username": "ada", "user_email": "ada@example.com", "project_id": 15,
		"project": map[string]any{
			"id": 15, "name": "demo", "path_with_namespace": "acme/demo", "default_branch": "main",
			"git_http_url": "https://gitlab.example.com/acme/demo.git",
		},
		"commits": commits, "total_commits_count": len(commits),
	})
	return b
}

var forges = []forgeHooks{
	{
		forge: "github", body: hubPushBody, ignored: "issues",
		sign: func(h http.Header, event, delivery string, body []byte, secret string) {
			h.Set("X-GitHub-Event", event)
			h.Set("X-GitHub-Delivery", delivery)
			h.Set("X-GitHub-Hook-ID", "123")
			h.Set("User-Agent", "GitHub-Hookshot/abc")
			h.Set("X-Hub-Signature-256", "sha256="+hexHMAC(body, secret))
		},
	},
	{
		forge: "gitlab", body: gitlabPushBody, ignored: "Issue Hook",
		sign: func(h http.Header, event, delivery string, body []byte, secret string) {
			h.Set("X-Gitlab-Event", event)
			h.Set("X-Gitlab-Event-UUID", delivery)
			h.Set("X-Gitlab-Instance", "https://gitlab.example.com")
			h.Set("X-Gitlab-Token", secret)
		},
	},
	{
		forge: "gitea", body: hubPushBody, ignored: "issues",
		sign: func(h http.Header, event, delivery string, body []byte, secret string) {
			h.Set("X-Gitea-Event", event)
			h.Set("X-Gitea-Delivery", delivery)
			h.Set("X-Gitea-Signature", hexHMAC(body, secret))
		},
	},
}

// pushEvent is the push event's header value per forge.
func pushEvent(forge string) string {
	if forge == "gitlab" {
		return "Push Hook"
	}
	return "push"
}

// deliver posts a delivery to the project's hook of f.
func (e *env) deliver(f forgeHooks, projectID int64, event, delivery string, body []byte, secret string) *reply {
	e.t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	f.sign(h, event, delivery, body, secret)
	return e.do("POST", fmt.Sprintf("/hooks/%s/%d", f.forge, projectID), "", body, h)
}

type hookAnswer struct {
	Outcome    string `json:"outcome"`
	PipelineID int64  `json:"pipeline_id"`
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	for _, f := range forges {
		t.Run(f.forge, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, oneJob)
			pid := e.project("demo", hookSecret)
			sha := e.head()
			e.commit(map[string]string{"README": "hello\n"}, "second commit")
			good := f.body(push{ref: "refs/heads/main", before: sha, after: e.head(), message: "second commit"})
			n := 0
			deliveryID := func() string { n++; return fmt.Sprintf("%s-delivery-%d", f.forge, n) }

			tests := []struct {
				name          string
				event         string
				delivery      string // "" means a new one
				body          []byte
				secret        string
				status        int
				outcome       string // a substring of the answer's outcome
				makesPipeline bool
			}{
				{name: "signed push", event: pushEvent(f.forge), delivery: f.forge + "-push", body: good, secret: hookSecret,
					status: http.StatusCreated, outcome: "pipeline created", makesPipeline: true},
				{name: "redelivery", event: pushEvent(f.forge), delivery: f.forge + "-push", body: good, secret: hookSecret,
					status: http.StatusOK, outcome: "duplicate delivery"},
				{name: "wrong secret", event: pushEvent(f.forge), body: good, secret: "guess",
					status: http.StatusUnauthorized, outcome: "signature"},
				{name: "unknown event", event: f.ignored, body: []byte(`{"action":"opened","repository":{"full_name":"acme/demo"},"project":{"path_with_namespace":"acme/demo"}}`),
					secret: hookSecret, status: http.StatusAccepted, outcome: "ignored: unsupported event"},
				{name: "too large", event: pushEvent(f.forge), body: bytes.Repeat([]byte(" "), webhook.MaxBody+1), secret: hookSecret,
					status: http.StatusRequestEntityTooLarge, outcome: "larger than"},
				{name: "malformed JSON", event: pushEvent(f.forge), body: []byte(`{"ref": "refs/heads/main", "after": `), secret: hookSecret,
					status: http.StatusBadRequest, outcome: "malformed"},
				{name: "branch deleted", event: pushEvent(f.forge),
					body:   f.body(push{ref: "refs/heads/gone", before: sha, after: zeroSHA, deleted: true}),
					secret: hookSecret, status: http.StatusAccepted, outcome: "gone was deleted"},
				{name: "skip ci", event: pushEvent(f.forge),
					body:   f.body(push{ref: "refs/heads/main", before: sha, after: e.head(), message: "docs only [skip ci]\n\nmore"}),
					secret: hookSecret, status: http.StatusAccepted, outcome: "[skip ci]"},
			}
			// The deliveries run in order: the redelivery needs the first one.
			var want []hookAnswer
			for _, tc := range tests {
				before := len(e.pipelines(pid))
				id := tc.delivery
				if id == "" {
					id = deliveryID()
				}
				r := e.deliver(f, pid, tc.event, id, tc.body, tc.secret)
				if r.status != tc.status {
					t.Errorf("%s: got %s, want %d", tc.name, r, tc.status)
					continue
				}
				var a hookAnswer
				if err := json.Unmarshal(r.body, &a); err != nil {
					t.Errorf("%s: answer %s: %v", tc.name, r.body, err)
				}
				if !strings.Contains(a.Outcome, tc.outcome) {
					t.Errorf("%s: outcome %q, want it to contain %q", tc.name, a.Outcome, tc.outcome)
				}
				after := e.pipelines(pid)
				switch {
				case tc.makesPipeline && len(after) != before+1:
					t.Errorf("%s: %d pipelines, want %d", tc.name, len(after), before+1)
				case !tc.makesPipeline && len(after) != before:
					t.Errorf("%s: %d pipelines, want %d (no new one)", tc.name, len(after), before)
				case tc.makesPipeline:
					p := after[0]
					if p.ID != a.PipelineID || p.Ref != "main" || p.SHA != e.head() || p.Source != "push" || p.Status != "pending" {
						t.Errorf("%s: newest pipeline %+v; want id %d, main at %s from push, pending", tc.name, p, a.PipelineID, e.head())
					}
				}
				want = append(want, a)
			}

			// Every delivery is in the project's hook log, newest first, with its answer, but
			// those refused before they were authenticated: those are only counted.
			var logged []int
			for i, tc := range tests {
				if tc.status != http.StatusUnauthorized && tc.status != http.StatusRequestEntityTooLarge {
					logged = append(logged, i)
				}
			}
			var got []struct {
				Forge      string `json:"forge"`
				GUID       string `json:"delivery_id"`
				Event      string `json:"event"`
				Status     int    `json:"status"`
				Outcome    string `json:"outcome"`
				PipelineID int64  `json:"pipeline_id"`
			}
			e.api("GET", fmt.Sprintf("/api/v1/projects/%d/hooks", pid), nil, http.StatusOK, &got)
			if len(got) != len(logged) {
				t.Fatalf("hook log has %d deliveries, want %d: %+v", len(got), len(logged), got)
			}
			for k, i := range logged {
				tc := tests[i]
				d := got[len(got)-1-k]
				if d.Forge != f.forge || d.Status != tc.status || d.Outcome != want[i].Outcome || d.PipelineID != want[i].PipelineID {
					t.Errorf("delivery %d (%s) logged as %+v; want %s, %d, %q, pipeline %d",
						i, tc.name, d, f.forge, tc.status, want[i].Outcome, want[i].PipelineID)
				}
			}
			if got[len(got)-1].GUID != f.forge+"-push" || got[len(got)-1].Event != pushEvent(f.forge) {
				t.Errorf("first delivery logged as %+v", got[len(got)-1])
			}
		})
	}
}

// TestWebhookInterruptible pushes the same branch twice: the first pipeline, whose jobs are
// interruptible and have not started, is canceled by the second.
func TestWebhookInterruptible(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
default:
  interruptible: true
stages: [build, test]
build:
  stage: build
  script: echo build
test:
  stage: test
  script: echo test
`)
	pid := e.project("demo", hookSecret)
	f := forges[0]
	first := e.head()
	r := e.deliver(f, pid, "push", "d1", f.body(push{ref: "refs/heads/main", before: zeroSHA, after: first, message: "one"}), hookSecret)
	if r.status != http.StatusCreated {
		t.Fatalf("first push: %s", r)
	}
	var a1 hookAnswer
	_ = json.Unmarshal(r.body, &a1)

	second := e.commit(map[string]string{"README": "two\n"}, "two")
	r = e.deliver(f, pid, "push", "d2", f.body(push{ref: "refs/heads/main", before: first, after: second, message: "two"}), hookSecret)
	if r.status != http.StatusCreated {
		t.Fatalf("second push: %s", r)
	}
	var a2 hookAnswer
	_ = json.Unmarshal(r.body, &a2)

	p1 := e.pipeline(a1.PipelineID)
	if p1.Status != "canceled" {
		t.Errorf("first pipeline is %s, want canceled; jobs %v", p1.Status, p1.statuses())
	}
	for _, j := range p1.Jobs {
		if j.Status != "canceled" {
			t.Errorf("first pipeline's job %s is %s, want canceled", j.Name, j.Status)
		}
	}
	if p2 := e.pipeline(a2.PipelineID); p2.Status != "pending" || p2.SHA != second {
		t.Errorf("second pipeline %+v, want pending at %s", p2, second)
	}
}

// TestAttackUnsignedWebhooks: 1,000 unsigned webhook posts grew the deliveries table for ever.
// Now a project with a secret stores none of them, only counts them (a metric by project and
// reason); one without a secret, which takes unsigned deliveries, keeps its newest
// Limits.Deliveries; and deliveries older than Limits.DeliveryAge go when the next arrives.
func TestAttackUnsignedWebhooks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 11, 24, 5, 30, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, oneJob, func(o *Options) { o.Limits.Deliveries = 50; o.Now = clock })
	signed := e.project("signed", hookSecret)
	open := e.project("open", "")
	f := forges[0]
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)

	var wg sync.WaitGroup
	statuses := make(chan int, 2000)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 1000; i += 8 {
				for _, pid := range []int64{signed, open} {
					h := http.Header{"Content-Type": {"application/json"}, "X-GitHub-Event": {"ping"}, "X-GitHub-Delivery": {fmt.Sprintf("d-%d", i)}}
					r, err := e.send("POST", fmt.Sprintf("/hooks/%s/%d", f.forge, pid), "", ping, h)
					if err != nil {
						t.Error(err)
						return
					}
					statuses <- r.status
				}
			}
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusUnauthorized] != 1000 || count[http.StatusAccepted] != 1000 {
		t.Fatalf("answers %v, want 1000 × 401 (signed project) and 1000 × 202 (ping, open project)", count)
	}
	stored := func(pid int64) int {
		ds, err := e.srv.store.ListDeliveries(t.Context(), pid, 100000)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	if n := stored(signed); n != 0 {
		t.Errorf("the project with a secret stored %d unsigned deliveries, want none", n)
	}
	if n := stored(open); n != 50 {
		t.Errorf("the project without a secret stored %d deliveries, want its newest 50", n)
	}
	metrics := string(e.do("GET", "/metrics", "", nil, nil).body)
	if want := fmt.Sprintf(`slipway_webhook_rejected_total{project_id="%d",reason="signature"} 1000`, signed); !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}
	if strings.Contains(metrics, "slipway/signed") {
		t.Errorf("the public metrics name the project whose hook was tried: its path is hidden, as the hook's answer hides it")
	}

	// A month later, one more delivery: the old ones go.
	mu.Lock()
	now = now.Add(31 * 24 * time.Hour)
	mu.Unlock()
	h := http.Header{"Content-Type": {"application/json"}, "X-GitHub-Event": {"ping"}, "X-GitHub-Delivery": {"late"}}
	e.do("POST", fmt.Sprintf("/hooks/%s/%d", f.forge, open), "", ping, h)
	if n := stored(open); n != 1 {
		t.Errorf("%d deliveries after a month, want the new one only", n)
	}
}
