package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"testing/fstest"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/web"
)

// The CI lint page: a pasted .gitlab-ci.yml loaded and planned by the engine, as `slipway
// lint` and `slipway jobs` do (pipeline.Load, then plan.Compile without job variables), for
// a ref and a pipeline source the viewer chooses. The file is alone: local includes of other
// files, include:project, include:remote and include:template are errors that say so.

// lintSources are the choices of the lint page's source, and what each plans: a branch
// push, a tag push, a merge request pipeline, or a pipeline run from the web, a schedule or
// the API.
var lintSources = map[string]string{
	"push": plan.SourcePush, "tag": plan.SourcePush, "merge_request_event": plan.SourceMergeRequest,
	"web": plan.SourceWeb, "schedule": plan.SourceSchedule, "api": plan.SourceAPI,
}

// lintFile is the name the pasted file has in errors.
const lintFile = pipeline.DefaultFile

// lintFiles is the repository a pasted configuration is planned in: that file alone.
func lintFiles(yaml []byte) fs.FS {
	return fstest.MapFS{lintFile: &fstest.MapFile{Data: yaml, Mode: 0o644}}
}

// lintGet is the empty lint form.
func (s *Server) lintGet(w http.ResponseWriter, _ *http.Request, pc *pageCtx) error {
	return s.site.Render(w, http.StatusOK, web.Lint{Layout: pc.layout(), Ref: "main", Source: "push"})
}

// lintPost checks the posted configuration (yaml) for ref and source. A file larger than
// Limits.ConfigSize is refused as the server refuses it in a repository (413). A bug of the
// engine (a panic) is a 500 page naming the file and line it was reading.
func (s *Server) lintPost(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	page := web.Lint{
		Layout: pc.layout(), YAML: r.PostForm.Get("yaml"), Ref: strings.TrimSpace(r.PostForm.Get("ref")),
		Source: r.PostForm.Get("source"), Checked: true,
	}
	if page.Ref == "" {
		page.Ref = "main"
	}
	if _, ok := lintSources[page.Source]; !ok {
		page.Source = "push"
	}
	if size, limit := int64(len(page.YAML)), s.o.Limits.ConfigSize; size > limit {
		page.Errors = []string{fmt.Sprintf("%s: the file has %d bytes, more than the limit of %d (the server's --max-config-size)", lintFile, size, limit)}
		return s.site.Render(w, http.StatusRequestEntityTooLarge, page)
	}
	p, warnings, err := s.lint(r.Context(), s.lintFS([]byte(page.YAML)), page.Ref, page.Source)
	var errs pipeline.Errors
	switch {
	case errors.As(err, &errs):
		for _, e := range errs {
			page.Errors = append(page.Errors, e.Error())
		}
	case err != nil:
		return err
	}
	for _, e := range warnings {
		page.Warnings = append(page.Warnings, e.Error())
	}
	if p != nil {
		if !p.Created {
			page.Warnings = append(page.Warnings, "no pipeline would be created: "+p.Reason.Text)
		}
		for _, j := range p.Jobs {
			page.Jobs = append(page.Jobs, web.LintJob{Name: j.Name, Stage: j.Stage, When: j.When, Reason: j.Reason.Text, Where: j.Reason.Where})
		}
		for _, j := range p.Excluded {
			page.Excluded = append(page.Excluded, web.LintJob{Name: j.Name, Stage: j.Stage, When: j.When, Reason: j.Reason.Text, Where: j.Reason.Where})
		}
	}
	return s.site.Render(w, http.StatusOK, page)
}

// lint loads the configuration of files and plans it for a pipeline of ref from source (a
// key of lintSources), within the server's limits. Configuration errors are
// pipeline.Errors; a bug is a *pipeline.InternalError.
func (s *Server) lint(ctx context.Context, files fs.FS, ref, source string) (*plan.Plan, pipeline.Errors, error) {
	lim := s.o.Limits
	pc := plan.Context{
		Source: lintSources[source], Ref: ref, Tag: source == "tag", DefaultBranch: "main",
		SHA: strings.Repeat("0", 40), BeforeSHA: strings.Repeat("0", 40),
		Project: plan.Project{Path: "lint/project"}, Server: plan.Server{URL: s.URL()},
		Exists: func(glob string) bool {
			m, err := fs.Glob(files, strings.TrimPrefix(glob, "/"))
			return err == nil && len(m) > 0
		},
		SkipJobVariables: true, MaxJobs: lim.Jobs, MaxVariableSize: lim.VariableSize,
	}
	if pc.Source == plan.SourceMergeRequest {
		pc.MergeRequest = &plan.MergeRequest{IID: 1, ID: 1, SourceBranch: ref, TargetBranch: pc.DefaultBranch}
	}
	opts := pipeline.Options{
		FS: files, File: lintFile, Project: pc.Project.Path, Server: s.host(), SHA: pc.SHA, Rules: plan.RuleEnv(pc),
		ProjectFile: func(context.Context, string, string, string) ([]byte, error) {
			return nil, errors.New("the lint page checks one file: include:project is read when a project's pipeline is made")
		},
		MaxFileSize: lim.ConfigSize, MaxDepth: lim.ConfigDepth, MaxIncludes: lim.Includes,
		MaxJobs: lim.Jobs, MaxVariableSize: lim.VariableSize,
	}
	cfg, err := pipeline.Load(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	pc.LoadChild = func(files []string) (*pipeline.Config, error) {
		child := opts
		child.Child = files
		return pipeline.Load(ctx, child)
	}
	p, err := plan.Compile(cfg, pc)
	if err != nil {
		return nil, cfg.Warnings, err
	}
	return p, cfg.Warnings, nil
}
