package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

const oneJobCI = `only:
  script: echo hi
`

// TestRunnerProtocolRefusesUnversionedRunners: a runner of before protocol versions sends
// no version (and its request's wait in nanoseconds); it is told to upgrade, on registration
// and on job requests, with a 400 and nothing claimed.
func TestRunnerProtocolRefusesUnversionedRunners(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJobCI)
	pid := e.project("app", "")
	runner := e.mustRegister("r1")
	p := e.trigger(pid, "main", nil)
	for _, tc := range []struct {
		name, path, token, body string
	}{
		{"register", jobapi.PathRegister, "", `{"token": "` + regToken + `", "name": "old", "tags": null, "run_untagged": true, "executor": "shell"}`},
		{"request", jobapi.PathRequest, runner, `{"key": "k1", "wait": 1000000000}`},
		{"request of version 0", jobapi.PathRequest, runner, `{"version": 0, "key": "k2"}`},
	} {
		r := e.do("POST", tc.path, tc.token, tc.body, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "upgrade the runner") {
			t.Errorf("%s: got %s, want 400 saying to upgrade the runner", tc.name, r)
		}
	}
	if st := e.pipeline(p.ID).job("only").Status; st != status.Pending {
		t.Errorf("job %s after the refused requests, want pending", st)
	}
}

// TestRunnerProtocolServesNewerRunners: a runner of a newer version, whose bodies have
// fields this server does not know, registers, gets its job in this server's version, and
// reports it; a failure reason the server does not know is kept as unknown_failure.
func TestRunnerProtocolServesNewerRunners(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJobCI)
	pid := e.project("app", "")
	const newer = jobapi.Version + 1
	r := e.do("POST", jobapi.PathRegister, "", map[string]any{"version": newer, "token": regToken, "name": "next",
		"executor": "shell", "platform": map[string]string{"os": "linux", "arch": "riscv64"}}, nil)
	var reg jobapi.RegisterResponse
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &reg) != nil || reg.Version != jobapi.Version {
		t.Fatalf("register a newer runner: %s", r)
	}
	p := e.trigger(pid, "main", nil)
	r = e.do("POST", jobapi.PathRequest, reg.Token, map[string]any{"version": newer, "key": "k", "wait_seconds": 5,
		"features": []string{"artifact_streams"}}, nil)
	var j jobapi.Job
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &j) != nil {
		t.Fatalf("request of a newer runner: %s", r)
	}
	if j.Version != jobapi.Version || j.Spec == nil || j.Spec.Version != jobapi.Version || j.Spec.Name != "only" {
		t.Fatalf("job in version %d, spec %+v; want version %d", j.Version, j.Spec, jobapi.Version)
	}
	hb := e.do("PUT", jobapi.PathJob(j.ID), j.Token, map[string]any{"state": "running", "log_size": 0, "cpu_seconds": 1.5}, nil)
	if hb.status != http.StatusOK {
		t.Errorf("heartbeat with an unknown field: %s", hb)
	}
	end := e.do("PUT", jobapi.PathJob(j.ID), j.Token, map[string]any{"state": "failed", "failure_reason": "gpu_failure",
		"exit_code": 3, "log_size": 0, "exit_signal": "SIGKILL"}, nil)
	if end.status != http.StatusOK {
		t.Fatalf("final update with an unknown field and reason: %s", end)
	}
	if got := e.pipeline(p.ID).job("only"); got.Status != status.Failed || got.FailureReason != status.UnknownFailure {
		t.Errorf("job %s (%s), want failed (unknown_failure)", got.Status, got.FailureReason)
	}
}

// TestRunnerProtocolRefusesBadState: an update's state is one of the four; anything else is
// a 400, and the job goes on.
func TestRunnerProtocolRefusesBadState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJobCI)
	pid := e.project("app", "")
	p := e.trigger(pid, "main", nil)
	j := e.claim(e.mustRegister("r1"), "only")
	for _, st := range []status.Status{"", status.Pending, status.Manual, "exploded"} {
		if r := e.update(j, jobapi.Update{State: st}); r.status != http.StatusBadRequest {
			t.Errorf("state %q: got %s, want 400", st, r)
		}
	}
	if st := e.pipeline(p.ID).job("only").Status; st != status.Running {
		t.Errorf("job %s, want running", st)
	}
}

// v0Spec is a job as a server of before versions stored it: plan.Job's JSON, pipeline types
// with Go's field names, durations in nanoseconds.
const v0Spec = `{"name":"old","stage":"test","stage_index":0,"when":"on_success","allow_failure":false,
"needs":null,"dependencies":null,"image":{"Name":"alpine:3.20","Entrypoint":null,"PullPolicy":null,"User":"","Platform":""},
"script":["echo from an old row"],"variables":[{"key":"CI_JOB_NAME","value":"old","public":true},
{"key":"OLD_SECRET","value":"s3cret","masked":true}],"retry":{"Max":1,"When":["script_failure"],"ExitCodes":null},
"timeout":5400000000000,"node_total":1,"artifacts":{"Name":"","Paths":["out/"],"Exclude":null,"Untracked":false,
"When":"always","ExpireIn":"1 day","ExposeAs":"","Public":null,"Reports":null},"reason":{"clause":"default","text":"no rules"}}`

// TestStoredSpecV0 runs a job whose row a server of before versions stored: the scheduler
// reads it, and the runner gets it as a Spec of this version.
func TestStoredSpecV0(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oneJobCI)
	pid := e.project("app", "")
	ctx := context.Background()
	pl := &store.Pipeline{ProjectID: pid, Status: status.Created, Ref: "main", SHA: e.head(), Source: "push", Created: e.srv.now()}
	row := &store.Job{Name: "old", Stage: "test", Status: status.Created, Spec: []byte(v0Spec), Attempt: 1}
	if err := e.srv.store.CreatePipeline(ctx, pl, []*store.Job{row}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.sched.Advance(ctx, pl.ID); err != nil {
		t.Fatal(err)
	}
	j := e.claim(e.mustRegister("r1"), "old")
	s := j.Spec
	if s.Version != jobapi.Version || strings.Join(s.Script, ";") != "echo from an old row" || s.Image == nil ||
		s.Image.Name != "alpine:3.20" || s.TimeoutSeconds != 5400 || s.Retry.Max != 1 || s.Artifacts == nil ||
		s.Artifacts.ExpireIn != "1 day" || s.Artifacts.When != "always" {
		t.Errorf("spec of the old row: %+v", s)
	}
	masked := false
	for _, v := range s.Variables {
		masked = masked || v.Key == "OLD_SECRET" && v.Masked
	}
	if !masked {
		t.Errorf("variables of the old row: %+v", s.Variables)
	}
	e.finish(j, status.Success)
	e.waitPipeline(pl.ID, status.Success)
}
