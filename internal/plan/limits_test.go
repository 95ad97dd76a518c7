package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

// TestLimitJobsExpanded: Context.MaxJobs counts parallel instances and the jobs of child
// pipelines, and refuses a pipeline past it before its jobs are expanded.
func TestLimitJobsExpanded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		max   int
		err   string
	}{
		{
			name:  "parallel within the limit",
			files: map[string]string{pipeline.DefaultFile: "a:\n  script: x\n  parallel: 3\nb:\n  script: x\n"},
			max:   4,
		},
		{
			name:  "parallel past the limit",
			files: map[string]string{pipeline.DefaultFile: "a:\n  script: x\n  parallel: 3\nb:\n  script: x\n  parallel:\n    matrix: [{X: [1, 2]}]\n"},
			max:   4,
			err:   ".gitlab-ci.yml:4:1: jobs:b: the pipeline has more than 4 jobs (the limit), parallel instances and child pipelines counted",
		},
		{
			name:  "the default",
			files: map[string]string{pipeline.DefaultFile: manyParallel(11)},
			err:   "more than 2000 jobs (the limit)",
		},
		{
			name: "child pipelines count",
			files: map[string]string{
				pipeline.DefaultFile: "a:\n  trigger:\n    include: child.yml\nb:\n  trigger:\n    include: child.yml\n",
				"child.yml":          "c1:\n  script: x\nc2:\n  script: x\n",
			},
			max: 5, // a, b, and 2 × 2 child jobs make 6
			err: "jobs:b child pipeline: child.yml:3:1: jobs:c2: the pipeline has more than 5 jobs (the limit)",
		},
		{
			name: "child pipelines within the limit",
			files: map[string]string{
				pipeline.DefaultFile: "a:\n  trigger:\n    include: child.yml\nb:\n  trigger:\n    include: child.yml\n",
				"child.yml":          "c1:\n  script: x\nc2:\n  script: x\n",
			},
			max: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx := goldenContext()
			ctx.MaxJobs = tt.max
			cfg, err := load(t, dir, pipeline.DefaultFile, &ctx)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			p, err := Compile(cfg, ctx)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("compile: %v", err)
			case tt.err == "":
				if len(p.Jobs) == 0 {
					t.Fatal("no jobs planned")
				}
			case err == nil:
				t.Fatalf("planned %d jobs, want the error %q", len(p.Jobs), tt.err)
			case !strings.Contains(err.Error(), tt.err):
				t.Fatalf("error:\n%v\nwant it to say %q", err, tt.err)
			}
		})
	}
}

// manyParallel is n jobs of parallel: 200 each.
func manyParallel(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("job" + string(rune('a'+i)) + ":\n  script: x\n  parallel: 200\n")
	}
	return b.String()
}
