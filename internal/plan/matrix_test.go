package plan

import (
	"strconv"
	"testing"
)

func TestMatrixName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		job    string
		values []string
		want   string
	}{
		{name: "two values", job: "deploy", values: []string{"aws", "app1"}, want: "deploy: [aws, app1]"},
		{name: "one value", job: "test", values: []string{"firefox"}, want: "test: [firefox]"},
		{name: "three values", job: "build", values: []string{"linux", "amd64", "go1.26"}, want: "build: [linux, amd64, go1.26]"},
		{name: "values with spaces and commas", job: "j", values: []string{"a b", "c,d"}, want: "j: [a b, c,d]"},
		{name: "job name with spaces", job: "unit tests", values: []string{"x"}, want: "unit tests: [x]"},
		{name: "empty value", job: "j", values: []string{""}, want: "j: []"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MatrixName(tt.job, tt.values); got != tt.want {
				t.Errorf("MatrixName(%q, %q) = %q, want %q", tt.job, tt.values, got, tt.want)
			}
		})
	}
}

// instance is what TestParallelInstances expects of one parallel instance.
type instance struct {
	name  string
	index int // CI_NODE_INDEX
	total int // CI_NODE_TOTAL
	// vars are matrix variables the instance must see.
	vars map[string]string
}

// TestParallelInstances checks instance names, their order and CI_NODE_INDEX/CI_NODE_TOTAL
// (Normalizer::NumberStrategy and MatrixStrategy: the first key varies slowest, entries follow
// each other, and the index runs over all of them).
func TestParallelInstances(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []instance
	}{
		{
			name: "parallel: 3",
			src:  "rspec:\n  script: rspec\n  parallel: 3\n",
			want: []instance{
				{name: "rspec 1/3", index: 1, total: 3},
				{name: "rspec 2/3", index: 2, total: 3},
				{name: "rspec 3/3", index: 3, total: 3},
			},
		},
		{
			name: "parallel: 1",
			src:  "rspec:\n  script: rspec\n  parallel: 1\n",
			want: []instance{{name: "rspec 1/1", index: 1, total: 1}},
		},
		{
			name: "two keys of three values, then a second entry",
			src: `deploy:
  script: deploy
  parallel:
    matrix:
      - PROVIDER: [aws, gcp, azure]
        STACK: [monitoring, app1, app2]
      - PROVIDER: ovh
        STACK: [monitoring, backup]
`,
			want: []instance{
				{name: "deploy: [aws, monitoring]", index: 1, total: 11, vars: map[string]string{"PROVIDER": "aws", "STACK": "monitoring"}},
				{name: "deploy: [aws, app1]", index: 2, total: 11, vars: map[string]string{"PROVIDER": "aws", "STACK": "app1"}},
				{name: "deploy: [aws, app2]", index: 3, total: 11, vars: map[string]string{"PROVIDER": "aws", "STACK": "app2"}},
				{name: "deploy: [gcp, monitoring]", index: 4, total: 11, vars: map[string]string{"PROVIDER": "gcp", "STACK": "monitoring"}},
				{name: "deploy: [gcp, app1]", index: 5, total: 11, vars: map[string]string{"PROVIDER": "gcp", "STACK": "app1"}},
				{name: "deploy: [gcp, app2]", index: 6, total: 11, vars: map[string]string{"PROVIDER": "gcp", "STACK": "app2"}},
				{name: "deploy: [azure, monitoring]", index: 7, total: 11, vars: map[string]string{"PROVIDER": "azure", "STACK": "monitoring"}},
				{name: "deploy: [azure, app1]", index: 8, total: 11, vars: map[string]string{"PROVIDER": "azure", "STACK": "app1"}},
				{name: "deploy: [azure, app2]", index: 9, total: 11, vars: map[string]string{"PROVIDER": "azure", "STACK": "app2"}},
				{name: "deploy: [ovh, monitoring]", index: 10, total: 11, vars: map[string]string{"PROVIDER": "ovh", "STACK": "monitoring"}},
				{name: "deploy: [ovh, backup]", index: 11, total: 11, vars: map[string]string{"PROVIDER": "ovh", "STACK": "backup"}},
			},
		},
		{
			name: "key order of the entry decides the name, not the alphabet",
			src:  "test:\n  script: x\n  parallel:\n    matrix:\n      - ZONE: [a]\n        ARCH: [arm64, amd64]\n",
			want: []instance{
				{name: "test: [a, arm64]", index: 1, total: 2, vars: map[string]string{"ZONE": "a", "ARCH": "arm64"}},
				{name: "test: [a, amd64]", index: 2, total: 2, vars: map[string]string{"ZONE": "a", "ARCH": "amd64"}},
			},
		},
		{
			name: "a scalar value is a one-value list",
			src:  "test:\n  script: x\n  parallel:\n    matrix:\n      - OS: linux\n        VERSION: [\"1\", \"2\"]\n",
			want: []instance{
				{name: "test: [linux, 1]", index: 1, total: 2, vars: map[string]string{"OS": "linux", "VERSION": "1"}},
				{name: "test: [linux, 2]", index: 2, total: 2, vars: map[string]string{"OS": "linux", "VERSION": "2"}},
			},
		},
		{
			name: "three keys",
			src:  "b:\n  script: x\n  parallel:\n    matrix:\n      - A: [1, 2]\n        B: [x]\n        C: [p, q]\n",
			want: []instance{
				{name: "b: [1, x, p]", index: 1, total: 4},
				{name: "b: [1, x, q]", index: 2, total: 4},
				{name: "b: [2, x, p]", index: 3, total: 4},
				{name: "b: [2, x, q]", index: 4, total: 4},
			},
		},
		{
			name: "matrix values override job variables",
			src:  "t:\n  script: x\n  variables: {OS: none, KEEP: kept}\n  parallel:\n    matrix:\n      - OS: [linux]\n",
			want: []instance{{name: "t: [linux]", index: 1, total: 1, vars: map[string]string{"OS": "linux", "KEEP": "kept"}}},
		},
		{
			name: "rules leave instances out but keep the others' indexes",
			src: `build:
  script: make
  parallel:
    matrix:
      - GOOS: [linux, darwin, windows]
  rules:
    - if: $GOOS == "darwin"
      when: never
    - when: on_success
`,
			want: []instance{
				{name: "build: [linux]", index: 1, total: 3},
				{name: "build: [windows]", index: 3, total: 3},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustCompile(t, tt.src, goldenContext())
			if len(p.Jobs) != len(tt.want) {
				t.Fatalf("jobs %q, want %d instances", jobNames(p.Jobs), len(tt.want))
			}
			for i, w := range tt.want {
				j := p.Jobs[i]
				if j.Name != w.name {
					t.Errorf("instance %d is %q, want %q", i, j.Name, w.name)
					continue
				}
				if j.NodeIndex != w.index || j.NodeTotal != w.total {
					t.Errorf("%s: node %d/%d, want %d/%d", j.Name, j.NodeIndex, j.NodeTotal, w.index, w.total)
				}
				vars := varMap(j.Variables)
				if got := vars["CI_NODE_INDEX"]; got != strconv.Itoa(w.index) {
					t.Errorf("%s: CI_NODE_INDEX = %q, want %d", j.Name, got, w.index)
				}
				if got := vars["CI_NODE_TOTAL"]; got != strconv.Itoa(w.total) {
					t.Errorf("%s: CI_NODE_TOTAL = %q, want %d", j.Name, got, w.total)
				}
				if got := vars["CI_JOB_NAME"]; got != w.name {
					t.Errorf("%s: CI_JOB_NAME = %q", j.Name, got)
				}
				for k, v := range w.vars {
					if vars[k] != v {
						t.Errorf("%s: %s = %q, want %q", j.Name, k, vars[k], v)
					}
				}
			}
		})
	}
}

// A job that is not parallel has no CI_NODE_INDEX and a CI_NODE_TOTAL of 1.
func TestNotParallel(t *testing.T) {
	t.Parallel()
	p := mustCompile(t, "job: {script: x}", goldenContext())
	vars := varMap(p.Job("job").Variables)
	if v, ok := vars["CI_NODE_INDEX"]; ok {
		t.Errorf("CI_NODE_INDEX = %q, want it absent", v)
	}
	if vars["CI_NODE_TOTAL"] != "1" {
		t.Errorf("CI_NODE_TOTAL = %q, want 1", vars["CI_NODE_TOTAL"])
	}
}

// TestNeedsParallel checks which instances a need selects: all of them by the base name, or
// those needs:parallel:matrix names.
func TestNeedsParallel(t *testing.T) {
	t.Parallel()
	const jobs = `stages: [build, test]
build:
  stage: build
  script: make
  parallel:
    matrix:
      - OS: [linux, mac]
        ARCH: [amd64, arm64]
shard:
  stage: build
  script: shard
  parallel: 2
`
	tests := []struct {
		name  string
		needs string
		want  []string
	}{
		{name: "base name of a matrix job", needs: "[build]", want: []string{"build: [linux, amd64]", "build: [linux, arm64]", "build: [mac, amd64]", "build: [mac, arm64]"}},
		{name: "base name of a parallel job", needs: "[shard]", want: []string{"shard 1/2", "shard 2/2"}},
		{name: "one instance", needs: "[{job: build, parallel: {matrix: [{OS: mac, ARCH: arm64}]}}]", want: []string{"build: [mac, arm64]"}},
		{name: "a list of values", needs: "[{job: build, parallel: {matrix: [{OS: linux, ARCH: [amd64, arm64]}]}}]", want: []string{"build: [linux, amd64]", "build: [linux, arm64]"}},
		{name: "two entries", needs: "[{job: build, parallel: {matrix: [{OS: linux, ARCH: amd64}, {OS: mac, ARCH: arm64}]}}]", want: []string{"build: [linux, amd64]", "build: [mac, arm64]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := jobs + "test:\n  stage: test\n  script: test\n  needs: " + tt.needs + "\n"
			p := mustCompile(t, src, goldenContext())
			var got []string
			for _, n := range p.Job("test").Needs {
				got = append(got, n.Job)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("needs %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("needs %q, want %q", got, tt.want)
					break
				}
			}
		})
	}
}
