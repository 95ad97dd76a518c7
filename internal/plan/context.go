package plan

import (
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// Pipeline sources, as GitLab names them in CI_PIPELINE_SOURCE.
const (
	SourcePush             = "push"
	SourceWeb              = "web"
	SourceSchedule         = "schedule"
	SourceAPI              = "api"
	SourceTrigger          = "trigger"
	SourcePipeline         = "pipeline"
	SourceParentPipeline   = "parent_pipeline"
	SourceMergeRequest     = "merge_request_event"
	SourceExternal         = "external"
	SourceExternalPR       = "external_pull_request_event"
	SourceChat             = "chat"
	SourceWebIDE           = "webide"
	SourceOnDemandScan     = "ondemand_dast_scan"
	SourceSecurityPolicy   = "security_orchestration_policy"
	SourceContainerScanner = "container_registry_push"
)

// Context is everything outside the YAML that decides a pipeline: what was pushed, by whom, from
// where, and what the user passed. It is an input of Compile; the zero value of a field means
// "unknown" unless its doc says otherwise.
type Context struct {
	// Source is CI_PIPELINE_SOURCE; empty means "push".
	Source string
	// Ref is the branch or tag name the pipeline runs for (CI_COMMIT_REF_NAME). For merge request
	// pipelines it is the source branch.
	Ref string
	// Tag is true when Ref names a tag.
	Tag bool
	// SHA is the commit the pipeline runs (CI_COMMIT_SHA); BeforeSHA the previous tip of the
	// branch (zeros when unknown, as GitLab sends).
	SHA, BeforeSHA string
	// DefaultBranch is CI_DEFAULT_BRANCH; empty means "main".
	DefaultBranch string
	// Protected says whether the pipeline runs for a protected ref that holds its commit
	// (CI_COMMIT_REF_PROTECTED); ProtectedBranch whether a branch is protected
	// (CI_MERGE_REQUEST_*_BRANCH_PROTECTED). Nil approximates them as on a new GitLab
	// project: the default branch alone is protected, and a branch pipeline of it is.
	Protected       *bool
	ProtectedBranch func(name string) bool
	// Commit describes SHA.
	Commit Commit
	// Project is the repository the pipeline belongs to.
	Project Project
	// Server describes the CI server as seen by jobs; zero means a local run
	// (https://gitlab.com-like values derived from Project.URL).
	Server Server
	// MergeRequest is set for merge request pipelines (Source == SourceMergeRequest).
	MergeRequest *MergeRequest
	// Changed lists the files changed by the push (paths relative to the repository root,
	// slash-separated), against compareTo when it is set (rules:changes:compare_to); it is
	// called only when a rule asks. A nil func or a nil result means unknown: GitLab then treats
	// every rules:changes as true.
	Changed func(compareTo string) []string
	// Exists reports whether a path (or glob, relative to the repository root) exists in the
	// repository at SHA, for rules:exists. Nil means no file exists.
	Exists func(glob string) bool
	// Variables are pipeline variables given by the user (--variable, trigger or API variables):
	// they take precedence over everything in the YAML.
	Variables []Var
	// Inputs are values for the root file's spec:inputs (--input).
	Inputs map[string]string
	// PipelineID and PipelineIID number the pipeline; zero means 1.
	PipelineID, PipelineIID int64
	// Now is the pipeline creation time; zero means time.Now().
	Now time.Time
	// LoadChild loads the configuration of a child pipeline from its trigger:include files;
	// nil means child pipelines are not planned.
	LoadChild func(files []string) (*pipeline.Config, error)
	// JobIDBase numbers jobs: the n-th job of the plan gets CI_JOB_ID JobIDBase+n; zero means 1000.
	JobIDBase int64
	// MaxJobs bounds the jobs of the pipeline once parallel expanded them, those that rules
	// leave out and those of its child pipelines included; zero means
	// pipeline.DefaultMaxJobs.
	MaxJobs int
	// MaxVariableSize bounds a variable's value once its $references are expanded; zero
	// means pipeline.DefaultMaxVariableSize.
	MaxVariableSize int
	// SkipJobVariables leaves Job.Variables nil, for callers that only say which jobs run and
	// why (slipway lint, jobs, explain): listing every variable of every job is a tenth of
	// what planning a large pipeline allocates. Variables are still checked (cycles, sizes).
	SkipJobVariables bool
	// budget is how many more jobs the pipeline and its children may plan (MaxJobs, shared
	// with child pipelines).
	budget *int
}

// Commit describes the commit a pipeline runs.
type Commit struct {
	Message     string
	AuthorName  string
	AuthorEmail string
	Timestamp   time.Time
}

// Project describes the repository a pipeline belongs to.
type Project struct {
	// Path is the full path, "group/sub/name" (CI_PROJECT_PATH).
	Path string
	// Dir is CI_PROJECT_DIR, where jobs find the checkout. Empty means "/builds/" + Path.
	Dir string
	// URL is the web URL of the project (CI_PROJECT_URL); empty means Server.URL + "/" + Path.
	URL string
	// ID is CI_PROJECT_ID; zero means 1.
	ID int64
	// Title is the human name (CI_PROJECT_TITLE); empty means the last element of Path.
	Title string
	// Visibility is CI_PROJECT_VISIBILITY; empty means "private".
	Visibility string
}

// Server describes the CI server (CI_SERVER_*).
type Server struct {
	// URL is the base URL, e.g. "https://gitlab.example.com"; empty means "https://gitlab.com".
	URL string
	// Name is CI_SERVER_NAME; empty means "GitLab" for compatibility with scripts that test it.
	Name string
	// Version is CI_SERVER_VERSION.
	Version string
	// Registry is CI_REGISTRY, e.g. "registry.example.com"; empty means derived from URL's host.
	Registry string
}

// MergeRequest describes the merge request of a merge request pipeline.
type MergeRequest struct {
	IID          int64
	ID           int64
	Title        string
	Description  string
	SourceBranch string
	TargetBranch string
	SourceSHA    string
	TargetSHA    string
	DiffBaseSHA  string
	Labels       []string
	Draft        bool
	EventType    string // "detached", "merged_result" or "merge_train"; empty means "detached"
}

// Var is a CI/CD variable as a job sees it.
type Var struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// File makes the runner write Value to a temporary file and set the variable to its path.
	File bool `json:"file,omitempty"`
	// Raw disables expansion of $X inside Value (expand: false).
	Raw bool `json:"raw,omitempty"`
	// Masked values are replaced by [MASKED] in logs.
	Masked bool `json:"masked,omitempty"`
	// Public is false for secrets and user-provided values that must not be logged.
	Public bool `json:"public,omitempty"`
}

// RuleEnv is what include:rules see for a pipeline of c: its predefined variables and the
// user's, and c's changed and existing files.
func RuleEnv(c Context) *pipeline.RuleEnv {
	vars := map[string]string{}
	for _, v := range PipelineVars(c) {
		vars[v.Key] = v.Value
	}
	for _, v := range c.Variables {
		vars[v.Key] = v.Value
	}
	return &pipeline.RuleEnv{
		Vars:    func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Changed: c.Changed,
		Exists:  c.Exists,
	}
}
