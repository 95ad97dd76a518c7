package plan

import (
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file derives GitLab's predefined CI/CD variables from a Context. Names, values and
// availability follow GitLab's own builders (Gitlab::Ci::Variables::Builder and the Project,
// Pipeline, MergeRequest and Commit models), not only the documentation table, so that scripts
// that test for a variable's presence behave as on GitLab.

// Defaults for the zero values of Context fields.
const (
	defaultServerURL     = "https://gitlab.com"
	defaultDefaultBranch = "main"
	defaultBuildsDir     = "/builds"
	defaultConfigPath    = ".gitlab-ci.yml"
	templateRegistryHost = "registry.gitlab.com"
	noCommitMessage      = "No commit message"
	zeroSHA              = "0000000000000000000000000000000000000000"

	// maxCommitMessageBytes is GITLAB_CI_MAX_COMMIT_MESSAGE_SIZE_IN_BYTES's default.
	maxCommitMessageBytes = 100_000
	// maxMRDescriptionChars is MergeRequest::CI_MERGE_REQUEST_DESCRIPTION_MAX_LENGTH.
	maxMRDescriptionChars = 2700
)

// JobMeta is what JobVars needs to know about one job of a plan.
type JobMeta struct {
	Name  string
	Stage string
	// ID is CI_JOB_ID.
	ID int64
	// NodeIndex is the 1-based instance of a parallel job; zero means the job is not parallel
	// and CI_NODE_INDEX is not set. NodeTotal is CI_NODE_TOTAL; zero means 1.
	NodeIndex, NodeTotal int
	// Image is the job's image name (CI_JOB_IMAGE); empty means none.
	Image string
	// EnvironmentName is environment:name, already expanded; empty means the job has no
	// environment and no CI_ENVIRONMENT_* variable is set.
	EnvironmentName string
	// EnvironmentURL is environment:url, expanded; empty leaves CI_ENVIRONMENT_URL unset.
	EnvironmentURL string
	// EnvironmentAction is environment:action; empty means "start".
	EnvironmentAction string
	// EnvironmentTier is environment:deployment_tier; empty means EnvironmentTier(name).
	EnvironmentTier string
	// Manual is true for when: manual jobs (CI_JOB_MANUAL).
	Manual bool
	// StartedAt is CI_JOB_STARTED_AT; zero leaves it unset (it is known only once the job runs).
	StartedAt time.Time
}

// PipelineVars returns the predefined variables of the pipeline ctx describes, which every
// job of it sees, in a stable order: CI_PIPELINE_ID/URL, server, project, registry and API,
// pipeline, commit, tag and merge request variables, then those a runner sets (CI_SERVER,
// CI_BUILDS_DIR, CI_PROJECT_DIR). Variables GitLab sets only for some pipelines are present only
// in those: CI_COMMIT_BRANCH in branch pipelines (not tag or merge request ones), CI_COMMIT_TAG
// and CI_COMMIT_TAG_MESSAGE in tag pipelines, CI_MERGE_REQUEST_* in merge request pipelines.
//
// Values Slipway cannot know are either left out (CI_PROJECT_NAMESPACE_ID,
// CI_MERGE_REQUEST_DIFF_ID, CI_PIPELINE_SCHEDULE_DESCRIPTION, CI_OPEN_MERGE_REQUESTS, …) or
// approximated: unless ctx says (Protected, ProtectedBranch), a branch counts as protected
// (CI_COMMIT_REF_PROTECTED and CI_MERGE_REQUEST_*_BRANCH_PROTECTED) only when it is the
// default branch, as on a new GitLab project.
func PipelineVars(ctx Context) []Var {
	var vs varList
	e := newEnv(ctx)

	vs.add("CI_PIPELINE_ID", strconv.FormatInt(e.pipelineID, 10))
	vs.add("CI_PIPELINE_URL", e.projectURL+"/-/pipelines/"+strconv.FormatInt(e.pipelineID, 10))

	// Server (Project#predefined_ci_server_variables).
	vs.add("CI", "true")
	vs.add("GITLAB_CI", "true")
	vs.add("CI_SERVER_FQDN", e.serverFQDN)
	vs.add("CI_SERVER_URL", e.serverURL)
	vs.add("CI_SERVER_HOST", e.serverHost)
	vs.add("CI_SERVER_PORT", e.serverPort)
	vs.add("CI_SERVER_PROTOCOL", e.serverProtocol)
	vs.add("CI_SERVER_SHELL_SSH_HOST", e.serverHost)
	vs.add("CI_SERVER_SHELL_SSH_PORT", "22")
	vs.add("CI_SERVER_NAME", e.serverName)
	if v := ctx.Server.Version; v != "" {
		major, minor, patch := splitVersion(v)
		vs.add("CI_SERVER_VERSION", v)
		vs.add("CI_SERVER_VERSION_MAJOR", major)
		vs.add("CI_SERVER_VERSION_MINOR", minor)
		vs.add("CI_SERVER_VERSION_PATCH", patch)
	}

	// Project (Project#predefined_project_variables).
	p := ctx.Project
	vs.add("CI_PROJECT_ID", strconv.FormatInt(e.projectID, 10))
	vs.add("CI_PROJECT_NAME", e.projectName)
	vs.add("CI_PROJECT_TITLE", e.projectTitle)
	vs.add("CI_PROJECT_PATH", p.Path)
	vs.add("CI_PROJECT_PATH_SLUG", PathSlug(p.Path))
	vs.add("CI_PROJECT_NAMESPACE", e.namespace)
	vs.add("CI_PROJECT_NAMESPACE_SLUG", PathSlug(e.namespace))
	vs.add("CI_PROJECT_ROOT_NAMESPACE", e.rootNamespace)
	vs.add("CI_PROJECT_URL", e.projectURL)
	vs.add("CI_PROJECT_VISIBILITY", e.visibility)
	vs.add("CI_DEFAULT_BRANCH", e.defaultBranch)
	vs.add("CI_CONFIG_PATH", defaultConfigPath)

	// Container registry and API.
	vs.add("CI_REGISTRY", e.registry)
	vs.add("CI_REGISTRY_IMAGE", e.registry+"/"+strings.ToLower(p.Path))
	vs.add("CI_API_V4_URL", e.serverURL+"/api/v4")
	vs.add("CI_API_GRAPHQL_URL", e.serverURL+"/api/graphql")
	vs.add("CI_TEMPLATE_REGISTRY_HOST", templateRegistryHost)

	// Pipeline (Gitlab::Ci::Variables::Builder::Pipeline).
	vs.add("CI_PIPELINE_IID", strconv.FormatInt(e.pipelineIID, 10))
	vs.add("CI_PIPELINE_SOURCE", e.source)
	vs.add("CI_PIPELINE_CREATED_AT", e.now.UTC().Format(time.RFC3339))
	if e.source == SourceTrigger {
		vs.add("CI_PIPELINE_TRIGGERED", "true")
	}

	// Commit. GitLab leaves these out of pipelines without a SHA, which it never runs;
	// Slipway keeps them so that rules see the ref even when the SHA is unknown.
	msg, truncated := truncateBytes(ctx.Commit.Message, maxCommitMessageBytes)
	title, desc := commitTitle(ctx.Commit.Message), commitDescription(ctx.Commit.Message)
	if truncated {
		title, _ = truncateBytes(title, maxCommitMessageBytes)
		desc, _ = truncateBytes(desc, maxCommitMessageBytes)
	}
	vs.add("CI_COMMIT_SHA", ctx.SHA)
	vs.add("CI_COMMIT_SHORT_SHA", shortSHA(ctx.SHA))
	vs.add("CI_COMMIT_BEFORE_SHA", e.beforeSHA)
	vs.add("CI_COMMIT_REF_NAME", e.ref)
	vs.add("CI_COMMIT_REF_SLUG", Slug(e.ref))
	if e.branch {
		vs.add("CI_COMMIT_BRANCH", e.ref)
	}
	vs.add("CI_COMMIT_MESSAGE", msg)
	vs.add("CI_COMMIT_MESSAGE_IS_TRUNCATED", strconv.FormatBool(truncated))
	vs.add("CI_COMMIT_TITLE", title)
	vs.add("CI_COMMIT_DESCRIPTION", desc)
	vs.add("CI_COMMIT_REF_PROTECTED", strconv.FormatBool(e.protected))
	vs.add("CI_COMMIT_TIMESTAMP", formatTime(ctx.Commit.Timestamp))
	vs.add("CI_COMMIT_AUTHOR", commitAuthor(ctx.Commit))

	// Tag. Context has no tag message: a lightweight tag's is empty, which is what this gives.
	if ctx.Tag && !e.mrPipeline {
		vs.add("CI_COMMIT_TAG", e.ref)
		vs.add("CI_COMMIT_TAG_MESSAGE", "")
	}

	if mr := ctx.MergeRequest; mr != nil && e.mrPipeline {
		mergeRequestVars(&vs, e, mr)
	}

	// Set by the runner rather than GitLab, but the same for every job of a pipeline.
	vs.add("CI_SERVER", "yes")
	vs.add("CI_BUILDS_DIR", e.buildsDir)
	vs.add("CI_PROJECT_DIR", e.projectDir)
	return vs
}

// mergeRequestVars adds CI_MERGE_REQUEST_* in GitLab's order (the pipeline builder's, then
// MergeRequest#predefined_variables). Assignees, milestone, diff ID and squash-on-merge are
// unknown to a Context and left out.
func mergeRequestVars(vs *varList, e env, mr *MergeRequest) {
	event := mr.EventType
	if event == "" {
		event = "detached"
	}
	// GitLab sets the source and target SHAs only for merged results and merge trains; in a
	// detached pipeline they are empty.
	sourceSHA, targetSHA := mr.SourceSHA, mr.TargetSHA
	if event == "detached" {
		sourceSHA, targetSHA = "", ""
	}
	source := mr.SourceBranch
	if source == "" {
		source = e.ref
	}
	iid := strconv.FormatInt(mr.IID, 10)
	projectID := strconv.FormatInt(e.projectID, 10)
	vs.add("CI_MERGE_REQUEST_EVENT_TYPE", event)
	vs.add("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", sourceSHA)
	vs.add("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", targetSHA)
	if mr.DiffBaseSHA != "" {
		vs.add("CI_MERGE_REQUEST_DIFF_BASE_SHA", mr.DiffBaseSHA)
	}
	vs.add("CI_MERGE_REQUEST_ID", strconv.FormatInt(mr.ID, 10))
	vs.add("CI_MERGE_REQUEST_IID", iid)
	vs.add("CI_MERGE_REQUEST_REF_PATH", "refs/merge-requests/"+iid+"/head")
	vs.add("CI_MERGE_REQUEST_PROJECT_ID", projectID)
	vs.add("CI_MERGE_REQUEST_PROJECT_PATH", e.projectPath)
	vs.add("CI_MERGE_REQUEST_PROJECT_URL", e.projectURL)
	vs.add("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", mr.TargetBranch)
	vs.add("CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED", strconv.FormatBool(e.protectedBranch(mr.TargetBranch)))
	vs.add("CI_MERGE_REQUEST_TITLE", mr.Title)
	vs.add("CI_MERGE_REQUEST_DRAFT", strconv.FormatBool(mr.Draft))
	desc, truncated := truncateDescription(mr.Description)
	vs.add("CI_MERGE_REQUEST_DESCRIPTION", desc)
	vs.add("CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED", strconv.FormatBool(truncated))
	if len(mr.Labels) > 0 {
		labels := append([]string(nil), mr.Labels...)
		sort.Strings(labels)
		vs.add("CI_MERGE_REQUEST_LABELS", strings.Join(labels, ","))
	}
	vs.add("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", projectID)
	vs.add("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", e.projectPath)
	vs.add("CI_MERGE_REQUEST_SOURCE_PROJECT_URL", e.projectURL)
	vs.add("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", source)
	vs.add("CI_MERGE_REQUEST_SOURCE_BRANCH_PROTECTED", strconv.FormatBool(e.protectedBranch(source)))
}

// JobVars returns the predefined variables of one job (Builder#predefined_variables and the
// persisted job variables), to be layered over PipelineVars. CI_JOB_TOKEN and the other
// credentials are the runner's business and absent.
func JobVars(ctx Context, j JobMeta) []Var { return jobVars(newEnv(ctx), j) }

// jobVars is JobVars for a Context whose defaults are already applied.
func jobVars(e env, j JobMeta) []Var {
	vs := make(varList, 0, 12)
	id := strconv.FormatInt(j.ID, 10)
	vs.add("CI_JOB_ID", id)
	vs.add("CI_JOB_URL", e.projectURL+"/-/jobs/"+id)
	if !j.StartedAt.IsZero() {
		vs.add("CI_JOB_STARTED_AT", j.StartedAt.UTC().Format(time.RFC3339))
	}
	vs.add("CI_JOB_NAME", j.Name)
	vs.add("CI_JOB_NAME_SLUG", Slug(j.Name))
	vs.add("CI_JOB_GROUP_NAME", JobGroupName(j.Name))
	vs.add("CI_JOB_STAGE", j.Stage)
	if j.Manual {
		vs.add("CI_JOB_MANUAL", "true")
	}
	if j.Image != "" {
		vs.add("CI_JOB_IMAGE", j.Image)
	}
	if j.NodeIndex > 0 {
		vs.add("CI_NODE_INDEX", strconv.Itoa(j.NodeIndex))
	}
	total := j.NodeTotal
	if total <= 0 {
		total = 1
	}
	vs.add("CI_NODE_TOTAL", strconv.Itoa(total))
	if name := j.EnvironmentName; name != "" {
		action := j.EnvironmentAction
		if action == "" {
			action = "start"
		}
		tier := j.EnvironmentTier
		if tier == "" {
			tier = EnvironmentTier(name)
		}
		vs.add("CI_ENVIRONMENT_NAME", name)
		vs.add("CI_ENVIRONMENT_ACTION", action)
		vs.add("CI_ENVIRONMENT_TIER", tier)
		if j.EnvironmentURL != "" {
			vs.add("CI_ENVIRONMENT_URL", j.EnvironmentURL)
		}
		vs.add("CI_ENVIRONMENT_SLUG", EnvironmentSlug(name))
	}
	return vs
}

// varList collects predefined variables, all public.
type varList []Var

func (l *varList) add(key, value string) {
	*l = append(*l, Var{Key: key, Value: value, Public: true})
}

// env is a Context with its defaults applied.
type env struct {
	source                                 string
	ref, beforeSHA, defaultBranch          string
	branch, mrPipeline, protected          bool
	protectedBranch                        func(name string) bool
	serverURL, serverHost, serverPort      string
	serverProtocol, serverFQDN, serverName string
	registry                               string
	projectID                              int64
	projectPath, projectName, projectTitle string
	namespace, rootNamespace, projectURL   string
	visibility, buildsDir, projectDir      string
	pipelineID, pipelineIID                int64
	now                                    time.Time
}

func newEnv(ctx Context) env {
	e := env{
		source:        orDefault(ctx.Source, SourcePush),
		ref:           ctx.Ref,
		beforeSHA:     ctx.BeforeSHA,
		defaultBranch: orDefault(ctx.DefaultBranch, defaultDefaultBranch),
		pipelineID:    orOne(ctx.PipelineID),
		pipelineIID:   orOne(ctx.PipelineIID),
		now:           ctx.Now,
	}
	if e.now.IsZero() {
		e.now = time.Now()
	}
	if e.beforeSHA == "" {
		e.beforeSHA = zeroSHA
	}
	// A merge request pipeline, or a child of one, runs for refs/merge-requests/<iid>/head:
	// not a branch, and its CI_COMMIT_REF_NAME is the source branch.
	e.mrPipeline = e.source == SourceMergeRequest ||
		(e.source == SourceParentPipeline && ctx.MergeRequest != nil)
	if e.mrPipeline && e.ref == "" && ctx.MergeRequest != nil {
		e.ref = ctx.MergeRequest.SourceBranch
	}
	e.branch = !ctx.Tag && !e.mrPipeline
	e.protectedBranch = ctx.ProtectedBranch
	if e.protectedBranch == nil {
		def := e.defaultBranch
		e.protectedBranch = func(name string) bool { return name == def }
	}
	e.protected = e.branch && e.protectedBranch(e.ref)
	if ctx.Protected != nil {
		e.protected = *ctx.Protected
	}

	e.serverURL = strings.TrimRight(orDefault(ctx.Server.URL, defaultServerURL), "/")
	e.serverName = orDefault(ctx.Server.Name, "GitLab")
	e.serverProtocol, e.serverHost, e.serverPort = "https", "gitlab.com", "443"
	if u, err := url.Parse(e.serverURL); err == nil && u.Host != "" {
		e.serverProtocol = strings.ToLower(u.Scheme)
		e.serverHost = u.Hostname()
		e.serverPort = u.Port()
	}
	standard := map[string]string{"http": "80", "https": "443"}[e.serverProtocol]
	e.serverFQDN = e.serverHost
	switch {
	case e.serverPort == "":
		e.serverPort = standard
	case e.serverPort != standard:
		e.serverFQDN += ":" + e.serverPort
	}
	e.registry = ctx.Server.Registry
	if e.registry == "" {
		e.registry = "registry." + e.serverHost
	}

	p := ctx.Project
	e.projectID = orOne(p.ID)
	e.projectPath = p.Path
	e.projectName = path.Base(p.Path)
	if i := strings.LastIndexByte(p.Path, '/'); i >= 0 {
		e.namespace = p.Path[:i]
	} else {
		e.projectName = p.Path
	}
	e.rootNamespace, _, _ = strings.Cut(p.Path, "/")
	if e.namespace == "" {
		e.rootNamespace = ""
	}
	e.projectTitle = orDefault(p.Title, e.projectName)
	e.projectURL = strings.TrimRight(orDefault(p.URL, e.serverURL+"/"+p.Path), "/")
	e.visibility = orDefault(p.Visibility, "private")
	e.projectDir = p.Dir
	e.buildsDir = defaultBuildsDir
	if e.projectDir == "" {
		e.projectDir = defaultBuildsDir + "/" + p.Path
	} else if d, ok := strings.CutSuffix(e.projectDir, "/"+p.Path); ok && p.Path != "" && d != "" {
		e.buildsDir = d
	} else {
		e.buildsDir = path.Dir(e.projectDir)
	}
	return e
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orOne(n int64) int64 {
	if n == 0 {
		return 1
	}
	return n
}

// splitVersion is Gitlab::VersionInfo.parse: "17.5.1-ee" gives "17", "5" and "1", and a version
// without three numbers gives zeros.
func splitVersion(v string) (major, minor, patch string) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return "0", "0", "0"
	}
	num := func(s string) string {
		if s = strings.TrimLeft(s, "0"); s == "" {
			return "0"
		}
		return s
	}
	return num(m[1]), num(m[2]), num(m[3])
}

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)\.(\d+)`)

// shortSHA is Commit.truncate_sha: the first 8 characters.
func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// commitTitle is Commit#full_title: the message up to its first CR or LF.
func commitTitle(msg string) string {
	if isBlank(msg) {
		return noCommitMessage
	}
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		return msg[:i]
	}
	return msg
}

// commitDescription is Commit#description: everything after the first LF without one final
// line break, or the whole message when the title is 100 characters or longer.
func commitDescription(msg string) string {
	if utf8.RuneCountInString(commitTitle(msg)) >= 100 {
		return msg
	}
	if isBlank(msg) {
		return noCommitMessage
	}
	_, rest, ok := strings.Cut(msg, "\n")
	if !ok {
		return ""
	}
	return chomp(rest)
}

// chomp is Ruby's String#chomp: it removes one trailing "\r\n", "\n" or "\r".
func chomp(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		return t
	}
	return strings.TrimSuffix(s, "\r")
}

// isBlank is Ruby's String#blank?: empty or only whitespace.
func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

func commitAuthor(c Commit) string {
	if c.AuthorName == "" && c.AuthorEmail == "" {
		return ""
	}
	return c.AuthorName + " <" + c.AuthorEmail + ">"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// truncateBytes cuts s to at most n bytes, as Ruby's byteslice does (possibly inside a
// character), and reports whether it did.
func truncateBytes(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	return s[:n], true
}

// truncateDescription is MergeRequest#truncate_mr_description: ActiveSupport's
// String#truncate(2700), which keeps 2697 characters and appends "...".
func truncateDescription(s string) (string, bool) {
	if utf8.RuneCountInString(s) <= maxMRDescriptionChars {
		return s, false
	}
	keep := maxMRDescriptionChars - len("...")
	i := 0
	for n := 0; n < keep; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "...", true
}
