package pipeline

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestExtendsBeforeReference follows the order in which GitLab builds a configuration:
// includes, then extends, then !reference tags (lib/gitlab/ci/config.rb,
// Gitlab::Ci::Config#build_config: Config::External::Processor, Config::Extendable,
// Config::Yaml::Tags::Resolver). A reference therefore reads an entry with its extends merged
// (Tags::Reference#config_at_location digs the extended hash), and extends merges an
// unresolved tag as an opaque value: a hash beside it replaces it whole, it is never merged
// key by key (ActiveSupport's deep_merge only merges two hashes; gitlab-org/gitlab#383802).
func TestExtendsBeforeReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		job  string
		want string // the job's expanded configuration, as YAML
		err  string // or the expected error, all of it
	}{
		{
			// gromacs: a reference to a key the hidden job only has through extends.
			name: "a reference reads a key that only extends provides",
			src: lines(
				".base:",
				"  before_script: [module load impi]",
				".use-impi:",
				"  extends: .base",
				"job:",
				"  before_script:",
				"    - !reference [.use-impi, before_script]",
				"    - echo more",
				"  script: make",
			),
			job:  "job",
			want: lines("before_script:", "    - - module load impi", "    - echo more", "script: make"),
		},
		{
			// The shape that crashed the engine: variables read from such a job.
			name: "variables read through extends",
			src: lines(
				".a:",
				"  variables: {FOO: foo}",
				".b:",
				"  extends: .a",
				"job:",
				"  variables: !reference [.b, variables]",
				"  script: echo",
			),
			job:  "job",
			want: lines("variables:", "    FOO: foo", "script: echo"),
		},
		{
			// gitlab-ci-local's reference/gitlab-ci-complex: the parent holds the reference,
			// the entry read extends it.
			name: "a reference to an entry whose parent holds a reference",
			src: lines(
				".default-variables:",
				"  variables: {FOO: foo}",
				".variables-wrapper:",
				"  variables: !reference [.default-variables, variables]",
				".variables:",
				"  extends: .variables-wrapper",
				"job:",
				"  variables: !reference [.variables, variables]",
				"  script: [echo $FOO]",
			),
			job:  "job",
			want: lines("variables:", "    FOO: foo", "script:", "    - echo $FOO"),
		},
		{
			// gitlab-org/gitlab#383802: the job's reference replaces the extended hash.
			name: "a job's reference replaces the variables it extends",
			src: lines(
				".vars-1:",
				"  variables: {VAR_1: one}",
				".vars-2:",
				"  variables: {VAR_2: two}",
				"job:",
				"  extends: .vars-1",
				"  variables: !reference [.vars-2, variables]",
				"  script: env",
			),
			job:  "job",
			want: lines("variables:", "    VAR_2: two", "script: env"),
		},
		{
			// gitlab-ci-local's reference/gitlab-ci-1: the job's hash replaces the
			// parent's reference.
			name: "a job's hash replaces the reference it extends",
			src: lines(
				".some:",
				"  variables: {HESTHEST: ponypony}",
				".something:",
				"  variables: !reference [.some, variables]",
				"job:",
				"  extends: [.something]",
				"  variables: {NICENESS: byrdalos}",
				"  script: env",
			),
			job:  "job",
			want: lines("variables:", "    NICENESS: byrdalos", "script: env"),
		},
		{
			name: "a job that is a reference to an extended hidden job",
			src: lines(
				".t:",
				"  stage: build",
				"  script: make",
				".u:",
				"  extends: .t",
				"  tags: [docker]",
				"job: !reference [.u]",
			),
			job:  "job",
			want: lines("stage: build", "script: make", "tags:", "    - docker"),
		},
		{
			name: "a reference inherited through extends is resolved in each job",
			src: lines(
				".setup:",
				"  script: [apt-get update]",
				".t:",
				"  script:",
				"    - !reference [.setup, script]",
				"    - make",
				"a:",
				"  extends: .t",
				"b:",
				"  extends: .t",
				"  script: [only b]",
			),
			job:  "a",
			want: lines("script:", "    - - apt-get update", "    - make"),
		},
		{
			name: "a key found nowhere, even after extends",
			src: lines(
				".a:",
				"  variables: {FOO: foo}",
				".b:",
				"  extends: .a",
				"job:",
				"  variables: !reference [.b, nope]",
				"  script: echo",
			),
			err: `.gitlab-ci.yml:6:14: !reference [.b, nope]: "nope" not found in .b`,
		},
		{
			name: "a variable that is a reference found nowhere",
			src: lines(
				".b:",
				"  variables: {FOO: foo}",
				"job:",
				"  variables:",
				"    X: !reference [.b, variables, MISSING]",
				"  script: echo",
			),
			err: `.gitlab-ci.yml:5:8: !reference [.b, variables, MISSING]: "MISSING" not found in .b.variables`,
		},
		{
			// Tags::Reference#config_at_location: Hash#dig does not look through a tag.
			name: "a reference does not look through another reference",
			src: lines(
				".a:",
				"  script: [x, y]",
				".b:",
				"  script: !reference [.a, script]",
				"job:",
				"  script: !reference [.b, script, 0]",
			),
			err: `.gitlab-ci.yml:6:11: !reference [.b, script, 0]: "0" not found in .b.script`,
		},
		{
			name: "a cycle through extends and a reference",
			src: lines(
				".a:",
				"  extends: .b",
				".b:",
				"  script: !reference [.a, script]",
				"job:",
				"  extends: .a",
			),
			err: lines(
				`.gitlab-ci.yml:4:11: !reference [.a, script]: circular reference (.a.script → .a.script)`,
			),
		},
		{
			// Config::Extendable extends every entry, hidden ones too.
			name: "a broken extends in a hidden job is an error",
			src: lines(
				".t:",
				"  extends: .missing",
				"job:",
				"  script: echo",
			),
			err: ".gitlab-ci.yml:2:12: .t: unknown key in extends (.missing)",
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
			j := cfg.Job(tt.job)
			if j == nil {
				t.Fatalf("no job %q", tt.job)
			}
			if got := render(t, j.Node); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestExtendsDepthFromEveryEntry: a chain of extends that an earlier job went through (and
// that was remembered) is too deep from a job that reaches it one level further down.
// GitLab counts an entry's ancestors from each job (Extendable::Entry#ancestors,
// MAX_NESTING_LEVELS).
func TestExtendsDepthFromEveryEntry(t *testing.T) {
	t.Parallel()
	src := extendsChain(11) + "deeper:\n  extends: .x\n.x:\n  extends: job\n"
	_, err := loadFiles(t, map[string]string{DefaultFile: src})
	if err == nil || !strings.Contains(err.Error(), "deeper: extends nests more than 11 levels") {
		t.Fatalf("error %v, want deeper: extends nests more than 11 levels", err)
	}
}

// TestRealworldExtendsBeforeReference loads the corpus configuration that showed the order:
// gromacs reads before_script of hidden jobs that get it through extends.
func TestRealworldExtendsBeforeReference(t *testing.T) {
	t.Parallel()
	dir := "testdata/realworld/gromacs__gromacs"
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(context.Background(), Options{FS: os.DirFS(dir)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(cfg.Jobs) == 0 {
		t.Fatal("no jobs")
	}
}
