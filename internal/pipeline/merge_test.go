package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadFiles writes files (slash paths → content) into a temporary repository and loads
// .gitlab-ci.yml from it.
func loadFiles(t *testing.T, files map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Load(context.Background(), Options{Dir: dir, File: DefaultFile})
}

// parseOne parses a one-document YAML source.
func parseOne(t *testing.T, src string) *Node {
	t.Helper()
	docs, _, err := Parse("t.yml", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	if len(docs) != 1 {
		t.Fatalf("Parse(%q): %d documents", src, len(docs))
	}
	return docs[0]
}

func TestDeepMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		base, over string // "" is a nil node
		want       string
	}{
		{
			name: "nil base",
			over: "a: 1",
			want: "a: 1",
		},
		{
			name: "nil over",
			base: "a: 1",
			want: "a: 1",
		},
		{
			name: "disjoint keys: base order, then new keys",
			base: "b: 1\na: 2",
			over: "d: 3\nc: 4",
			want: lines("b: 1", "a: 2", "d: 3", "c: 4"),
		},
		{
			name: "scalar replaced in place",
			base: "image: alpine\nstage: build\nscript: make",
			over: "stage: test",
			want: lines("image: alpine", "stage: test", "script: make"),
		},
		{
			name: "hashes merge recursively",
			base: "variables: {A: a, B: b}\ncache: {key: k, paths: [x]}",
			over: "variables: {B: bb, C: c}\ncache: {policy: pull}",
			want: lines(
				"variables:", "    A: a", "    B: bb", "    C: c",
				"cache:", "    key: k", "    paths:", "        - x", "    policy: pull",
			),
		},
		{
			name: "three levels of hashes",
			base: "artifacts: {reports: {junit: a.xml, coverage_report: {coverage_format: cobertura, path: c.xml}}}",
			over: "artifacts: {reports: {coverage_report: {path: d.xml}}}",
			want: lines(
				"artifacts:", "    reports:", "        junit: a.xml", "        coverage_report:",
				"            coverage_format: cobertura", "            path: d.xml",
			),
		},
		{
			name: "arrays replace, never concatenate",
			base: "script: [a, b]\ntags: [docker, linux]",
			over: "script: [c]",
			want: lines("script:", "    - c", "tags:", "    - docker", "    - linux"),
		},
		{
			name: "rules replace as a whole",
			base: "rules: [{if: $A}, {when: manual}]",
			over: "rules: [{if: $B}]",
			want: lines("rules:", "    - if: $B"),
		},
		{
			name: "hash replaced by a scalar",
			base: "image: {name: alpine, entrypoint: ['']}",
			over: "image: debian",
			want: "image: debian",
		},
		{
			name: "scalar replaced by a hash",
			base: "environment: production",
			over: "environment: {name: production, url: https://example.com}",
			want: lines("environment:", "    name: production", "    url: https://example.com"),
		},
		{
			name: "array replaced by a hash",
			base: "cache: [{key: a}, {key: b}]",
			over: "cache: {key: c}",
			want: lines("cache:", "    key: c"),
		},
		{
			name: "null replaces a hash",
			base: "variables: {A: a}\nscript: x",
			over: "variables: null",
			want: lines("variables: null", "script: x"),
		},
		{
			name: "empty hash merges to the base hash",
			base: "variables: {A: a}",
			over: "variables: {}",
			want: lines("variables:", "    A: a"),
		},
		{
			name: "top-level scalar over a hash",
			base: "a: 1",
			over: "just text",
			want: "just text",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var base, over *Node
			if tt.base != "" {
				base = parseOne(t, tt.base)
			}
			if tt.over != "" {
				over = parseOne(t, tt.over)
			}
			var before []string
			for _, n := range []*Node{base, over} {
				if n != nil {
					before = append(before, render(t, n))
				}
			}
			got := deepMerge(base, over)
			if s := render(t, got); s != tt.want {
				t.Errorf("got\n%s\nwant\n%s", s, tt.want)
			}
			var after []string
			for _, n := range []*Node{base, over} {
				if n != nil {
					after = append(after, render(t, n))
				}
			}
			if strings.Join(before, "\n---\n") != strings.Join(after, "\n---\n") {
				t.Error("deepMerge changed an input")
			}
		})
	}
}

// extendsChain is a pipeline where job extends .e1, .e1 extends .e2, …, .e<hops-1> extends
// .e<hops>, which has the script.
func extendsChain(hops int) string {
	var b strings.Builder
	b.WriteString("job:\n  extends: .e1\n")
	for i := 1; i <= hops; i++ {
		fmt.Fprintf(&b, ".e%d:\n  variables:\n    LEVEL%d: \"%d\"\n", i, i, i)
		if i < hops {
			fmt.Fprintf(&b, "  extends: .e%d\n", i+1)
		} else {
			b.WriteString("  script: echo deep\n")
		}
	}
	return b.String()
}

func TestExtends(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		job  string
		// want is the job's expanded configuration, as YAML.
		want string
		// err, when set, is the expected error text (all errors, one a line).
		err string
	}{
		{
			name: "one level",
			src: lines(
				".tests:",
				"  stage: test",
				"  image: golang:1.26",
				"  script: go test ./...",
				"unit:",
				"  extends: .tests",
				"  variables: {GOFLAGS: -race}",
			),
			job:  "unit",
			want: lines("stage: test", "image: golang:1.26", "script: go test ./...", "variables:", "    GOFLAGS: -race"),
		},
		{
			name: "extends as a one-element list",
			src:  ".t:\n  script: make\njob:\n  extends: [.t]\n",
			job:  "job",
			want: "script: make",
		},
		{
			name: "three levels, nearest wins",
			src: lines(
				".base:",
				"  image: alpine",
				"  retry: 2",
				"  variables: {A: base, B: base, C: base}",
				".mid:",
				"  extends: .base",
				"  retry: 1",
				"  variables: {B: mid}",
				"job:",
				"  extends: .mid",
				"  variables: {C: job}",
				"  script: env",
			),
			job: "job",
			want: lines(
				"image: alpine", "retry: 1",
				"variables:", "    A: base", "    B: mid", "    C: job",
				"script: env",
			),
		},
		{
			name: "multiple parents: the last listed wins, the job wins over all",
			src: lines(
				".docker:",
				"  image: docker:27",
				"  services: [docker:27-dind]",
				"  variables: {DOCKER_TLS_CERTDIR: /certs, FROM: docker}",
				".cache:",
				"  image: alpine",
				"  cache: {key: deps, paths: [.cache]}",
				"  variables: {FROM: cache}",
				"build:",
				"  extends: [.docker, .cache]",
				"  script: docker build .",
				"  variables: {OWN: \"1\"}",
			),
			job: "build",
			want: lines(
				"image: alpine", "services:", "    - docker:27-dind",
				"variables:", "    DOCKER_TLS_CERTDIR: /certs", "    FROM: cache", "    OWN: \"1\"",
				"cache:", "    key: deps", "    paths:", "        - .cache",
				"script: docker build .",
			),
		},
		{
			name: "arrays replace: script, rules and tags are not concatenated",
			src: lines(
				".t:",
				"  script: [one, two]",
				"  tags: [docker]",
				"  rules: [{if: $CI_COMMIT_TAG}]",
				"job:",
				"  extends: .t",
				"  script: [three]",
				"  rules: [{when: manual}]",
			),
			job: "job",
			want: lines(
				"script:", "    - three", "tags:", "    - docker",
				"rules:", "    - when: manual",
			),
		},
		{
			name: "hashes merge at any depth",
			src: lines(
				".t:",
				"  script: make",
				"  artifacts:",
				"    paths: [bin/]",
				"    reports: {junit: report.xml}",
				"job:",
				"  extends: .t",
				"  artifacts:",
				"    expire_in: 1 week",
				"    reports: {dotenv: build.env}",
			),
			job: "job",
			want: lines(
				"script: make", "artifacts:", "    paths:", "        - bin/",
				"    reports:", "        junit: report.xml", "        dotenv: build.env",
				"    expire_in: 1 week",
			),
		},
		{
			name: "a parent used by two jobs is merged for each",
			src: lines(
				".t: {stage: test, script: make}",
				"a: {extends: .t, variables: {X: a}}",
				"b: {extends: .t, stage: deploy}",
			),
			job:  "b",
			want: lines("stage: deploy", "script: make"),
		},
		{
			name: "a visible job may be a parent",
			src:  "build:\n  stage: build\n  script: make\nbuild-arm:\n  extends: build\n  tags: [arm64]\n",
			job:  "build-arm",
			want: lines("stage: build", "script: make", "tags:", "    - arm64"),
		},
		{
			name: "a diamond merges the shared ancestor twice",
			src: lines(
				".root: {image: alpine, variables: {R: root}}",
				".left: {extends: .root, variables: {L: left}}",
				".right: {extends: .root, variables: {R: right}}",
				"job: {extends: [.left, .right], script: env}",
			),
			job:  "job",
			want: lines("image: alpine", "variables:", "    R: right", "    L: left", "script: env"),
		},
		{
			name: "parents see !reference resolved",
			src: lines(
				".setup:",
				"  before_script: [apt-get update]",
				".t:",
				"  before_script:",
				"    - !reference [.setup, before_script]",
				"    - make deps",
				"job:",
				"  extends: .t",
				"  script: make",
			),
			job:  "job",
			want: lines("before_script:", "    - - apt-get update", "    - make deps", "script: make"),
		},
		{
			name: "eleven levels are allowed",
			src:  extendsChain(11),
			job:  "job",
			want: func() string {
				var ls []string
				ls = append(ls, "variables:")
				for i := 11; i >= 1; i-- {
					ls = append(ls, fmt.Sprintf("    LEVEL%d: \"%d\"", i, i))
				}
				return lines(append(ls, "script: echo deep")...)
			}(),
		},
		{
			name: "twelve levels are too many",
			src:  extendsChain(12),
			err:  ".gitlab-ci.yml:46:12: job: extends nests more than 11 levels",
		},
		{
			name: "circular extends",
			src: lines(
				".a:",
				"  extends: .b",
				"  script: a",
				".b:",
				"  extends: .a",
				"job:",
				"  extends: .a",
			),
			err: ".gitlab-ci.yml:2:12: job: circular extends (job → .a → .b → .a)",
		},
		{
			name: "a job extending itself",
			src:  "job:\n  extends: job\n  script: x\n",
			err:  ".gitlab-ci.yml:2:12: job: circular extends (job → job)",
		},
		{
			name: "unknown parent",
			src:  "job:\n  extends: [.tmpl, .missing]\n  script: x\n.tmpl:\n  stage: test\n",
			err:  ".gitlab-ci.yml:2:12: job: unknown key in extends (.missing)",
		},
		{
			name: "parent is not a hash",
			src:  ".tmpl: [a]\njob:\n  extends: .tmpl\n  script: x\n",
			err:  ".gitlab-ci.yml:3:12: job: extends .tmpl, which is not a hash",
		},
		{
			name: "errors of several jobs are all reported",
			src: lines(
				"a:",
				"  extends: .nope",
				"  script: x",
				"b:",
				"  extends: .gone",
				"  script: y",
			),
			err: lines(
				".gitlab-ci.yml:2:12: a: unknown key in extends (.nope)",
				".gitlab-ci.yml:5:12: b: unknown key in extends (.gone)",
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadFiles(t, map[string]string{DefaultFile: tt.src})
			if tt.err != "" {
				if err == nil {
					t.Fatalf("no error, want\n%s", tt.err)
				}
				if err.Error() != tt.err {
					t.Errorf("error\n%v\nwant\n%s", err, tt.err)
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
			if j.Node.Has("extends") {
				t.Error("the expanded job still has extends")
			}
		})
	}
}

// A hidden job is a template only: extends never makes it a job.
func TestExtendsHiddenJobsAreNotJobs(t *testing.T) {
	t.Parallel()
	cfg, err := loadFiles(t, map[string]string{DefaultFile: lines(
		".a: {script: a}",
		".b: {extends: .a}",
		"c: {extends: .b}",
	)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	if strings.Join(names, ",") != "c" {
		t.Errorf("jobs %v, want [c]", names)
	}
}

// Errors from extends are pipeline.Errors with a position in the file.
func TestExtendsErrorType(t *testing.T) {
	t.Parallel()
	_, err := loadFiles(t, map[string]string{DefaultFile: "job:\n  extends: .x\n  script: y\n"})
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Pos.Line != 2 {
		t.Fatalf("error %#v, want one positioned Error", err)
	}
}
