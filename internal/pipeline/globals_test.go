package pipeline

import (
	"context"
	"strings"
	"testing"
)

// TestDefaultAndWorkflowShapedAsJobs: GitLab's Entry::Root declares include, before_script,
// image, services, after_script, variables, stages and cache `reserved: true`, and not default
// or workflow (lib/gitlab/ci/config/entry/root.rb). Root#filter_jobs! takes every entry that is
// not reserved and that Entry::Jobs.find_type matches as a job: a hash with script or run
// (Entry::Job.matching?) or trigger (Entry::Bridge.matching?). A default: or workflow: of that
// shape is a job of that name, and the configuration then has no global default (workflow).
func TestDefaultAndWorkflowShapedAsJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		// jobs are the visible jobs, in order.
		jobs []string
		// job is one job to check; want its expanded configuration.
		job, want string
		// workflow: whether the configuration has a global workflow.
		workflow bool
		err      string
	}{
		{
			name: "default with script is a job, and no default",
			src: lines(
				"default:",
				"  image: alpine",
				"  script: echo default",
				"other:",
				"  script: echo other",
			),
			jobs: []string{"default", "other"},
			job:  "other", want: "script: echo other",
		},
		{
			name: "default that is a job has no default of itself",
			src:  "default:\n  image: alpine\n  script: echo\n",
			jobs: []string{"default"},
			job:  "default", want: lines("image: alpine", "script: echo"),
		},
		{
			name: "default with run is a job",
			src:  "default:\n  run: [{name: a, script: echo}]\n",
			jobs: []string{"default"},
		},
		{
			name: "default with trigger is a bridge job",
			src:  "default:\n  trigger: {include: child.yml}\nb:\n  script: x\n",
			jobs: []string{"default", "b"},
		},
		{
			name: "default without a job's shape stays the global default",
			src:  "default:\n  image: alpine\njob:\n  script: echo\n",
			jobs: []string{"job"},
			job:  "job", want: lines("script: echo", "image: alpine"),
		},
		{
			name: "default that gets its script through extends is a job",
			src:  ".t:\n  script: echo\ndefault:\n  extends: .t\n  stage: build\n",
			jobs: []string{"default"},
			job:  "default", want: lines("script: echo", "stage: build"),
		},
		{
			name: "default that is a reference to a job's template is a job",
			src:  ".t:\n  script: echo\ndefault: !reference [.t]\n",
			jobs: []string{"default"},
		},
		{
			// Entry::Default has no extends key.
			name: "default that extends without becoming a job",
			src:  ".t:\n  image: alpine\ndefault:\n  extends: .t\njob:\n  script: echo\n",
			err:  `.gitlab-ci.yml:4:3: default config contains unknown key "extends"`,
		},
		{
			name: "workflow with script is a job, and no workflow rules",
			src: lines(
				"workflow:",
				"  script: echo workflow",
				"  rules: [{if: $CI_COMMIT_TAG}]",
			),
			jobs: []string{"workflow"},
		},
		{
			name:     "workflow with rules only stays workflow",
			src:      "workflow:\n  rules: [{when: always}]\njob:\n  script: echo\n",
			jobs:     []string{"job"},
			workflow: true,
		},
		{
			name: "reserved names are never jobs",
			src:  "variables:\n  script: echo\njob:\n  script: echo\n",
			jobs: []string{"job"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadFiles(t, map[string]string{DefaultFile: tt.src})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error\n%v\nwant\n%s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var names []string
			for _, j := range cfg.Jobs {
				names = append(names, j.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.jobs, ",") {
				t.Errorf("jobs %v, want %v", names, tt.jobs)
			}
			if (cfg.Workflow != nil) != tt.workflow {
				t.Errorf("workflow %+v, want one: %v", cfg.Workflow, tt.workflow)
			}
			if tt.job != "" {
				if got := render(t, cfg.Job(tt.job).Node); got != tt.want {
					t.Errorf("job %s:\n%s\nwant\n%s", tt.job, got, tt.want)
				}
			}
			if !tt.workflow && cfg.Tree.Has("workflow") && !cfg.Tree.Get("workflow").Has("script") {
				t.Error("the expanded configuration keeps a global workflow")
			}
		})
	}
}

// TestDefaultJobCountsAgainstMaxJobs: a default: that is a job counts against MaxJobs.
func TestDefaultJobCountsAgainstMaxJobs(t *testing.T) {
	t.Parallel()
	dir := writeFuzzRepo(t, map[string][]byte{DefaultFile: []byte("default:\n  script: a\nb:\n  script: b\n")})
	_, err := Load(context.Background(), Options{Dir: dir, MaxJobs: 1})
	if err == nil || err.Error() != ".gitlab-ci.yml:3:1: more than 1 jobs (the limit) are defined" {
		t.Fatalf("error %v, want the second job past the limit", err)
	}
}
