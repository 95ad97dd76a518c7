package plan

import (
	"strings"
	"testing"
)

// TestNeedsNameOneParallelInstance: a need (or a dependency) may name one instance of a
// parallel job by its full name. GitLab's Normalizer expands a name that is a parallel job
// into all its instances and keeps any other name as written (lib/gitlab/ci/config/
// normalizer.rb, #expand_needs, #expand_names); the name is then looked up among the
// pipeline's jobs, whose names are the instances' ("build: [x86_64, linux]",
// Normalizer::MatrixStrategy#name; "test 1/2", NumberStrategy).
func TestNeedsNameOneParallelInstance(t *testing.T) {
	t.Parallel()
	const matrix = `build:
  stage: build
  script: make
  parallel:
    matrix:
      - ARCH: [x86_64, aarch64]
        OS: [linux]
unit:
  stage: build
  script: test
  parallel: 2
`
	tests := []struct {
		name string
		src  string
		job  string
		want []string // the job's needs, or
		deps []string // its dependencies, or
		err  string   // the error
	}{
		{
			name: "one matrix instance",
			src:  matrix + "test:\n  script: t\n  needs: [\"build: [x86_64, linux]\"]\n",
			job:  "test", want: []string{"build: [x86_64, linux]"},
		},
		{
			name: "one matrix instance in the long form",
			src:  matrix + "test:\n  script: t\n  needs:\n    - job: \"build: [aarch64, linux]\"\n      artifacts: false\n",
			job:  "test", want: []string{"build: [aarch64, linux]"},
		},
		{
			name: "one numbered instance",
			src:  matrix + "test:\n  script: t\n  needs: [\"unit 2/2\"]\n",
			job:  "test", want: []string{"unit 2/2"},
		},
		{
			name: "the base name still means every instance",
			src:  matrix + "test:\n  script: t\n  needs: [build]\n",
			job:  "test", want: []string{"build: [x86_64, linux]", "build: [aarch64, linux]"},
		},
		{
			name: "a dependency on one instance",
			src:  matrix + "test:\n  script: t\n  dependencies: [\"build: [aarch64, linux]\"]\n",
			job:  "test", deps: []string{"build: [aarch64, linux]"},
		},
		{
			name: "an instance that does not exist",
			src:  matrix + "test:\n  script: t\n  needs: [\"build: [riscv64, linux]\"]\n",
			err:  `needs "build: [riscv64, linux]", which does not exist`,
		},
		{
			// dav1d: a job of a stage after the instance's.
			name: "dav1d's shape",
			src: "stages: [build, test]\nbuild-win:\n  stage: build\n  script: make\n  parallel:\n    matrix:\n      - HOST: [i686-w64-mingw32, x86_64-w64-mingw32]\n" +
				"test-win64:\n  stage: test\n  script: t\n  needs: [\"build-win: [x86_64-w64-mingw32]\"]\n",
			job: "test-win64", want: []string{"build-win: [x86_64-w64-mingw32]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := compileSource(t, tt.src, goldenContext())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			j := p.Job(tt.job)
			if j == nil {
				t.Fatalf("no job %q in %v", tt.job, jobNames(p.Jobs))
			}
			if tt.deps != nil {
				if strings.Join(j.Dependencies, "|") != strings.Join(tt.deps, "|") {
					t.Errorf("dependencies %q, want %q", j.Dependencies, tt.deps)
				}
				return
			}
			var got []string
			for _, n := range j.Needs {
				got = append(got, n.Job)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("needs %q, want %q", got, tt.want)
			}
		})
	}
}
