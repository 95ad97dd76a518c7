package plan

import (
	"fmt"
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

// TestAttackVariableExpansion: 30 short variables that each refer to the one before twice
// expand to 10 GB; planning a job whose rules read the last one took minutes and gigabytes.
// Each variable is now expanded once per lookup, and one that grows past the variable size
// limit stops the plan with an error that names it.
func TestAttackVariableExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("variables:\n  V0: xxxxxxxxxx\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "  V%d: $V%d$V%d\n", i, i-1, i-1)
	}
	b.WriteString("job:\n  script: [echo $V30]\n  rules:\n    - if: $V30 == \"a\"\n")
	var err error
	n := testing.AllocsPerRun(1, func() { _, err = compileSource(t, b.String(), goldenContext()) })
	// 10 × 2^14 bytes is the first value past 128 KiB.
	if err == nil || !strings.Contains(err.Error(), ".gitlab-ci.yml:16:3: variables:V14: once its $references are expanded, the value has more than 131072 bytes (the limit)") {
		t.Fatalf("error %v, want one at V14", err)
	}
	if n > 100000 {
		t.Errorf("%.0f allocations", n)
	}

	// Long values that fit are expanded as before, however deep the references go.
	long := strings.Repeat("y", 100<<10)
	src := "variables:\n  A: $B\n  B: $C\n  C: $D\n  D: " + long + "\njob:\n  script: [echo]\n  rules:\n    - if: $A == $D\n"
	p := mustCompile(t, src, goldenContext())
	if len(p.Jobs) != 1 {
		t.Fatalf("the job is out: %+v", p.Excluded)
	}
	vars := newVarSet(nil, 0, p.Jobs[0].Variables)
	if v, _ := vars.Lookup("A"); v != long {
		t.Errorf("A expands to %d bytes, want %d", len(v), len(long))
	}
}
