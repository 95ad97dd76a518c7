package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, content := range files {
		m[name] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	return m
}

func jobNames(cfg *Config) []string {
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	return names
}

// TestLoadFS: a configuration read through Options.FS loads as the same files on disk do,
// errors included.
func TestLoadFS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		files     map[string]string
		wantJobs  []string
		wantFiles []string
		wantErr   string
	}{
		{
			name: "local and glob includes",
			files: map[string]string{
				DefaultFile:             "include:\n  - local: /ci/base.yml\n  - ci/jobs/*.yml\n  - local: 'ci/**/deep.yaml'\nroot: {script: x}\n",
				"ci/base.yml":           "include: ci/nested.yml\nbase: {script: x}\n",
				"ci/nested.yml":         "nested: {script: x}\n",
				"ci/jobs/a.yml":         "a: {script: x}\n",
				"ci/jobs/b.yml":         "b: {script: x}\n",
				"ci/jobs/sub/c.yml":     "c: {script: x}\n", // * does not cross a slash
				"ci/x/y/deep.yaml":      "deep: {script: x}\n",
				".git/ci/x/deep.yaml":   "git: {script: x}\n", // never matched
				".slipway/x/deep.yaml":  "slipway: {script: x}\n",
				"templates/unused.yml":  "unused: {script: x}\n",
				"ci/jobs/not-yaml.json": "{}",
			},
			wantJobs:  []string{"nested", "base", "a", "b", "deep", "root"},
			wantFiles: []string{DefaultFile, "ci/base.yml", "ci/nested.yml", "ci/jobs/a.yml", "ci/jobs/b.yml", "ci/x/y/deep.yaml"},
		},
		{
			name: "component of this project",
			files: map[string]string{
				DefaultFile:               "include:\n  - component: gitlab.com/group/project/build@1.0\n    inputs: {stage: test}\n",
				"templates/build.yml":     "spec:\n  inputs:\n    stage:\n---\nbuild-$[[ inputs.stage ]]: {script: x}\n",
				"templates/other/x.yml":   "x: {script: x}\n",
				"templates/build/nope.md": "",
			},
			wantJobs:  []string{"build-test"},
			wantFiles: []string{DefaultFile, "templates/build.yml"},
		},
		{
			name:    "missing include",
			files:   map[string]string{DefaultFile: "include: ci/missing.yml\nroot: {script: x}\n"},
			wantErr: `.gitlab-ci.yml:1:10: include:local "ci/missing.yml": file not found`,
		},
		{
			name:    "glob without match",
			files:   map[string]string{DefaultFile: "include: 'ci/*.yml'\nroot: {script: x}\n"},
			wantErr: `.gitlab-ci.yml:1:10: include:local "ci/*.yml": no file matches`,
		},
		{
			name: "invalid included file",
			files: map[string]string{
				DefaultFile:   "include: ci/bad.yml\n",
				"ci/bad.yml":  "job:\n  script: [x\n",
				"ci/good.yml": "",
			},
			wantErr: "ci/bad.yml:3:1: invalid YAML: did not find expected ',' or ']' (included from .gitlab-ci.yml)",
		},
		{
			name:    "missing root file",
			files:   map[string]string{"other.yml": ""},
			wantErr: ".gitlab-ci.yml: file not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{FS: mapFS(tt.files), Dir: "/nonexistent", Project: "group/project", Server: "gitlab.com"}
			cfg, err := Load(context.Background(), opts)
			diskCfg, diskErr := loadFilesOpts(t, tt.files, Options{Project: "group/project", Server: "gitlab.com"})
			if fmt.Sprint(err) != fmt.Sprint(diskErr) {
				t.Errorf("from FS: %v\nfrom disk: %v", err, diskErr)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error %v; want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jobNames(cfg); !slices.Equal(got, tt.wantJobs) || !slices.Equal(got, jobNames(diskCfg)) {
				t.Errorf("jobs %q (from disk %q); want %q", got, jobNames(diskCfg), tt.wantJobs)
			}
			if !slices.Equal(cfg.Files, tt.wantFiles) || !slices.Equal(cfg.Files, diskCfg.Files) {
				t.Errorf("files %q (from disk %q); want %q", cfg.Files, diskCfg.Files, tt.wantFiles)
			}
		})
	}
}

// loadFilesOpts writes files to a directory and loads them from there with opts.
func loadFilesOpts(t *testing.T, files map[string]string, opts Options) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	opts.Dir = dir
	return Load(context.Background(), opts)
}

// fakeProjects serves project files from a map keyed "project@ref:file" and records the reads.
type fakeProjects struct {
	files map[string]string
	reads []string
}

func (f *fakeProjects) read(_ context.Context, project, ref, file string) ([]byte, error) {
	key := project + "@" + ref + ":" + file
	f.reads = append(f.reads, key)
	if project == "broken/project" {
		return nil, errors.New("mirror unavailable")
	}
	data, ok := f.files[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return []byte(data), nil
}

func TestIncludeProject(t *testing.T) {
	t.Parallel()
	lib := map[string]string{
		"group/lib@:ci/build.yml":       "include: ci/common.yml\nbuild: {extends: .common}\n",
		"group/lib@:ci/common.yml":      ".common: {script: from-lib}\n",
		"group/lib@v1:ci/build.yml":     "include:\n  - local: /ci/common.yml\nbuild-v1: {extends: .common}\n",
		"group/lib@v1:ci/common.yml":    ".common: {script: from-lib-v1}\n",
		"group/lib@:ci/test.yaml":       "test: {script: t}\n",
		"group/lib@:ci/other.yml":       "include: {project: group/other, file: jobs.yml}\n",
		"group/other@:jobs.yml":         "other: {script: o}\n",
		"group/lib@:ci/glob.yml":        "include: 'ci/*.yml'\n",
		"group/lib@:ci/loop.yml":        "include: ci/loop.yml\n",
		"group/lib@:ci/bad.yml":         "bad: {script: [x}\n",
		"group/lib@main:ci/rooted.yml":  "include: {component: gitlab.com/group/project/tpl@1}\n",
		"group/lib@main:ci/vars.yml":    "vars: {script: v}\n",
		"group/lib@:ci/uses-local.yml":  "include: ci/local.yml\n",
		"group/lib@:ci/local.yml":       "lib-local: {script: lib}\n",
		"group/lib@:ci/parent/dots.yml": "include: ../common.yml\n",
	}
	tests := []struct {
		name      string
		ci        string
		repo      map[string]string // the repository's other files
		wantJobs  []string
		wantFiles []string
		wantErr   string
	}{
		{
			name:      "file as a string, nested local include from the same project",
			ci:        "include:\n  - project: group/lib\n    file: ci/build.yml\n",
			wantJobs:  []string{"build"},
			wantFiles: []string{DefaultFile, "group/lib:ci/build.yml", "group/lib:ci/common.yml"},
		},
		{
			name:      "files as a list, at a ref",
			ci:        "include:\n  - project: group/lib\n    ref: v1\n    file: [/ci/build.yml]\n  - project: group/lib\n    file:\n      - ci/test.yaml\n",
			wantJobs:  []string{"build-v1", "test"},
			wantFiles: []string{DefaultFile, "group/lib@v1:ci/build.yml", "group/lib@v1:ci/common.yml", "group/lib:ci/test.yaml"},
		},
		{
			name:     "a local include in a project file is that project's file, not the repository's",
			ci:       "include: {project: group/lib, file: ci/uses-local.yml}\n",
			repo:     map[string]string{"ci/local.yml": "repo-local: {script: repo}\n"},
			wantJobs: []string{"lib-local"},
		},
		{
			name:     "project includes another project",
			ci:       "include: {project: group/lib, file: ci/other.yml}\n",
			wantJobs: []string{"other"},
		},
		{
			name:     "variables in project, ref and file",
			ci:       "include: {project: $LIB, ref: $REF, file: ci/$NAME.yml}\n",
			wantJobs: []string{"vars"},
		},
		{
			name:     "a component in a project file is this repository's",
			ci:       "include: {project: group/lib, ref: main, file: ci/rooted.yml}\n",
			repo:     map[string]string{"templates/tpl.yml": "tpl: {script: x}\n", "ci/common.yml": "x: {script: no}\n"},
			wantJobs: []string{"tpl"},
		},
		{
			name:    "missing file",
			ci:      "job: {script: x}\ninclude:\n  - project: group/lib\n    file: ci/missing.yml\n",
			wantErr: `.gitlab-ci.yml:3:5: include:project "group/lib" file "ci/missing.yml": file not found`,
		},
		{
			name:    "ProjectFile fails",
			ci:      "include:\n  - project: broken/project\n    file: a.yml\n",
			wantErr: `.gitlab-ci.yml:2:5: include:project "broken/project" file "a.yml": cannot read file: mirror unavailable`,
		},
		{
			name:    "no file",
			ci:      "include:\n  - project: group/lib\n",
			wantErr: `.gitlab-ci.yml:2:5: include:project "group/lib": file is required`,
		},
		{
			name:    "not yaml",
			ci:      "include: {project: group/lib, file: ci/build.json}\n",
			wantErr: `.gitlab-ci.yml:1:10: include:project "group/lib" file "ci/build.json": the file must end in .yml or .yaml`,
		},
		{
			name:    "error in a project file",
			ci:      "include: {project: group/lib, file: ci/bad.yml}\n",
			wantErr: `group/lib:ci/bad.yml:1:17: invalid YAML: did not find expected ',' or ']' (included from .gitlab-ci.yml)`,
		},
		{
			name:    "glob in a project file",
			ci:      "include: {project: group/lib, file: ci/glob.yml}\n",
			wantErr: `group/lib:ci/glob.yml:1:10: include:local "ci/*.yml": wildcards are not supported in a file of project "group/lib", whose files cannot be listed (included from .gitlab-ci.yml)`,
		},
		{
			name:    "dot dot in a project file",
			ci:      "include: {project: group/lib, file: ci/parent/dots.yml}\n",
			wantErr: `group/lib:ci/parent/dots.yml:1:10: include:local "../common.yml": directory traversal (..) is not supported (included from .gitlab-ci.yml)`,
		},
		{
			name:    "circular",
			ci:      "include: {project: group/lib, file: ci/loop.yml}\n",
			wantErr: `group/lib:ci/loop.yml:1:10: include "group/lib:ci/loop.yml": circular include (.gitlab-ci.yml → group/lib:ci/loop.yml → group/lib:ci/loop.yml) (included from .gitlab-ci.yml)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{DefaultFile: tt.ci}
			for k, v := range tt.repo {
				files[k] = v
			}
			projects := &fakeProjects{files: lib}
			vars := map[string]string{"LIB": "group/lib", "REF": "main", "NAME": "vars"}
			cfg, err := Load(context.Background(), Options{
				FS:          mapFS(files),
				ProjectFile: projects.read,
				Project:     "group/project", Server: "gitlab.com",
				Rules: &RuleEnv{Vars: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }},
			})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error\n%v\nwant\n%s", err, tt.wantErr)
				}
				checkLoadError(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jobNames(cfg); !slices.Equal(got, tt.wantJobs) {
				t.Errorf("jobs %q; want %q (reads %q)", got, tt.wantJobs, projects.reads)
			}
			if tt.wantFiles != nil && !slices.Equal(cfg.Files, tt.wantFiles) {
				t.Errorf("files %q; want %q", cfg.Files, tt.wantFiles)
			}
		})
	}
}

// TestIncludeProjectWithoutReader: without Options.ProjectFile, include:project is the error
// it always was.
func TestIncludeProjectWithoutReader(t *testing.T) {
	t.Parallel()
	_, err := Load(context.Background(), Options{FS: mapFS(map[string]string{
		DefaultFile: "include:\n  - project: group/lib\n    file: ci/build.yml\n",
	})})
	want := ".gitlab-ci.yml:2:5: include:project \"group/lib\": projects are resolved by `slipway server`; a local run cannot read another project"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v; want %s", err, want)
	}
}

// writeFiles writes files (slash path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeComponents serves component files from a map keyed "project@version:file"; every version
// resolves to the commit "sha-" + version.
type fakeComponents struct{ files map[string]string }

func (f fakeComponents) read(_ context.Context, project, version, file string) ([]byte, string, error) {
	if project == "broken/components" {
		return nil, "", errors.New("catalog unavailable")
	}
	data, ok := f.files[project+"@"+version+":"+file]
	if !ok {
		return nil, "", fs.ErrNotExist
	}
	return []byte(data), "sha-" + version, nil
}

// TestIncludeComponentOfAnotherProject: with Options.ComponentFile, SERVER/PROJECT/NAME@VERSION
// reads templates/NAME.yml or templates/NAME/template.yml of PROJECT (all but the last element
// of the path, as GitLab's Components::InstancePath splits it); the file's own local includes
// are files of that project at the commit the version resolved to; components of another
// instance stay an error.
func TestIncludeComponentOfAnotherProject(t *testing.T) {
	t.Parallel()
	comps := fakeComponents{files: map[string]string{
		"group/sub/comps@1.2:templates/lint.yml":             "spec:\n  inputs:\n    stage: {default: test}\n---\nlint-$[[ component.name ]]:\n  stage: $[[ inputs.stage ]]\n  script:\n    - echo $[[ component.sha ]] $[[ component.version ]]\n",
		"group/sub/comps@main:templates/deploy/template.yml": "include: ci/common.yml\ndeploy: {extends: .common}\n",
		"group/sub/comps@~latest:templates/lint.yml":         "lint-latest: {script: x}\n",
	}}
	projects := map[string]string{"group/sub/comps@sha-main:ci/common.yml": ".common: {script: common}\n"}
	tests := []struct {
		name     string
		ci       string
		wantJobs []string
		wantErr  string
	}{
		{
			name:     "NAME.yml, inputs and component context",
			ci:       "include:\n  - component: gitlab.example.com/group/sub/comps/lint@1.2\n",
			wantJobs: []string{"lint-lint"},
		},
		{
			name:     "NAME/template.yml with a local include of the component's project",
			ci:       "include:\n  - component: gitlab.example.com/group/sub/comps/deploy@main\n",
			wantJobs: []string{"deploy"},
		},
		{
			name:     "~latest is passed on for the catalog to resolve",
			ci:       "include:\n  - component: $CI_SERVER_FQDN/group/sub/comps/lint@~latest\n",
			wantJobs: []string{"lint-latest"},
		},
		{
			name:    "no such component",
			ci:      "include:\n  - component: gitlab.example.com/group/sub/comps/missing@1.2\n",
			wantErr: `.gitlab-ci.yml:2:5: include:component "gitlab.example.com/group/sub/comps/missing@1.2": project "group/sub/comps" has neither templates/missing.yml nor templates/missing/template.yml at 1.2`,
		},
		{
			name:    "the reader fails",
			ci:      "include:\n  - component: gitlab.example.com/broken/components/x@1\n",
			wantErr: `.gitlab-ci.yml:2:5: include:component "gitlab.example.com/broken/components/x@1": cannot read file: catalog unavailable`,
		},
		{
			name:    "another instance",
			ci:      "include:\n  - component: gitlab.com/components/sast/sast@1.0\n",
			wantErr: `.gitlab-ci.yml:2:5: include:component "gitlab.com/components/sast/sast@1.0": only components of this project (gitlab.example.com/team/app/…) can be read offline; the CI/CD catalog is not reachable`,
		},
		{
			name:    "no project",
			ci:      "include:\n  - component: gitlab.example.com/lint@1.0\n",
			wantErr: `.gitlab-ci.yml:2:5: include:component "gitlab.example.com/lint@1.0": not a component address (SERVER/PROJECT/NAME@VERSION)`,
		},
		{
			name:    "no version",
			ci:      "include:\n  - component: gitlab.example.com/group/sub/comps/lint\n",
			wantErr: `.gitlab-ci.yml:2:5: include:component "gitlab.example.com/group/sub/comps/lint": the version is missing (NAME@VERSION)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"CI_SERVER_FQDN": "gitlab.example.com"}
			cfg, err := Load(context.Background(), Options{
				FS:            mapFS(map[string]string{DefaultFile: tt.ci}),
				ProjectFile:   (&fakeProjects{files: projects}).read,
				ComponentFile: comps.read,
				Project:       "team/app", Server: "gitlab.example.com",
				Rules: &RuleEnv{Vars: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }},
			})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error\n%v\nwant\n%s", err, tt.wantErr)
				}
				checkLoadError(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jobNames(cfg); !slices.Equal(got, tt.wantJobs) {
				t.Errorf("jobs %q; want %q", got, tt.wantJobs)
			}
			if j := cfg.Job("lint-lint"); j != nil {
				if j.Stage != "test" || !slices.Equal(j.Script, []string{"echo sha-1.2 1.2"}) {
					t.Errorf("lint-lint: stage %q, script %q; want test, [echo sha-1.2 1.2]", j.Stage, j.Script)
				}
			}
			if j := cfg.Job("deploy"); j != nil && !slices.Equal(j.Script, []string{"common"}) {
				t.Errorf("deploy: script %q; want the component project's ci/common.yml", j.Script)
			}
		})
	}
}

// TestIncludeTemplate: with Options.Template, include:template reads GitLab's template by its
// name, which must end in .gitlab-ci.yml as GitLab's File::Template requires; without it the
// include is the error it always was.
func TestIncludeTemplate(t *testing.T) {
	t.Parallel()
	templates := map[string]string{
		"Security/SAST.gitlab-ci.yml":    "include:\n  - template: Jobs/SAST.gitlab-ci.yml\nsast: {script: x, stage: test}\n",
		"Jobs/SAST.gitlab-ci.yml":        "semgrep-sast: {extends: sast}\n",
		"Workflows/Loop.gitlab-ci.yml":   "include: {template: Workflows/Loop.gitlab-ci.yml}\n",
		"Broken/Template.gitlab-ci.yml":  "broken: [\n",
		"Workflows/Branch.gitlab-ci.yml": "workflow:\n  rules:\n    - if: $CI_COMMIT_BRANCH\n",
	}
	read := func(_ context.Context, name string) ([]byte, error) {
		data, ok := templates[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(data), nil
	}
	tests := []struct {
		name      string
		ci        string
		noReader  bool
		wantJobs  []string
		wantFiles []string
		wantErr   string
	}{
		{
			name:      "a template including another",
			ci:        "include:\n  - template: Security/SAST.gitlab-ci.yml\n",
			wantJobs:  []string{"semgrep-sast", "sast"},
			wantFiles: []string{DefaultFile, "template:Security/SAST.gitlab-ci.yml", "template:Jobs/SAST.gitlab-ci.yml"},
		},
		{
			name:     "workflow of a template",
			ci:       "include: {template: Workflows/Branch.gitlab-ci.yml}\njob: {script: x}\n",
			wantJobs: []string{"job"},
		},
		{
			name:    "unknown template",
			ci:      "include:\n  - template: Nope.gitlab-ci.yml\n",
			wantErr: `.gitlab-ci.yml:2:5: include:template "Nope.gitlab-ci.yml": file not found`,
		},
		{
			name:    "not a template name",
			ci:      "include:\n  - template: Security/SAST.yml\n",
			wantErr: `.gitlab-ci.yml:2:5: include:template "Security/SAST.yml": not a template: a template's name ends in .gitlab-ci.yml`,
		},
		{
			name:    "circular",
			ci:      "include: {template: Workflows/Loop.gitlab-ci.yml}\n",
			wantErr: `template:Workflows/Loop.gitlab-ci.yml:1:10: include "template:Workflows/Loop.gitlab-ci.yml": circular include (.gitlab-ci.yml → template:Workflows/Loop.gitlab-ci.yml → template:Workflows/Loop.gitlab-ci.yml) (included from .gitlab-ci.yml)`,
		},
		{
			name:    "invalid template",
			ci:      "include: {template: Broken/Template.gitlab-ci.yml}\n",
			wantErr: `template:Broken/Template.gitlab-ci.yml:2:1: invalid YAML: did not find expected node content (included from .gitlab-ci.yml)`,
		},
		{
			name:     "no reader",
			ci:       "include:\n  - template: Security/SAST.gitlab-ci.yml\n",
			noReader: true,
			wantErr:  `.gitlab-ci.yml:2:5: include:template "Security/SAST.gitlab-ci.yml": GitLab's templates are not available offline; copy the template into the repository and include it with include:local`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{FS: mapFS(map[string]string{DefaultFile: tt.ci}), Template: read}
			if tt.noReader {
				opts.Template = nil
			}
			cfg, err := Load(context.Background(), opts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error\n%v\nwant\n%s", err, tt.wantErr)
				}
				checkLoadError(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jobNames(cfg); !slices.Equal(got, tt.wantJobs) {
				t.Errorf("jobs %q; want %q", got, tt.wantJobs)
			}
			if tt.wantFiles != nil && !slices.Equal(cfg.Files, tt.wantFiles) {
				t.Errorf("files %q; want %q", cfg.Files, tt.wantFiles)
			}
		})
	}
}
