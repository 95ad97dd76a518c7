// Package store holds the server's durable state: the domain types (projects, pipelines, jobs,
// log chunks, artifacts, runners, tokens, webhook deliveries, users, sessions, project members) and the Store interface that
// SQLite (package sqlite) and Postgres (package postgres) implement over one SQL implementation
// (package sqlstore). The contract both pass is package storetest. It owns no policy: what a
// status change means is the scheduler's business.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway/slipway/internal/status"
)

// Sentinel errors. Implementations translate driver errors by code into these.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key is taken (project path, delivery id, runner name…).
	ErrConflict = errors.New("already exists")
	// ErrLeaseLost: the job is no longer running for this runner (finished, canceled,
	// requeued after missed heartbeats, or claimed by another).
	ErrLeaseLost = errors.New("job lease lost")
	// ErrLogOffset: a log chunk starts after the end of the stored log (a gap). The
	// accompanying size says where to resume.
	ErrLogOffset = errors.New("log offset beyond end of log")
	// ErrUnavailable: the database cannot serve the call now (unreachable, restarting, out of
	// connections, busy beyond its timeout, a connection lost mid-call). It is an outage, not
	// an answer: nothing can be concluded about the rows asked for, and the call may be tried
	// again later. A write that failed so may or may not have been committed.
	ErrUnavailable = errors.New("store unavailable")
)

// Project is a repository Slipway builds.
type Project struct {
	ID int64 `json:"id"`
	// Path is "namespace/name" (unique); Name is its last element.
	Path string `json:"path"`
	Name string `json:"name"`
	// CloneURL is any git URL the server can fetch (https, ssh, file://, a local path).
	CloneURL      string `json:"clone_url"`
	DefaultBranch string `json:"default_branch"`
	// WebhookSecret verifies incoming webhooks. It is stored as given (HMAC needs it) and
	// never returned by the API.
	WebhookSecret string `json:"-"`
	// Forge, ForgeURL and ForgeToken report commit statuses back: Forge is "github",
	// "gitlab", "gitea" or "" (none); ForgeRepo is the repository there ("owner/name" or a
	// GitLab project id). ForgeToken is never returned by the API.
	Forge      string `json:"forge,omitempty"`
	ForgeURL   string `json:"forge_url,omitempty"`
	ForgeRepo  string `json:"forge_repo,omitempty"`
	ForgeToken string `json:"-"`
	// Hooks are URLs that receive pipeline events (outgoing webhooks).
	Hooks []string `json:"hooks,omitempty"`
	// Tags are runner tags every job of the project needs, beyond the job's own.
	Tags []string `json:"tags,omitempty"`
	// ProtectedBranches are the names of the project's protected branches, or patterns with
	// GitLab's * wildcard ("release/*"); empty means the default branch alone.
	ProtectedBranches []string `json:"protected_branches,omitempty"`
	// JobTokenAllowlist names the projects whose job tokens may reach this project (trigger its
	// pipelines, download its artifacts) and whose pipelines may include its files
	// (include:project): paths, or patterns with the * wildcard ("group/*"). Empty means the
	// projects of its own namespace. The project itself is always allowed.
	JobTokenAllowlist []string `json:"job_token_allowlist,omitempty"`
	// Visibility is VisibilityPrivate (members and admins only), VisibilityInternal (every
	// signed-in user reads it) or VisibilityPublic (anyone reads it); "" is stored as
	// VisibilityPrivate.
	Visibility string    `json:"visibility"`
	Created    time.Time `json:"created_at"`
}

// Project visibilities, as GitLab's.
const (
	VisibilityPrivate  = "private"
	VisibilityInternal = "internal"
	VisibilityPublic   = "public"
)

// Role is a project member's access level, GitLab's numbers: each role may do what the
// roles below it may.
type Role int

// Roles.
const (
	// RoleNone: no access; the project does not exist for this user.
	RoleNone Role = 0
	// RoleReporter reads the project: pipelines, jobs, logs, artifacts.
	RoleReporter Role = 20
	// RoleDeveloper also runs pipelines, retries, cancels and plays jobs.
	RoleDeveloper Role = 30
	// RoleMaintainer also changes settings, variables, schedules, webhooks and members.
	RoleMaintainer Role = 40
)

// Roles are the roles a member may have, lowest first.
var Roles = []Role{RoleReporter, RoleDeveloper, RoleMaintainer}

// String is the role's name: "none", "reporter", "developer", "maintainer" (or the number of
// an unknown level).
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleReporter:
		return "reporter"
	case RoleDeveloper:
		return "developer"
	case RoleMaintainer:
		return "maintainer"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a role's name (as String writes it) or its number; false when s is
// neither, or names RoleNone.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if s == r.String() || s == strconv.Itoa(int(r)) {
			return r, true
		}
	}
	return RoleNone, false
}

// User is a person who signs in. Username is unique regardless of case.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	// PasswordHash is the password's bcrypt hash; never returned by the API.
	PasswordHash string `json:"-"`
	// Admin users may do everything, and are maintainers of every project.
	Admin bool `json:"admin"`
	// Disabled users cannot sign in, and their sessions and tokens do not work.
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created_at"`
}

// Session is a signed-in browser. Only the SHA-256 (hex) of its cookie's token is stored.
type Session struct {
	Hash   string
	UserID int64
	// CSRF is the token state-changing forms of the session must send back.
	CSRF string
	// Expires is when the session ends whatever its use (the absolute lifetime); LastSeen is
	// its last use, from which the server judges idleness.
	Created, Expires, LastSeen time.Time
}

// Member gives a user a role in a project.
type Member struct {
	ProjectID int64 `json:"project_id"`
	UserID    int64 `json:"user_id"`
	Role      Role  `json:"access_level"`
}

// Variable is a project CI/CD variable.
type Variable struct {
	ProjectID int64  `json:"-"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Masked    bool   `json:"masked"`
	Protected bool   `json:"protected"`
	File      bool   `json:"file"`
	// Environment scopes the variable to jobs of that environment ("*" or "" means all;
	// a trailing * is a prefix wildcard, as GitLab's environment scopes).
	Environment string `json:"environment_scope"`
}

// Schedule runs a pipeline on a cron schedule.
type Schedule struct {
	ID          int64  `json:"id"`
	ProjectID   int64  `json:"project_id"`
	Description string `json:"description"`
	// Cron is a 5-field cron expression evaluated in Timezone (an IANA name; "" means UTC).
	Cron     string            `json:"cron"`
	Timezone string            `json:"cron_timezone"`
	Ref      string            `json:"ref"`
	Vars     map[string]string `json:"variables,omitempty"`
	Active   bool              `json:"active"`
	NextRun  time.Time         `json:"next_run_at"`
}

// Pipeline is one run of a project's pipeline for a commit.
type Pipeline struct {
	ID        int64 `json:"id"`
	ProjectID int64 `json:"project_id"`
	// IID numbers pipelines within their project (CI_PIPELINE_IID), from 1.
	IID    int64         `json:"iid"`
	Status status.Status `json:"status"`
	Ref    string        `json:"ref"`
	Tag    bool          `json:"tag"`
	SHA    string        `json:"sha"`
	// BeforeSHA is the previous tip of the ref (zeros when unknown).
	BeforeSHA string `json:"before_sha,omitempty"`
	// Source is CI_PIPELINE_SOURCE: push, api, schedule, merge_request_event, web, trigger.
	Source string `json:"source"`
	// Name is workflow:name.
	Name        string `json:"name,omitempty"`
	Message     string `json:"message,omitempty"`
	AuthorName  string `json:"author_name,omitempty"`
	AuthorEmail string `json:"author_email,omitempty"`
	// Vars are the pipeline variables given by the trigger (API, schedule), as key/value.
	Vars map[string]string `json:"variables,omitempty"`
	// MergeRequest is the forge's merge/pull request number for merge request pipelines.
	MergeRequest int64 `json:"merge_request,omitempty"`
	// Protected says whether the pipeline runs for a protected ref that holds its commit, and
	// so gets protected variables. It is decided when the pipeline is created and never changes.
	Protected bool `json:"protected"`
	// ParentID is the pipeline whose job token made this one (0: none: a push, an API token, a
	// schedule), and Depth how many such parents it has (0 for a pipeline without one). Both
	// are fixed at creation.
	ParentID int64 `json:"parent_pipeline_id,omitempty"`
	Depth    int   `json:"depth,omitempty"`
	// Coverage is the mean of the jobs' coverage, when any job reported one.
	Coverage *float64  `json:"coverage,omitempty"`
	Created  time.Time `json:"created_at"`
	Started  time.Time `json:"started_at,omitzero"`
	Finished time.Time `json:"finished_at,omitzero"`
}

// Job is one job of a pipeline. A retried job keeps its row (Retried set) and a new row
// is made for the next attempt.
type Job struct {
	ID         int64  `json:"id"`
	PipelineID int64  `json:"pipeline_id"`
	ProjectID  int64  `json:"project_id"`
	Name       string `json:"name"`
	Stage      string `json:"stage"`
	StageIndex int    `json:"stage_index"`
	// Position is the job's index in the plan, for stable ordering.
	Position int           `json:"-"`
	Status   status.Status `json:"status"`
	// Spec is the job as the runner executes it: a jobapi.Spec as JSON (jobapi.DecodeSpec
	// reads every version of it).
	Spec []byte `json:"-"`
	// Tags a runner must all have to take the job (the job's and the project's).
	Tags          []string `json:"tags,omitempty"`
	ResourceGroup string   `json:"resource_group,omitempty"`
	// Attempt counts tries of this job, from 1; Retried marks a row superseded by a retry.
	Attempt int  `json:"attempt"`
	Retried bool `json:"retried,omitempty"`
	// RunAt is when a delayed job may start.
	RunAt         time.Time     `json:"scheduled_at,omitzero"`
	RunnerID      int64         `json:"runner_id,omitempty"`
	FailureReason status.Reason `json:"failure_reason,omitempty"`
	ExitCode      int           `json:"exit_code,omitempty"`
	// TokenHash is the SHA-256 (hex) of the job token, set while the job runs.
	TokenHash string `json:"-"`
	// ClaimKey is the runner's idempotency key of the request that claimed the job: a runner
	// that repeats a request (its answer was lost) gets the same job again.
	ClaimKey string `json:"-"`
	// LeaseUntil is when a running job is considered lost unless heartbeats extend it.
	LeaseUntil time.Time `json:"-"`
	// CancelRequested is set by a cancel while the job runs; the runner sees it on its next
	// heartbeat.
	CancelRequested bool `json:"-"`
	// Dotenv are the variables of the job's reports:dotenv, given to later jobs, as JSON of
	// []plan.Var.
	Dotenv []byte `json:"-"`
	// JUnit is the summary of the job's JUnit reports, as JSON of jobapi.JUnit; nil when it
	// has none.
	JUnit    []byte    `json:"-"`
	Coverage *float64  `json:"coverage,omitempty"`
	Created  time.Time `json:"created_at"`
	Queued   time.Time `json:"queued_at,omitzero"`
	Started  time.Time `json:"started_at,omitzero"`
	Finished time.Time `json:"finished_at,omitzero"`
}

// Artifact is a job's artifacts archive kept on disk; the store keeps its metadata.
type Artifact struct {
	JobID int64 `json:"job_id"`
	// Kind is "archive" (the artifacts: paths) or "junit" / "dotenv" for reports.
	Kind     string    `json:"kind"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Path     string    `json:"-"` // file path relative to the server's data dir
	ExpireAt time.Time `json:"expire_at,omitzero"`
	Created  time.Time `json:"created_at"`
}

// Cache is the record of a cache archive the server keeps for a project (the archive is a
// file of the server's): what its quota and retention need.
type Cache struct {
	ProjectID int64
	// Protected is set for the caches of protected pipelines, kept apart from the others
	// under the same keys.
	Protected bool
	// Key is the sanitized cache key.
	Key string
	// Size is the archive's size in bytes.
	Size int64
	// Used is when the cache was last written or read.
	Used time.Time
}

// Runner is a registered runner.
type Runner struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	TokenHash   string   `json:"-"`
	Tags        []string `json:"tags"`
	RunUntagged bool     `json:"run_untagged"`
	Executor    string   `json:"executor"`
	// Version is the version of Slipway the runner said it runs ("" when it did not say:
	// runners before the web UI).
	Version string `json:"version,omitempty"`
	// Paused runners get no job (they keep the ones they run).
	Paused   bool      `json:"paused"`
	LastSeen time.Time `json:"contacted_at,omitzero"`
	Created  time.Time `json:"created_at"`
}

// Token is an API token. Kind is "admin" (everything), "user" (the whole API, made by an
// admin), "personal" (the API with the roles of the user UserID) or "registration"
// (registers runners). Only the hash is stored.
type Token struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	Hash string `json:"-"`
	// UserID is the user of a personal token (0 for the other kinds).
	UserID int64 `json:"user_id,omitempty"`
	// Expires, when set, is when the token stops working; Revoked tokens work no more.
	Expires  time.Time `json:"expires_at,omitzero"`
	Revoked  bool      `json:"revoked"`
	Created  time.Time `json:"created_at"`
	LastUsed time.Time `json:"last_used_at,omitzero"`
}

// Delivery is one webhook delivery and what came of it.
type Delivery struct {
	ID        int64 `json:"id"`
	ProjectID int64 `json:"project_id"`
	// Forge is github, gitlab, gitea or api; GUID is the forge's delivery id (unique per
	// forge and project; empty GUIDs are never duplicates).
	Forge string `json:"forge"`
	GUID  string `json:"delivery_id"`
	Event string `json:"event"`
	// Status is the HTTP status answered; Outcome says why in words.
	Status     int       `json:"status"`
	Outcome    string    `json:"outcome"`
	PipelineID int64     `json:"pipeline_id,omitempty"`
	Created    time.Time `json:"created_at"`
}

// PipelineFilter narrows Pipelines. Zero fields do not filter.
type PipelineFilter struct {
	Ref    string
	Status []status.Status
	// Source keeps the pipelines of one source (CI_PIPELINE_SOURCE); ParentID those a job of
	// that pipeline made.
	Source   string
	ParentID int64
	// Before lists pipelines with an ID below it (paging); Limit bounds the count (zero
	// means 100).
	Before int64
	Limit  int
}

// Claim asks for the next pending job a runner can take.
type Claim struct {
	Runner *Runner
	// Key is the runner's idempotency key for this request.
	Key string
	// TokenHash is stored as the job's token hash; LeaseUntil as its lease.
	TokenHash  string
	LeaseUntil time.Time
	Now        time.Time
}

// Store is the server's state. Every method is safe for concurrent use, from several
// processes too (Postgres, and SQLite in one file). Methods that set Created use the current
// time (UTC) unless the caller set it. Updates and deletes by key return ErrNotFound when no
// row matches; times come back in UTC.
type Store interface {
	Projects
	Pipelines
	Jobs
	Logs
	Runners
	Tokens
	Users
	Sessions
	Members
	Deliveries
	Artifacts
	Caches
	// Vacuum reclaims space after deletions.
	Vacuum(ctx context.Context) error
	Close() error
}

// Projects keeps projects, their variables and schedules.
type Projects interface {
	// CreateProject stores p and sets p.ID and p.Created; ErrConflict when p.Path is taken.
	CreateProject(ctx context.Context, p *Project) error
	// UpdateProject writes every field of p (by ID).
	UpdateProject(ctx context.Context, p *Project) error
	Project(ctx context.Context, id int64) (*Project, error)
	ProjectByPath(ctx context.Context, path string) (*Project, error)
	// ListProjects returns all projects ordered by path.
	ListProjects(ctx context.Context) ([]*Project, error)
	// SetVariable creates or replaces the variable (ProjectID, Key, Environment).
	SetVariable(ctx context.Context, v *Variable) error
	DeleteVariable(ctx context.Context, projectID int64, key, environment string) error
	Variables(ctx context.Context, projectID int64) ([]*Variable, error)
	// CreateSchedule sets s.ID; UpdateSchedule writes every field.
	CreateSchedule(ctx context.Context, s *Schedule) error
	UpdateSchedule(ctx context.Context, s *Schedule) error
	DeleteSchedule(ctx context.Context, id int64) error
	// Schedules lists a project's schedules, or every schedule when projectID is 0.
	Schedules(ctx context.Context, projectID int64) ([]*Schedule, error)
}

// Pipelines keeps pipelines and changes them with their jobs atomically.
type Pipelines interface {
	// CreatePipeline stores p with its jobs in one transaction: it sets p.ID, p.IID (next in
	// the project), p.Created, and each job's ID, PipelineID, ProjectID and Created.
	CreatePipeline(ctx context.Context, p *Pipeline, jobs []*Job) error
	Pipeline(ctx context.Context, id int64) (*Pipeline, error)
	// Pipelines lists a project's pipelines, newest first (projectID 0: all projects).
	Pipelines(ctx context.Context, projectID int64, f PipelineFilter) ([]*Pipeline, error)
	// UpdatePipeline locks the pipeline (UpdatePipeline calls on one pipeline run one after
	// the other), reads all its jobs (retried ones included, ordered by Position then ID),
	// calls fn, and writes back the pipeline (but Protected, ParentID and Depth, fixed at
	// creation) and every job fn changed, in one transaction.
	// Jobs fn appends to jobs are inserted (their IDs set). The jobs are not locked while fn
	// runs: when a job fn changed was changed meanwhile (claimed, its lease extended, updated
	// with UpdateJob), everything starts over with fresh rows and fn is called again. fn's
	// error aborts the transaction and is returned.
	UpdatePipeline(ctx context.Context, id int64, fn func(p *Pipeline, jobs *[]*Job) error) error
	// ActivePipelines lists pipelines whose status is not final, oldest first.
	ActivePipelines(ctx context.Context) ([]*Pipeline, error)
	// DeletePipelines deletes final pipelines created before t, with their jobs, logs and
	// artifact rows, and returns the artifact paths that were deleted from the store (for the
	// caller to remove from disk).
	DeletePipelines(ctx context.Context, before time.Time) (paths []string, err error)
}

// JobFilter narrows Jobs; the zero JobFilter keeps every job.
type JobFilter struct {
	// BeforeStage, when > 0, keeps the jobs whose StageIndex is lower.
	BeforeStage int
}

// Jobs claims, leases and finds jobs.
type Jobs interface {
	Job(ctx context.Context, id int64) (*Job, error)
	// JobByTokenHash finds the running job whose token hashes to hash.
	JobByTokenHash(ctx context.Context, hash string) (*Job, error)
	// Jobs lists a pipeline's jobs that f keeps, ordered by Position then ID, retried ones
	// included.
	Jobs(ctx context.Context, pipelineID int64, f JobFilter) ([]*Job, error)
	// UpdateJob locks one job, calls fn, and writes the job back if fn changed it, in one
	// transaction. fn's error aborts the transaction and is returned.
	UpdateJob(ctx context.Context, id int64, fn func(j *Job) error) error
	// ClaimJob atomically gives the oldest pending job the runner can take (every job tag
	// among the runner's tags; untagged jobs only to runners that run untagged) to the
	// runner: status running, RunnerID, TokenHash, ClaimKey, LeaseUntil, Started = c.Now. A
	// job already claimed with the same runner and key (and still running) is returned again,
	// with c.TokenHash and c.LeaseUntil replacing the earlier ones (the runner never saw the
	// earlier token).
	// A paused runner (as stored now, whatever c.Runner says) gets no new job.
	// ErrNotFound when there is none. Two concurrent claims never get the same job.
	ClaimJob(ctx context.Context, c Claim) (*Job, error)
	// Heartbeat extends a running job's lease when runnerID holds it and returns whether a
	// cancel was requested; ErrLeaseLost otherwise.
	Heartbeat(ctx context.Context, jobID, runnerID int64, leaseUntil time.Time) (cancel bool, err error)
	// ExpiredJobs lists running jobs whose lease ended before now.
	ExpiredJobs(ctx context.Context, now time.Time) ([]*Job, error)
	// ExtendLeases sets the lease of every running job to at least until (a restarted
	// server gives runners time to reconnect).
	ExtendLeases(ctx context.Context, until time.Time) error
	// CountJobs counts jobs by status (retried ones excluded).
	CountJobs(ctx context.Context) (map[status.Status]int, error)
	// JobsByStatus lists jobs in status s (retried ones excluded), oldest first, at most limit
	// (0: 1000).
	JobsByStatus(ctx context.Context, s status.Status, limit int) ([]*Job, error)
	// AcquireResource takes the resource group (projectID, group) for jobID and reports
	// whether it holds it now: true when it was free or already held by jobID. It is atomic
	// across processes.
	AcquireResource(ctx context.Context, projectID int64, group string, jobID int64) (bool, error)
	// ReleaseResource frees the group if jobID holds it.
	ReleaseResource(ctx context.Context, projectID int64, group string, jobID int64) error
}

// Logs keeps job logs as chunks.
type Logs interface {
	// AppendLog writes data at offset of the job's log and returns the log's size after.
	// It is idempotent: bytes below the current size are skipped (a resent chunk), so a
	// chunk may overlap the end. ErrLogOffset (with the current size) when offset > size.
	AppendLog(ctx context.Context, jobID, offset int64, data []byte) (size int64, err error)
	// ReadLog returns the log from offset to its end (at most limit bytes when limit > 0)
	// and the log's total size.
	ReadLog(ctx context.Context, jobID, offset int64, limit int) (data []byte, size int64, err error)
	// DeleteLogs deletes the logs of jobs that finished before t.
	DeleteLogs(ctx context.Context, before time.Time) error
}

// Runners keeps registered runners.
type Runners interface {
	// CreateRunner sets r.ID and r.Created.
	CreateRunner(ctx context.Context, r *Runner) error
	RunnerByTokenHash(ctx context.Context, hash string) (*Runner, error)
	ListRunners(ctx context.Context) ([]*Runner, error)
	// TouchRunner sets LastSeen.
	TouchRunner(ctx context.Context, id int64, at time.Time) error
	// SetRunnerVersion sets Version.
	SetRunnerVersion(ctx context.Context, id int64, version string) error
	// PauseRunner sets Paused.
	PauseRunner(ctx context.Context, id int64, paused bool) error
	DeleteRunner(ctx context.Context, id int64) error
}

// Tokens keeps API tokens.
type Tokens interface {
	// CreateToken sets t.ID and t.Created.
	CreateToken(ctx context.Context, t *Token) error
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	// CountTokens counts tokens of a kind.
	CountTokens(ctx context.Context, kind string) (int, error)
	// UserTokens lists the personal tokens of a user, revoked ones included, ordered by ID.
	UserTokens(ctx context.Context, userID int64) ([]*Token, error)
	// RevokeToken marks the personal token id of userID revoked; ErrNotFound when userID has
	// no such token. Revoking a revoked token is no error.
	RevokeToken(ctx context.Context, userID, id int64) error
	// ResetToken revokes every token of t.Kind and stores t (setting t.ID and t.Created), in
	// one transaction: a new registration token replaces the old ones. Not for personal
	// tokens.
	ResetToken(ctx context.Context, t *Token) error
	// TouchToken sets the token's LastUsed.
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// Users keeps the people who sign in.
type Users interface {
	// CreateUser stores u and sets u.ID and u.Created; ErrConflict when another user has the
	// username, whatever its case.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser writes Username, PasswordHash, Admin and Disabled (by ID); ErrConflict when
	// the new username is taken.
	UpdateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id int64) (*User, error)
	// UserByName finds a user by username, whatever its case.
	UserByName(ctx context.Context, username string) (*User, error)
	// ListUsers lists every user ordered by ID.
	ListUsers(ctx context.Context) ([]*User, error)
	// CountUsers counts users.
	CountUsers(ctx context.Context) (int, error)
}

// Sessions keeps signed-in browsers. The store owns no policy: the server decides when a
// session has been idle too long.
type Sessions interface {
	// CreateSession stores s; s.Created and s.LastSeen are the current time unless set.
	// ErrNotFound when the user does not exist, ErrConflict when the hash is taken.
	CreateSession(ctx context.Context, s *Session) error
	// Session finds a session by the hash of its token.
	Session(ctx context.Context, hash string) (*Session, error)
	// TouchSession sets LastSeen.
	TouchSession(ctx context.Context, hash string, at time.Time) error
	// DeleteSession deletes one session; ErrNotFound when there is none.
	DeleteSession(ctx context.Context, hash string) error
	// DeleteUserSessions deletes every session of a user (none is no error).
	DeleteUserSessions(ctx context.Context, userID int64) error
	// PurgeSessions deletes the sessions that expired before now or were last seen before
	// idleSince, and returns how many.
	PurgeSessions(ctx context.Context, now, idleSince time.Time) (int64, error)
}

// Members keeps who has which role in which project.
type Members interface {
	// SetMember creates or replaces the membership (ProjectID, UserID); ErrNotFound when the
	// project or the user does not exist.
	SetMember(ctx context.Context, m *Member) error
	// DeleteMember deletes a membership; ErrNotFound when there is none.
	DeleteMember(ctx context.Context, projectID, userID int64) error
	// Member finds a membership; ErrNotFound when the user is no member of the project.
	Member(ctx context.Context, projectID, userID int64) (*Member, error)
	// Members lists a project's members ordered by user ID.
	Members(ctx context.Context, projectID int64) ([]*Member, error)
	// Memberships lists a user's memberships ordered by project ID.
	Memberships(ctx context.Context, userID int64) ([]*Member, error)
}

// Deliveries records webhook deliveries.
type Deliveries interface {
	// RecordDelivery stores d and sets d.ID and d.Created; ErrConflict when (ProjectID, Forge,
	// GUID) was recorded before (a redelivery) and GUID is not empty.
	RecordDelivery(ctx context.Context, d *Delivery) error
	// UpdateDelivery writes Status, Outcome and PipelineID.
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// ListDeliveries lists a project's deliveries, newest first, at most limit (0: 100).
	ListDeliveries(ctx context.Context, projectID int64, limit int) ([]*Delivery, error)
	// PruneDeliveries deletes the deliveries of a project (of every project when projectID is
	// 0) created before before, and those past its newest keep (keep 0: none for that), and
	// returns how many it deleted.
	PruneDeliveries(ctx context.Context, projectID int64, keep int, before time.Time) (int64, error)
}

// Artifacts keeps artifact metadata.
type Artifacts interface {
	// AddArtifact stores a (replacing the job's artifact of the same Kind) and sets Created.
	AddArtifact(ctx context.Context, a *Artifact) error
	ListArtifacts(ctx context.Context, jobID int64) ([]*Artifact, error)
	// ExpireArtifacts deletes artifacts whose ExpireAt is set and before now and returns them.
	ExpireArtifacts(ctx context.Context, now time.Time) ([]*Artifact, error)
}

// Caches keeps the records of the server's cache archives.
type Caches interface {
	// PutCache creates or replaces the record of (ProjectID, Protected, Key); ErrNotFound when
	// the project does not exist.
	PutCache(ctx context.Context, c *Cache) error
	// DeleteCache deletes the record of (ProjectID, Protected, Key); ErrNotFound when there is
	// none.
	DeleteCache(ctx context.Context, c *Cache) error
	// CacheUsage counts a project's caches (every project's when projectID is 0) and sums
	// their sizes.
	CacheUsage(ctx context.Context, projectID int64) (count int, size int64, err error)
	// LeastUsedCaches lists a project's caches, least recently used first (then by key), at
	// most limit (0: 100).
	LeastUsedCaches(ctx context.Context, projectID int64, limit int) ([]*Cache, error)
	// ExpireCaches deletes the records of caches last used before t and returns them.
	ExpireCaches(ctx context.Context, before time.Time) ([]*Cache, error)
}
