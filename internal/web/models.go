package web

import (
	"html/template"
	"time"

	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// Layout is what every page shows around its content. The zero Layout is a signed-out viewer.
type Layout struct {
	// User is the signed-in user's name; "" when signed out.
	User string
	// Admin shows the admin links.
	Admin bool
	// CSRF is the token every state-changing form sends back as the hidden input "csrf".
	CSRF string
	// Project is the project the page belongs to (its path and tabs in the header); nil
	// elsewhere.
	Project *store.Project
	// CanRun lets the viewer run pipelines and retry, cancel and play jobs (developer and
	// above); without it those buttons are not shown.
	CanRun bool
	// CanManage lets the viewer change the project's settings (maintainer and above).
	CanManage bool
	// Notice is a one-time message shown above the content ("Pipeline #5 created").
	Notice string
}

// Login is the sign-in page, a form posted to /login with the inputs username, password,
// next (where to go after) and csrf (when Layout.CSRF is set).
type Login struct {
	Layout
	Username string
	Next     string
	// Error is shown above the form ("Invalid username or password").
	Error string
}

// Dashboard is "/": the projects the viewer sees and the new project form.
type Dashboard struct {
	Layout
	Projects []ProjectSummary
	// CanCreate shows the new project form, posted to /-/projects with path
	// ("namespace/name"), clone_url and default_branch.
	CanCreate bool
	New       NewProject
}

// ProjectSummary is a project with its build flag.
type ProjectSummary struct {
	Project *store.Project
	// Last is the default branch's last pipeline (the build flag); nil when there is none.
	Last *store.Pipeline
}

// NewProject is the new project form's values, given back with Error when they were refused.
type NewProject struct {
	Path, CloneURL, DefaultBranch string
	Error                         string
}

// ProjectCreated shows a project's webhook URLs and secret for each forge: after the project
// is created, and after its secret is regenerated (Regenerated). Layout.Project is the project.
type ProjectCreated struct {
	Layout
	// BaseURL is the server's external URL ("https://ci.example.com"), without a trailing slash.
	BaseURL string
	// Secret is the webhook secret, shown this once.
	Secret      string
	Regenerated bool
}

// PipelineFilter is the filter of the pipelines page (query parameters ref, status, source).
type PipelineFilter struct {
	Ref, Status, Source string
}

// Pipelines is a project's pipelines page. Like every project page (Pipeline, Job,
// Settings, ProjectCreated), it needs Layout.Project.
type Pipelines struct {
	Layout
	Filter PipelineFilter
	Rows   []PipelineRow
	// Older is the ID to list older pipelines before (query parameter before); 0 when this
	// is the last page. Paged says this is not the first page.
	Older int64
	Paged bool
	// Run is the "Run pipeline" form (shown with Layout.CanRun).
	Run RunForm
}

// PipelineRow is one row of the pipelines list; PipelineRowEvent renders it alone.
type PipelineRow struct {
	// Path is the project's path.
	Path     string
	Pipeline *store.Pipeline
}

// RunForm is the "Run pipeline" form: ref, and var_key / var_value pairs.
type RunForm struct {
	Ref   string
	Vars  []KeyValue
	Error string
}

// KeyValue is one variable row of a form.
type KeyValue struct{ Key, Value string }

// Pipeline is the pipeline page.
type Pipeline struct {
	Layout
	Pipeline *store.Pipeline
	Graph    Graph
	// Variables are the pipeline's variables; a masked one's value is never rendered.
	Variables []PipelineVar
	// Parent and Children are the pipelines a trigger job linked this one with.
	Parent   *store.Pipeline
	Children []*store.Pipeline
}

// PipelineVar is a pipeline variable. Masked ones are shown as "masked".
type PipelineVar struct {
	Key, Value string
	Masked     bool
}

// Job is the job page.
type Job struct {
	Layout
	Pipeline *store.Pipeline
	Job      *store.Job
	// Spec is the decoded job (jobapi.DecodeSpec): image, services, environment, allow_failure.
	// Nil hides them.
	Spec *plan.Job
	// Runner ran the job; nil when none did yet.
	Runner *store.Runner
	// Attempts are the job's other tries (retried rows), oldest first.
	Attempts []*store.Job
	// Archive is the artifacts archive, and Files its files; nil and empty when none.
	// MoreFiles says the archive has more entries than were read to list it.
	Archive   *store.Artifact
	Files     []ArtifactFile
	MoreFiles bool
	// ArtifactsExpired says the job's artifacts expired (Archive is nil).
	ArtifactsExpired bool
	// JUnit is the job's test report summary; nil when it has none.
	JUnit *JUnit
	// Reason says why the job is in the pipeline; nil when it was not recorded.
	Reason *Reason
	// Log is the log's HTML from package logview, inserted as it is; LogStyles and
	// LogScripts are the URLs of the stylesheets and scripts it needs (same origin).
	Log        template.HTML
	LogStyles  []string
	LogScripts []string
}

// ArtifactFile is one file of an artifacts archive.
type ArtifactFile struct {
	Path string
	Size int64
}

// JUnit is a job's JUnit report summary.
type JUnit struct {
	Tests, Failures, Errors, Skipped int
	Failed                           []TestFailure
}

// TestFailure is a failed test case and its message.
type TestFailure struct{ Name, Message string }

// Reason is why a job is in its pipeline: the clause the plan chose, where it is written and
// the variables it read.
type Reason struct {
	Clause, Text string
	// Where is "file:line:col".
	Where string
	Vars  []ReasonVar
}

// ReasonVar is a variable a clause read. Masked ones are shown as "masked".
type ReasonVar struct {
	Name, Value     string
	Defined, Masked bool
}

// NewReason is the Reason of a planned job; masked reports whether a variable's value must
// not be shown (nil: none is).
func NewReason(r plan.Reason, masked func(name string) bool) *Reason {
	out := &Reason{Clause: r.Clause, Text: r.Text, Where: r.Where}
	if out.Where == "" && r.Pos.File != "" {
		out.Where = r.Pos.String()
	}
	for _, n := range r.Vars {
		v, ok := r.Values[n]
		m := ok && masked != nil && masked(n)
		if m {
			v = ""
		}
		out.Vars = append(out.Vars, ReasonVar{Name: n, Value: v, Defined: ok, Masked: m})
	}
	return out
}

// Settings is a project's settings page. Its forms post to SettingsURL(path) + one of:
// /variables (key, value, masked, protected, file, environment), /variables/delete (key,
// environment), /webhook-secret (regenerate), /schedules (description, cron, timezone, ref,
// active), /schedules/{id}/delete, /members (username, role: reporter, developer or
// maintainer), /members/delete (username), /general (visibility).
type Settings struct {
	Layout
	// BaseURL is the server's external URL, for webhook URLs and badges.
	BaseURL   string
	Variables []*store.Variable
	Schedules []*store.Schedule
	Members   []Member
	// Visibility is private, internal or public.
	Visibility string
	// Retention is how long finished pipelines are kept (the server's setting).
	Retention time.Duration
	// Error is shown above the forms when a change was refused.
	Error string
}

// Member is a project member.
type Member struct {
	Username string
	// Role is reporter, developer or maintainer.
	Role string
}

// AdminRunners is /-/admin/runners. Its forms post to /-/admin/runners/{id}/pause (pause:
// "1" or "0"), /-/admin/runners/{id}/delete and /-/admin/runners/token (a new registration
// token).
type AdminRunners struct {
	Layout
	// BaseURL is the server's external URL, for the registration command.
	BaseURL string
	Runners []RunnerRow
	// NewToken is a registration token just made, shown this once.
	NewToken string
}

// RunnerRow is one runner.
type RunnerRow struct {
	Runner *store.Runner
	Online bool
	Paused bool
	// Version is what the runner reported; "" when unknown.
	Version string
	// Job is the job it runs now and Path its project's path; nil when idle.
	Job  *store.Job
	Path string
}

// AdminUsers is /-/admin/users. Its forms post to /-/admin/users (username, password, admin)
// and /-/admin/users/{username}/disable (disabled: "1" or "0").
type AdminUsers struct {
	Layout
	Users []UserRow
	// Username is the create form's value, given back with Error.
	Username string
	Error    string
}

// UserRow is one user.
type UserRow struct {
	Username        string
	Admin, Disabled bool
	Created         time.Time
}

// ProfileTokens is /-/profile/tokens. Its forms post to /-/profile/tokens (name) and
// /-/profile/tokens/{id}/revoke.
type ProfileTokens struct {
	Layout
	Tokens []*store.Token
	// NewToken is a token just made, shown this once.
	NewToken string
	Error    string
}

// Lint is /-/lint: the form posts yaml, ref and source to /-/lint.
type Lint struct {
	Layout
	YAML, Ref string
	// Source is the pipeline the YAML is planned for, one of LintSources' values: "push" (a
	// branch), "tag", "merge_request_event", "web", "schedule" or "api".
	Source string
	// Checked says the YAML was checked (show the result).
	Checked bool
	// Errors are "FILE:LINE:COL: message" lines; Warnings likewise.
	Errors, Warnings []string
	// Jobs would run for Ref; Excluded are left out, with their reason.
	Jobs, Excluded []LintJob
}

// LintSources are the choices of the lint form's source, value and label.
func (Lint) LintSources() [][2]string {
	return [][2]string{
		{"push", "branch push"}, {"tag", "tag push"}, {"merge_request_event", "merge request"},
		{"web", "run from the web"}, {"schedule", "schedule"}, {"api", "API"},
	}
}

// LintJob is a job of a linted configuration.
type LintJob struct {
	Name, Stage, When string
	// Reason is the plan's sentence and Where its file:line:col.
	Reason, Where string
}

// ErrorPage is the page of an error status.
type ErrorPage struct {
	Layout
	Status         int
	Title, Message string
}

func (Login) template() string          { return "login" }
func (Dashboard) template() string      { return "dashboard" }
func (ProjectCreated) template() string { return "project_created" }
func (Pipelines) template() string      { return "pipelines" }
func (Pipeline) template() string       { return "pipeline" }
func (Job) template() string            { return "job" }
func (Settings) template() string       { return "settings" }
func (AdminRunners) template() string   { return "admin_runners" }
func (AdminUsers) template() string     { return "admin_users" }
func (ProfileTokens) template() string  { return "profile_tokens" }
func (Lint) template() string           { return "lint" }
func (ErrorPage) template() string      { return "error" }

// Live reports whether the pipeline page keeps itself up to date (the pipeline is not final).
func (p Pipeline) Live() bool { return p.Pipeline != nil && !p.Pipeline.Status.Final() }

// Statuses are the statuses the pipelines filter offers.
func (Pipelines) Statuses() []status.Status { return status.All() }

// Sources are the pipeline sources the pipelines filter offers (CI_PIPELINE_SOURCE).
func (Pipelines) Sources() []string {
	return []string{plan.SourcePush, plan.SourceWeb, plan.SourceAPI, plan.SourceSchedule,
		plan.SourceMergeRequest, plan.SourceTrigger, plan.SourcePipeline, plan.SourceParentPipeline}
}
