// Package jobapi is the wire contract between the server and runners: HTTP+JSON request and
// response bodies, the paths, and the rules both sides follow. The server (package server)
// answers it; runners (package runner) call it. The same Spec is what the server keeps of a
// job in its database. It holds no behaviour beyond conversions to and from package plan's
// types and small helpers for versions, durations and the Content-Range header.
//
// The protocol:
//
//   - POST /api/v1/runners, RegisterRequest with the registration token → 201
//     RegisterResponse (the runner's token, shown once).
//   - POST /api/v1/jobs/request, Authorization: Bearer RUNNER_TOKEN, JobRequest → 201 Job, or
//     204 when no job came within the long-poll wait (the server waits up to ~30 s). A
//     request repeated with the same Key (its answer was lost) returns the same job again.
//   - PATCH /api/v1/jobs/{id}/log, Authorization: Bearer JOB_TOKEN, Content-Range: bytes
//     START-END/* (END inclusive), body the bytes → 202 with the log's size in header
//     X-Log-Size. Idempotent: bytes the server has are skipped. A START beyond the stored end
//     → 416 with X-Log-Size: the runner resends from there. A log has a size limit: the
//     server keeps the bytes up to it, ends the log with a line saying it was cut, and
//     answers every chunk that reaches the limit with 202 and X-Log-Cut (the limit, in bytes),
//     X-Log-Size being then where the runner's log continues (START plus the chunk's length):
//     the runner sends no more, and the job goes on.
//   - PUT /api/v1/jobs/{id}, Authorization: Bearer JOB_TOKEN, Update → 200 UpdateResponse.
//     State "running" is a heartbeat (it extends the lease; the answer says whether the job
//     was canceled). A final state ends the job; it is idempotent; it is refused (409 with
//     X-Log-Size) while the server has fewer than its log_size bytes, unless the log was cut.
//     403 means the lease is lost (the job was failed or given away): the runner stops the
//     job and drops it.
//   - POST /api/v1/jobs/{id}/artifacts?kind=archive (JOB_TOKEN): a tar.gz of the artifacts
//     → 201. GET /api/v1/jobs/{id}/artifacts (a job token of the same project, or an API
//     token) → the tar.gz.
//   - GET and PUT /api/v1/projects/{id}/cache/{key} (JOB_TOKEN): a cache archive, tar.gz;
//     GET answers 404 when the key has none, and 304 to an If-None-Match holding the ETag of
//     the current version (which GET and PUT answer with).
//   - Git: the job's Git.URL is a smart-HTTP URL of the server's mirror; the runner
//     authenticates with user "slipway-ci-token" and the job token as password.
//
// # Versions and compatibility
//
// Every body has explicit snake_case names; durations are seconds, with the unit in the
// name (heartbeat_seconds). A runner says the protocol version it speaks (Version) in
// RegisterRequest and JobRequest; a Job says the version it is written in, and so does a
// Spec, which the server also stores. A body without a version is version 0: a runner, or a
// stored spec, from before versions existed (plan.Job's JSON, with Go's field names).
//
// The rules, for every change to come:
//
//   - Readers skip the fields they do not know, on both sides: the server reads runner
//     bodies without refusing unknown fields, and runners read Job and Spec the same way.
//     So a field may be added without a new version when an older reader may ignore it.
//   - A change that an older reader cannot ignore (a field renamed, removed, retyped, or
//     one that changes how a job runs) makes a new Version. The server answers each runner
//     in the version it asked for (Negotiate: the lower of the runner's and its own), so a
//     newer server keeps writing every version from MinVersion up: it never sends a runner
//     a field the runner's version does not have to run the job as written, and it keeps
//     reading Updates of every such version. A runner newer than the server gets the
//     server's version, and must read it.
//   - A server refuses a runner older than MinVersion with 400 and a message that says to
//     upgrade the runner. Version 0 runners are refused: they read Go's field names, and
//     they are the runners of before issue 9 (a job could take over their host).
//   - A runner that gets a Job or Spec it cannot read (a version above its own, or a body
//     that does not decode) fails the job with data_integrity_failure and says why in the
//     job's log; it never runs a job it read only in part.
//   - Stored specs of every version from 0 up stay readable (DecodeSpec): a server started
//     on an older database runs the jobs it finds.
package jobapi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/status"
)

// Protocol versions.
const (
	// Version is the version this program speaks and writes.
	Version = 1
	// MinVersion is the oldest runner version a server serves.
	MinVersion = 1
)

// ErrVersion: a body is of a version the reader cannot read.
var ErrVersion = errors.New("unsupported protocol version")

// Negotiate returns the version a server answers a runner of version v in: v, or Version
// when v is newer. A runner older than MinVersion gets an error that says to upgrade it.
func Negotiate(v int) (int, error) {
	if v < MinVersion {
		return 0, fmt.Errorf("%w: this runner speaks version %d of the runner protocol and this server "+
			"needs %d to %d: upgrade the runner (slipway runner) to this server's release", ErrVersion, v, MinVersion, Version)
	}
	return min(v, Version), nil
}

// Paths of the runner protocol.
const (
	PathRegister = "/api/v1/runners"
	PathRequest  = "/api/v1/jobs/request"
)

// PathLog, PathJob, PathArtifacts and PathCache build the per-job and per-project paths.
func PathLog(id int64) string       { return fmt.Sprintf("/api/v1/jobs/%d/log", id) }
func PathJob(id int64) string       { return fmt.Sprintf("/api/v1/jobs/%d", id) }
func PathArtifacts(id int64) string { return fmt.Sprintf("/api/v1/jobs/%d/artifacts", id) }
func PathCache(projectID int64, key string) string {
	return fmt.Sprintf("/api/v1/projects/%d/cache/%s", projectID, key)
}

// HeaderLogSize carries the stored size of a job's log in log answers.
const HeaderLogSize = "X-Log-Size"

// HeaderLogCut, on the answer to a log chunk, says that the job's log reached the server's
// limit (its value, in bytes): the server keeps no more of it, and the runner stops sending.
const HeaderLogCut = "X-Log-Cut"

// GitUser is the user name runners give with a job token to fetch git.
const GitUser = "slipway-ci-token"

// RegisterRequest registers a runner.
type RegisterRequest struct {
	// Version is the runner's protocol version (see Negotiate).
	Version int `json:"version"`
	// Token is the server's registration token.
	Token       string   `json:"token"`
	Name        string   `json:"name"`
	Tags        []string `json:"tags"`
	RunUntagged bool     `json:"run_untagged"`
	// Executor is "shell" or "docker".
	Executor string `json:"executor"`
	// RunnerVersion is the version of Slipway the runner runs (ProgramVersion), at most
	// MaxRunnerVersion bytes; runners before it was added send none.
	RunnerVersion string `json:"runner_version,omitempty"`
}

// RegisterResponse is a registered runner's identity.
type RegisterResponse struct {
	// Version is the version the server answers this runner in.
	Version int    `json:"version"`
	ID      int64  `json:"id"`
	Token   string `json:"token"`
}

// JobRequest asks for a job.
type JobRequest struct {
	// Version is the runner's protocol version (see Negotiate).
	Version int `json:"version"`
	// Key identifies this request: a runner repeats it with the same Key until it gets an
	// answer, and makes a new one after.
	Key string `json:"key"`
	// WaitSeconds bounds the long poll; zero means the server's default (~30 s).
	WaitSeconds float64 `json:"wait_seconds,omitempty"`
	// RunnerVersion is as in RegisterRequest: a runner upgraded in place says so here.
	RunnerVersion string `json:"runner_version,omitempty"`
}

// Job is what a runner gets to run one job.
type Job struct {
	// Version is the version the Job (and its Spec) is written in.
	Version int    `json:"version"`
	ID      int64  `json:"id"`
	Token   string `json:"token"`
	// Spec is the job, Variables complete: predefined, pipeline, project (masked and
	// file-type as configured), and dotenv variables of the jobs it depends on.
	Spec    *Spec   `json:"spec"`
	Project Project `json:"project"`
	Git     Git     `json:"git"`
	// Dependencies are the jobs whose artifacts the runner downloads before the scripts.
	Dependencies []Dependency `json:"dependencies,omitempty"`
	// HeartbeatSeconds is how often the runner sends a heartbeat; the lease lasts three of
	// them.
	HeartbeatSeconds float64 `json:"heartbeat_seconds"`
	// LogOffset is where the log continues (non-zero only if the same claim is resumed).
	LogOffset int64 `json:"log_offset,omitempty"`
}

// Project names the job's project.
type Project struct {
	ID   int64  `json:"id"`
	Path string `json:"path"`
}

// Git says what to check out.
type Git struct {
	URL string `json:"url"`
	Ref string `json:"ref"`
	SHA string `json:"sha"`
	// Depth is GIT_DEPTH (0: a full fetch).
	Depth int `json:"depth,omitempty"`
}

// Dependency is a job whose artifacts are fetched.
type Dependency struct {
	JobID int64  `json:"job_id"`
	Name  string `json:"name"`
	// HasArtifacts is false when the job left no archive (nothing to download).
	HasArtifacts bool `json:"has_artifacts"`
}

// Update reports a job's state.
type Update struct {
	// State is running (a heartbeat), or the job's end: success, failed or canceled.
	State status.Status `json:"state"`
	// FailureReason says why a failed job failed; a reason the server does not know is
	// kept as unknown_failure.
	FailureReason status.Reason `json:"failure_reason,omitempty"`
	ExitCode      int           `json:"exit_code,omitempty"`
	// LogSize is the full size of the log the runner produced; a final update is refused
	// (409, with X-Log-Size) until the server has all of it, so no byte is lost.
	LogSize int64 `json:"log_size"`
	// Dotenv are the variables of reports:dotenv.
	Dotenv []Var `json:"dotenv,omitempty"`
	// Coverage is the value the job's coverage regexp found in the log, if any.
	Coverage *float64 `json:"coverage,omitempty"`
	// JUnit summarises the job's reports:junit files, when it has any (a final update
	// only). Optional: runners from before it send none, and it changes nothing of how the
	// job runs, so the protocol's version did not change for it.
	JUnit *JUnit `json:"junit,omitempty"`
}

// JUnit is a job's JUnit report summary: its test cases counted by outcome, and the first
// failed or errored ones. The server bounds what it keeps of it (the number of failures, the
// length of each string) and stores it as it is here.
type JUnit struct {
	Tests    int           `json:"tests"`
	Failures int           `json:"failures"`
	Errors   int           `json:"errors"`
	Skipped  int           `json:"skipped"`
	Failed   []TestFailure `json:"failed,omitempty"`
}

// TestFailure is a failed or errored test case: its name ("suite.case"), class and message.
type TestFailure struct {
	Name    string `json:"name"`
	Class   string `json:"class,omitempty"`
	Message string `json:"message,omitempty"`
}

// UpdateResponse answers an Update.
type UpdateResponse struct {
	// Cancel asks the runner to cancel the job.
	Cancel bool `json:"cancel"`
}

// Seconds is d in seconds, as durations go on the wire.
func Seconds(d time.Duration) float64 { return d.Seconds() }

// maxSeconds bounds durations read from the wire: about 146 years, well inside a
// time.Duration.
const maxSeconds = float64(1<<62) / float64(time.Second)

// Duration reads a duration in seconds from the wire: a number from 0 to about 146 years.
func Duration(s float64) (time.Duration, error) {
	if math.IsNaN(s) || s < 0 || s > maxSeconds {
		return 0, fmt.Errorf("%v seconds: want a duration from 0 to %.0f", s, maxSeconds)
	}
	return time.Duration(math.Round(s * float64(time.Second))), nil
}

// ContentRange formats the Content-Range of a chunk of n bytes at start.
func ContentRange(start int64, n int) string {
	return fmt.Sprintf("bytes %d-%d/*", start, start+int64(n)-1)
}

// ParseContentRange reads "bytes START-END/*" (END inclusive) and returns START and the
// length.
func ParseContentRange(s string) (start int64, n int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: want bytes START-END/*", s)
	}
	rng, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: want bytes START-END/*", s)
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: want bytes START-END/*", s)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start-1 {
		return 0, 0, fmt.Errorf("content-range %q: bad numbers", s)
	}
	return start, end - start + 1, nil
}
