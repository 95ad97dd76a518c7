package pipeline

import (
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/expr"
)

// projectSource is another project at a ref, as include:project names it.
type projectSource struct {
	project, ref string
}

// fileName is how errors and Config.Files name file of the project: "group/lib:ci/a.yml", or
// "group/lib@v1:ci/a.yml" at a ref. It cannot collide with a path of the repository, which
// keeps circular-include detection per project.
func (p *projectSource) fileName(file string) string {
	if p.ref == "" {
		return p.project + ":" + file
	}
	return p.project + "@" + p.ref + ":" + file
}

// includeProject reads the files of an include:project through Options.ProjectFile, in order,
// and merges them.
//
// A project file's own includes resolve as GitLab resolves them: include:local (and a plain
// string) names a file of that same project at that same ref, read through ProjectFile too;
// include:project, include:remote and include:template mean what they mean anywhere, and
// include:component reads this repository's components as always. A local include with
// wildcards is an error in a project file, since ProjectFile cannot list files.
func (l *loader) includeProject(r includeRef, project string, chain []string) *Node {
	if l.opts.ProjectFile == nil {
		l.d.errorf(r.node.Pos, "include:project %q: projects are resolved by `slipway server`; a local run cannot read another project", project)
		return nil
	}
	if project == "" {
		l.d.errorf(r.node.Pos, "include:project: the project path is empty")
		return nil
	}
	if len(r.files) == 0 {
		l.d.errorf(r.node.Pos, "include:project %q: file is required", project)
		return nil
	}
	src := &projectSource{project: project, ref: expr.Expand(r.ref, l.lookup)}
	var merged *Node
	for _, file := range r.files {
		file = expr.Expand(file, l.lookup)
		if n := l.readProject(src, r, "include:project "+strconv.Quote(project)+" file", file, chain); n != nil {
			merged = deepMerge(merged, n)
		}
	}
	return merged
}

// includeProjectLocal reads a local include of a file that came from another project: a file
// of that project at the same ref.
func (l *loader) includeProjectLocal(r includeRef, target, rel string, chain []string) *Node {
	if strings.ContainsAny(rel, "*?[") {
		l.d.errorf(r.node.Pos, "include:local %q: wildcards are not supported in a file of project %q, whose files cannot be listed", target, l.proj.project)
		return nil
	}
	return l.readProject(l.proj, r, "include:local", rel, chain)
}

// readProject reads file of src, reporting problems at the include as "what "file": …".
func (l *loader) readProject(src *projectSource, r includeRef, what, file string, chain []string) *Node {
	rel := strings.TrimPrefix(file, "/")
	switch {
	case rel == "":
		l.d.errorf(r.node.Pos, "%s %q: the path is empty", what, file)
		return nil
	case strings.Contains("/"+rel+"/", "/../") || strings.HasPrefix(rel, "./"):
		l.d.errorf(r.node.Pos, "%s %q: paths start at the project's root, without . or ..", what, file)
		return nil
	case !strings.HasSuffix(rel, ".yml") && !strings.HasSuffix(rel, ".yaml"):
		l.d.errorf(r.node.Pos, "%s %q: the file must end in .yml or .yaml", what, file)
		return nil
	}
	data, err := l.opts.ProjectFile(l.ctx, src.project, src.ref, rel)
	if err != nil {
		l.d.errorf(r.node.Pos, "%s %q: %s", what, file, readMsg(err))
		return nil
	}
	return l.readFrom(src, r, src.fileName(rel), data, chain, nil)
}

// readFrom reads an included file (see read) that came from src (nil: this repository or the
// web), so that its local includes resolve there.
func (l *loader) readFrom(src *projectSource, r includeRef, name string, data []byte, chain []string, comp map[string]string) *Node {
	saved := l.proj
	l.proj = src
	defer func() { l.proj = saved }()
	return l.read(r, name, data, chain, comp)
}
