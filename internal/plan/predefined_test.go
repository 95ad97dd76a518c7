package plan

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testSHA    = "0123456789abcdef0123456789abcdef01234567"
	testBefore = "fedcba9876543210fedcba9876543210fedcba98"
)

// baseContext is a branch push with every default applied.
func baseContext() Context {
	return Context{
		Ref:       "feature/Login-Page",
		SHA:       testSHA,
		BeforeSHA: testBefore,
		Commit: Commit{
			Message:     "Add login page\n\nWith a form\nand a button.\n",
			AuthorName:  "Ada Lovelace",
			AuthorEmail: "ada@example.com",
			Timestamp:   time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600)),
		},
		Project: Project{Path: "gcl/Sub/test-project"},
		Now:     time.Date(2024, 5, 6, 8, 0, 0, 0, time.UTC),
	}
}

// pipelineContexts are the pipeline types the tests cover, by golden file name.
func pipelineContexts() map[string]Context {
	push := baseContext()

	tag := baseContext()
	tag.Ref, tag.Tag = "v1.2.0", true

	mr := baseContext()
	mr.Source = SourceMergeRequest
	mr.MergeRequest = &MergeRequest{
		IID: 42, ID: 4242, Title: "Draft: Login page", Description: "Closes #7.",
		SourceBranch: "feature/Login-Page", TargetBranch: "main",
		SourceSHA: testSHA, TargetSHA: testBefore, DiffBaseSHA: testBefore,
		Labels: []string{"ui", "backend"}, Draft: true,
	}

	schedule := baseContext()
	schedule.Source, schedule.Ref = SourceSchedule, "main"

	web := baseContext()
	web.Source, web.Ref = SourceWeb, "main"
	web.DefaultBranch = "main"
	web.Server = Server{URL: "http://gitlab.example.com:8080/", Version: "17.5.1-ee", Registry: "registry.example.com:5050"}
	web.Project = Project{Path: "Group/App", ID: 7, Title: "The App", Visibility: "internal", Dir: "/srv/ci/Group/App"}
	web.PipelineID, web.PipelineIID = 900, 12

	return map[string]Context{"push": push, "tag": tag, "merge_request": mr, "schedule": schedule, "web": web}
}

// withProtection is ctx with what a server decided about protection.
func withProtection(ctx Context, protected bool, branch func(string) bool) Context {
	ctx.Protected, ctx.ProtectedBranch = &protected, branch
	return ctx
}

func varMap(vs []Var) map[string]string {
	m := make(map[string]string, len(vs))
	for _, v := range vs {
		m[v.Key] = v.Value
	}
	return m
}

func TestPipelineVars(t *testing.T) {
	t.Parallel()
	ctxs := pipelineContexts()
	tests := []struct {
		name    string
		ctx     Context
		want    map[string]string
		absent  []string
		present []string
	}{
		{
			name: "push",
			ctx:  ctxs["push"],
			want: map[string]string{
				"CI": "true", "GITLAB_CI": "true", "CI_SERVER": "yes",
				"CI_PIPELINE_SOURCE":             "push",
				"CI_PIPELINE_ID":                 "1",
				"CI_PIPELINE_IID":                "1",
				"CI_PIPELINE_URL":                "https://gitlab.com/gcl/Sub/test-project/-/pipelines/1",
				"CI_PIPELINE_CREATED_AT":         "2024-05-06T08:00:00Z",
				"CI_SERVER_URL":                  "https://gitlab.com",
				"CI_SERVER_HOST":                 "gitlab.com",
				"CI_SERVER_FQDN":                 "gitlab.com",
				"CI_SERVER_PORT":                 "443",
				"CI_SERVER_PROTOCOL":             "https",
				"CI_SERVER_NAME":                 "GitLab",
				"CI_API_V4_URL":                  "https://gitlab.com/api/v4",
				"CI_PROJECT_ID":                  "1",
				"CI_PROJECT_NAME":                "test-project",
				"CI_PROJECT_TITLE":               "test-project",
				"CI_PROJECT_PATH":                "gcl/Sub/test-project",
				"CI_PROJECT_PATH_SLUG":           "gcl-sub-test-project",
				"CI_PROJECT_NAMESPACE":           "gcl/Sub",
				"CI_PROJECT_ROOT_NAMESPACE":      "gcl",
				"CI_PROJECT_URL":                 "https://gitlab.com/gcl/Sub/test-project",
				"CI_PROJECT_VISIBILITY":          "private",
				"CI_PROJECT_DIR":                 "/builds/gcl/Sub/test-project",
				"CI_BUILDS_DIR":                  "/builds",
				"CI_DEFAULT_BRANCH":              "main",
				"CI_CONFIG_PATH":                 ".gitlab-ci.yml",
				"CI_REGISTRY":                    "registry.gitlab.com",
				"CI_REGISTRY_IMAGE":              "registry.gitlab.com/gcl/sub/test-project",
				"CI_COMMIT_SHA":                  testSHA,
				"CI_COMMIT_SHORT_SHA":            "01234567",
				"CI_COMMIT_BEFORE_SHA":           testBefore,
				"CI_COMMIT_REF_NAME":             "feature/Login-Page",
				"CI_COMMIT_REF_SLUG":             "feature-login-page",
				"CI_COMMIT_BRANCH":               "feature/Login-Page",
				"CI_COMMIT_REF_PROTECTED":        "false",
				"CI_COMMIT_MESSAGE":              "Add login page\n\nWith a form\nand a button.\n",
				"CI_COMMIT_TITLE":                "Add login page",
				"CI_COMMIT_DESCRIPTION":          "\nWith a form\nand a button.",
				"CI_COMMIT_AUTHOR":               "Ada Lovelace <ada@example.com>",
				"CI_COMMIT_TIMESTAMP":            "2024-05-06T07:08:09+02:00",
				"CI_COMMIT_MESSAGE_IS_TRUNCATED": "false",
			},
			absent: []string{"CI_COMMIT_TAG", "CI_COMMIT_TAG_MESSAGE", "CI_MERGE_REQUEST_IID", "CI_SERVER_VERSION", "CI_PIPELINE_TRIGGERED"},
		},
		{
			name: "tag",
			ctx:  ctxs["tag"],
			want: map[string]string{
				"CI_COMMIT_TAG":           "v1.2.0",
				"CI_COMMIT_TAG_MESSAGE":   "",
				"CI_COMMIT_REF_NAME":      "v1.2.0",
				"CI_COMMIT_REF_SLUG":      "v1-2-0",
				"CI_COMMIT_REF_PROTECTED": "false",
				"CI_PIPELINE_SOURCE":      "push",
			},
			absent: []string{"CI_COMMIT_BRANCH", "CI_MERGE_REQUEST_IID", "CI_MERGE_REQUEST_ID"},
		},
		{
			name: "merge request",
			ctx:  ctxs["merge_request"],
			want: map[string]string{
				"CI_PIPELINE_SOURCE":                        "merge_request_event",
				"CI_COMMIT_REF_NAME":                        "feature/Login-Page",
				"CI_COMMIT_REF_SLUG":                        "feature-login-page",
				"CI_COMMIT_REF_PROTECTED":                   "false",
				"CI_MERGE_REQUEST_IID":                      "42",
				"CI_MERGE_REQUEST_ID":                       "4242",
				"CI_MERGE_REQUEST_TITLE":                    "Draft: Login page",
				"CI_MERGE_REQUEST_DESCRIPTION":              "Closes #7.",
				"CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED": "false",
				"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME":       "feature/Login-Page",
				"CI_MERGE_REQUEST_TARGET_BRANCH_NAME":       "main",
				"CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED":  "true",
				"CI_MERGE_REQUEST_SOURCE_BRANCH_PROTECTED":  "false",
				"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA":        "",
				"CI_MERGE_REQUEST_TARGET_BRANCH_SHA":        "",
				"CI_MERGE_REQUEST_DIFF_BASE_SHA":            testBefore,
				"CI_MERGE_REQUEST_LABELS":                   "backend,ui",
				"CI_MERGE_REQUEST_DRAFT":                    "true",
				"CI_MERGE_REQUEST_EVENT_TYPE":               "detached",
				"CI_MERGE_REQUEST_PROJECT_ID":               "1",
				"CI_MERGE_REQUEST_PROJECT_PATH":             "gcl/Sub/test-project",
				"CI_MERGE_REQUEST_PROJECT_URL":              "https://gitlab.com/gcl/Sub/test-project",
				"CI_MERGE_REQUEST_SOURCE_PROJECT_PATH":      "gcl/Sub/test-project",
				"CI_MERGE_REQUEST_SOURCE_PROJECT_URL":       "https://gitlab.com/gcl/Sub/test-project",
				"CI_MERGE_REQUEST_REF_PATH":                 "refs/merge-requests/42/head",
			},
			absent: []string{"CI_COMMIT_BRANCH", "CI_COMMIT_TAG", "CI_COMMIT_TAG_MESSAGE"},
		},
		{
			name: "schedule",
			ctx:  ctxs["schedule"],
			want: map[string]string{
				"CI_PIPELINE_SOURCE":      "schedule",
				"CI_COMMIT_BRANCH":        "main",
				"CI_COMMIT_REF_NAME":      "main",
				"CI_COMMIT_REF_PROTECTED": "true",
			},
			absent: []string{"CI_COMMIT_TAG", "CI_MERGE_REQUEST_IID"},
		},
		{
			name: "web on a self-managed server",
			ctx:  ctxs["web"],
			want: map[string]string{
				"CI_PIPELINE_SOURCE":      "web",
				"CI_PIPELINE_ID":          "900",
				"CI_PIPELINE_IID":         "12",
				"CI_PIPELINE_URL":         "http://gitlab.example.com:8080/Group/App/-/pipelines/900",
				"CI_COMMIT_BRANCH":        "main",
				"CI_SERVER_URL":           "http://gitlab.example.com:8080",
				"CI_SERVER_HOST":          "gitlab.example.com",
				"CI_SERVER_FQDN":          "gitlab.example.com:8080",
				"CI_SERVER_PORT":          "8080",
				"CI_SERVER_PROTOCOL":      "http",
				"CI_SERVER_VERSION":       "17.5.1-ee",
				"CI_SERVER_VERSION_MAJOR": "17",
				"CI_SERVER_VERSION_MINOR": "5",
				"CI_SERVER_VERSION_PATCH": "1",
				"CI_API_V4_URL":           "http://gitlab.example.com:8080/api/v4",
				"CI_PROJECT_ID":           "7",
				"CI_PROJECT_NAME":         "App",
				"CI_PROJECT_TITLE":        "The App",
				"CI_PROJECT_NAMESPACE":    "Group",
				"CI_PROJECT_VISIBILITY":   "internal",
				"CI_PROJECT_URL":          "http://gitlab.example.com:8080/Group/App",
				"CI_PROJECT_DIR":          "/srv/ci/Group/App",
				"CI_BUILDS_DIR":           "/srv/ci",
				"CI_REGISTRY":             "registry.example.com:5050",
				"CI_REGISTRY_IMAGE":       "registry.example.com:5050/group/app",
			},
			absent: []string{"CI_COMMIT_TAG", "CI_MERGE_REQUEST_IID"},
		},
		{
			name: "tag the server found protected",
			ctx:  withProtection(ctxs["tag"], true, nil),
			want: map[string]string{"CI_COMMIT_REF_PROTECTED": "true"},
		},
		{
			name: "default branch whose commit is not on it",
			ctx:  withProtection(ctxs["schedule"], false, nil),
			want: map[string]string{"CI_COMMIT_REF_PROTECTED": "false"},
		},
		{
			name: "merge request with protected branches",
			ctx: withProtection(ctxs["merge_request"], false, func(b string) bool {
				return strings.HasPrefix(b, "feature/")
			}),
			want: map[string]string{
				"CI_COMMIT_REF_PROTECTED":                  "false",
				"CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED": "false",
				"CI_MERGE_REQUEST_SOURCE_BRANCH_PROTECTED": "true",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs := PipelineVars(tt.ctx)
			got := varMap(vs)
			if len(got) != len(vs) {
				t.Errorf("PipelineVars has duplicate keys")
			}
			for k, want := range tt.want {
				v, ok := got[k]
				switch {
				case !ok:
					t.Errorf("%s missing, want %q", k, want)
				case v != want:
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %q, want it absent", k, v)
				}
			}
			for _, v := range vs {
				if !v.Public || v.Masked || v.File || v.Raw {
					t.Errorf("%s has flags %+v, want only Public", v.Key, v)
				}
			}
		})
	}
}

// TestPipelineVarsAvailability checks the whole family of each conditional variable.
func TestPipelineVarsAvailability(t *testing.T) {
	t.Parallel()
	for name, ctx := range pipelineContexts() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mr, tag := name == "merge_request", name == "tag"
			for _, v := range PipelineVars(ctx) {
				switch {
				case strings.HasPrefix(v.Key, "CI_MERGE_REQUEST_") && !mr:
					t.Errorf("%s in a %s pipeline", v.Key, name)
				case strings.HasPrefix(v.Key, "CI_COMMIT_TAG") && !tag:
					t.Errorf("%s in a %s pipeline", v.Key, name)
				case v.Key == "CI_COMMIT_BRANCH" && (mr || tag):
					t.Errorf("%s in a %s pipeline", v.Key, name)
				}
			}
		})
	}
}

func TestPredefinedGolden(t *testing.T) {
	t.Parallel()
	for name, ctx := range pipelineContexts() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := json.MarshalIndent(PipelineVars(ctx), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "predefined", name+".golden"), append(got, '\n'))
		})
	}
}

func TestPipelineVarsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  Context
		want map[string]string
	}{
		{
			name: "zero context",
			ctx:  Context{},
			want: map[string]string{
				"CI_PIPELINE_SOURCE": "push", "CI_PIPELINE_ID": "1", "CI_DEFAULT_BRANCH": "main",
				"CI_COMMIT_BEFORE_SHA": zeroSHA, "CI_COMMIT_TITLE": "No commit message",
				"CI_COMMIT_DESCRIPTION": "No commit message", "CI_COMMIT_MESSAGE": "",
				"CI_COMMIT_AUTHOR": "", "CI_COMMIT_TIMESTAMP": "", "CI_SERVER_URL": "https://gitlab.com",
				"CI_PROJECT_NAMESPACE": "", "CI_PROJECT_ROOT_NAMESPACE": "",
			},
		},
		{
			name: "no namespace",
			ctx:  Context{Project: Project{Path: "solo"}},
			want: map[string]string{
				"CI_PROJECT_NAME": "solo", "CI_PROJECT_NAMESPACE": "", "CI_PROJECT_ROOT_NAMESPACE": "",
				"CI_PROJECT_DIR": "/builds/solo", "CI_PROJECT_URL": "https://gitlab.com/solo",
			},
		},
		{
			name: "merged results keep the SHAs",
			ctx: Context{Source: SourceMergeRequest, Ref: "topic", MergeRequest: &MergeRequest{
				IID: 3, SourceBranch: "topic", TargetBranch: "dev", SourceSHA: "aaa", TargetSHA: "bbb",
				EventType: "merged_result",
			}},
			want: map[string]string{
				"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "aaa", "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": "bbb",
				"CI_MERGE_REQUEST_EVENT_TYPE": "merged_result", "CI_MERGE_REQUEST_TARGET_BRANCH_PROTECTED": "false",
			},
		},
		{
			name: "merge request ref from the source branch",
			ctx:  Context{Source: SourceMergeRequest, MergeRequest: &MergeRequest{SourceBranch: "Fix/It"}},
			want: map[string]string{"CI_COMMIT_REF_NAME": "Fix/It", "CI_COMMIT_REF_SLUG": "fix-it"},
		},
		{
			name: "child of a merge request pipeline",
			ctx:  Context{Source: SourceParentPipeline, Ref: "topic", MergeRequest: &MergeRequest{IID: 9}},
			want: map[string]string{"CI_MERGE_REQUEST_IID": "9", "CI_PIPELINE_SOURCE": "parent_pipeline"},
		},
		{
			name: "trigger",
			ctx:  Context{Source: SourceTrigger, Ref: "main"},
			want: map[string]string{"CI_PIPELINE_TRIGGERED": "true", "CI_COMMIT_BRANCH": "main"},
		},
		{
			name: "long title moves the message to the description",
			ctx:  Context{Commit: Commit{Message: strings.Repeat("x", 100) + "\nbody"}},
			want: map[string]string{
				"CI_COMMIT_TITLE":       strings.Repeat("x", 100),
				"CI_COMMIT_DESCRIPTION": strings.Repeat("x", 100) + "\nbody",
			},
		},
		{
			name: "CRLF message",
			ctx:  Context{Commit: Commit{Message: "Title\r\nBody\r\n"}},
			want: map[string]string{"CI_COMMIT_TITLE": "Title", "CI_COMMIT_DESCRIPTION": "Body"},
		},
		{
			name: "one line message",
			ctx:  Context{Commit: Commit{Message: "Only a title"}},
			want: map[string]string{"CI_COMMIT_TITLE": "Only a title", "CI_COMMIT_DESCRIPTION": ""},
		},
		{
			name: "huge message is truncated",
			ctx:  Context{Commit: Commit{Message: strings.Repeat("y", maxCommitMessageBytes+5)}},
			want: map[string]string{
				"CI_COMMIT_MESSAGE":              strings.Repeat("y", maxCommitMessageBytes),
				"CI_COMMIT_MESSAGE_IS_TRUNCATED": "true",
			},
		},
		{
			name: "long merge request description",
			ctx: Context{Source: SourceMergeRequest, MergeRequest: &MergeRequest{
				Description: strings.Repeat("é", maxMRDescriptionChars+1),
			}},
			want: map[string]string{
				"CI_MERGE_REQUEST_DESCRIPTION":              strings.Repeat("é", maxMRDescriptionChars-3) + "...",
				"CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED": "true",
			},
		},
		{
			name: "server without version parts",
			ctx:  Context{Server: Server{URL: "https://ci.example.org", Version: "dev"}},
			want: map[string]string{
				"CI_SERVER_VERSION": "dev", "CI_SERVER_VERSION_MAJOR": "0", "CI_REGISTRY": "registry.ci.example.org",
				"CI_SERVER_PORT": "443", "CI_SERVER_FQDN": "ci.example.org",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := varMap(PipelineVars(tt.ctx))
			for k, want := range tt.want {
				if v, ok := got[k]; !ok || v != want {
					t.Errorf("%s = %q (set %v), want %q", k, shorten(v), ok, shorten(want))
				}
			}
		})
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func TestPipelineVarsStableOrder(t *testing.T) {
	t.Parallel()
	ctx := pipelineContexts()["merge_request"]
	first := PipelineVars(ctx)
	for range 5 {
		again := PipelineVars(ctx)
		if len(again) != len(first) {
			t.Fatalf("length changed: %d, then %d", len(first), len(again))
		}
		for i := range first {
			if first[i] != again[i] {
				t.Fatalf("variable %d: %+v, then %+v", i, first[i], again[i])
			}
		}
	}
}

func TestJobVars(t *testing.T) {
	t.Parallel()
	ctx := baseContext()
	started := time.Date(2024, 5, 6, 8, 1, 2, 0, time.FixedZone("", 3600))
	tests := []struct {
		name   string
		meta   JobMeta
		want   map[string]string
		absent []string
	}{
		{
			name: "plain job",
			meta: JobMeta{Name: "unit tests", Stage: "test", ID: 1001},
			want: map[string]string{
				"CI_JOB_NAME": "unit tests", "CI_JOB_NAME_SLUG": "unit-tests", "CI_JOB_GROUP_NAME": "unit tests",
				"CI_JOB_STAGE": "test", "CI_JOB_ID": "1001", "CI_NODE_TOTAL": "1",
				"CI_JOB_URL": "https://gitlab.com/gcl/Sub/test-project/-/jobs/1001",
			},
			absent: []string{
				"CI_NODE_INDEX", "CI_JOB_MANUAL", "CI_JOB_IMAGE", "CI_JOB_STARTED_AT", "CI_JOB_TOKEN",
				"CI_ENVIRONMENT_NAME", "CI_ENVIRONMENT_SLUG", "CI_ENVIRONMENT_URL", "CI_ENVIRONMENT_ACTION", "CI_ENVIRONMENT_TIER",
			},
		},
		{
			name: "parallel instance",
			meta: JobMeta{Name: "rspec 2/3", Stage: "test", ID: 1002, NodeIndex: 2, NodeTotal: 3},
			want: map[string]string{
				"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3", "CI_JOB_GROUP_NAME": "rspec", "CI_JOB_NAME_SLUG": "rspec-2-3",
			},
		},
		{
			name: "manual with image and start time",
			meta: JobMeta{Name: "deploy", Stage: "deploy", ID: 5, Manual: true, Image: "alpine:3.20", StartedAt: started},
			want: map[string]string{
				"CI_JOB_MANUAL": "true", "CI_JOB_IMAGE": "alpine:3.20", "CI_JOB_STARTED_AT": "2024-05-06T07:01:02Z",
			},
			absent: []string{"CI_ENVIRONMENT_NAME"},
		},
		{
			name: "environment with defaults",
			meta: JobMeta{Name: "review", Stage: "deploy", EnvironmentName: "review/feature-login-page"},
			want: map[string]string{
				"CI_ENVIRONMENT_NAME": "review/feature-login-page", "CI_ENVIRONMENT_ACTION": "start",
				"CI_ENVIRONMENT_TIER": "development", "CI_ENVIRONMENT_SLUG": EnvironmentSlug("review/feature-login-page"),
			},
			absent: []string{"CI_ENVIRONMENT_URL"},
		},
		{
			name: "environment given in full",
			meta: JobMeta{
				Name: "stop", Stage: "deploy", EnvironmentName: "production", EnvironmentURL: "https://example.com",
				EnvironmentAction: "stop", EnvironmentTier: "staging",
			},
			want: map[string]string{
				"CI_ENVIRONMENT_NAME": "production", "CI_ENVIRONMENT_SLUG": "production",
				"CI_ENVIRONMENT_URL": "https://example.com", "CI_ENVIRONMENT_ACTION": "stop", "CI_ENVIRONMENT_TIER": "staging",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vs := JobVars(ctx, tt.meta)
			got := varMap(vs)
			if len(got) != len(vs) {
				t.Errorf("JobVars has duplicate keys")
			}
			for k, want := range tt.want {
				if v, ok := got[k]; !ok || v != want {
					t.Errorf("%s = %q (set %v), want %q", k, v, ok, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %q, want it absent", k, v)
				}
			}
			pipeline := varMap(PipelineVars(ctx))
			for k := range got {
				if _, ok := pipeline[k]; ok {
					t.Errorf("%s is both a pipeline and a job variable", k)
				}
			}
		})
	}
}
