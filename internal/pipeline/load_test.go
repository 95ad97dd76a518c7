package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIncludeStaysInRepository: no include may read a file outside Options.Dir, whatever its
// path says (the server loads configurations it does not trust).
func TestIncludeStaysInRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		include string
		skip    string
	}{
		{name: "local with ..", include: "include:\n  - local: ../secret.yml\n"},
		{name: "local with .. inside", include: "include:\n  - local: ci/../../secret.yml\n"},
		{name: "local glob with ..", include: "include:\n  - local: ../*.yml\n"},
		{name: "local absolute", include: "include:\n  - local: /../secret.yml\n"},
		{
			name:    "component with ..",
			include: "include:\n  - component: gitlab.com/group/project/../../secret@1.0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			root := t.TempDir()
			repo := filepath.Join(root, "repo")
			if err := os.MkdirAll(filepath.Join(repo, "templates"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "secret.yml"), []byte("stolen:\n  script: cat /etc/shadow\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(repo, DefaultFile), []byte(tt.include+"job:\n  script: x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(context.Background(), Options{Dir: repo, Project: "group/project", Server: "gitlab.com"})
			if err == nil {
				t.Fatalf("no error; files read: %v", cfg.Files)
			}
			checkLoadError(t, err)
		})
	}
}

// TestErrorsInIncludedFiles: an error in an included file names that file and, per
// Error.Chain, the files that included it.
func TestErrorsInIncludedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want string
		skip string
	}{
		{
			name: "syntax error",
			file: "job:\n  script: [x\n",
			want: "ci/jobs.yml:3:1: invalid YAML: did not find expected ',' or ']' (included from .gitlab-ci.yml)",
		},
		{
			name: "unknown key",
			file: "job:\n  script: x\n  scirpt: y\n",
			// At the unknown key itself, not at its job.
			want: "ci/jobs.yml:3:3: jobs:job config contains unknown keys: scirpt (included from .gitlab-ci.yml)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			_, err := loadFiles(t, map[string]string{
				DefaultFile:   "include: ci/jobs.yml\n",
				"ci/jobs.yml": tt.file,
			})
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

// TestLoadAliasBomb: a few hundred bytes of aliases must not expand into gigabytes when jobs
// are decoded. GitLab refuses such a file ("The parsed YAML is too big",
// Gitlab::Config::Loader::Yaml with Gitlab::Utils::DeepSize).
func TestLoadAliasBomb(t *testing.T) {
	t.Parallel()
	src := lines(
		"a: &a [x, x, x, x, x, x, x, x, x, x]",
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]",
		"job:",
		"  script: *g",
		"",
	)
	_, err := loadFiles(t, map[string]string{DefaultFile: src})
	var es Errors
	if !errors.As(err, &es) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("error %v, want the document refused as too large", err)
	}
}
