package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/slipway/slipway/internal/expr"
)

// DefaultFile is the pipeline file GitLab reads when none is configured.
const DefaultFile = ".gitlab-ci.yml"

// Options say where a configuration comes from and what include rules and components see.
type Options struct {
	// Dir is the repository root; local includes resolve against it. Empty means ".".
	Dir string
	// FS is the repository's files (slash paths relative to its root, as fs.ValidPath wants;
	// a leading slash is dropped); nil means the directory Dir on disk. With FS, File, includes,
	// components and include globs are all read from it and Dir is not used.
	FS fs.FS
	// File is the root pipeline file relative to Dir (or absolute). Empty means DefaultFile.
	File string
	// Inputs are values for the root file's spec:inputs.
	Inputs map[string]string
	// Rules evaluates include:rules. Nil means every rule's if sees no variables, changes are
	// unknown (true) and no file exists.
	Rules *RuleEnv
	// Remote fetches include:remote; nil means remote includes are an error.
	Remote *Remote
	// Project is the path of the repository ("group/name") and Server its host: a
	// include:component under Server/Project is read from the repository itself.
	Project, Server string
	// SHA is the commit being planned, for $[[ component.sha ]].
	SHA string
	// ProjectFile reads file (a path from the project's root) of another project at ref (a
	// branch, tag or SHA; empty means the project's default branch), for include:project.
	// Nil keeps include:project an error. What it returns is parsed as an included file;
	// see includeProject for how that file's own includes resolve.
	ProjectFile func(ctx context.Context, project, ref, file string) ([]byte, error)
	// ComponentFile reads file (templates/NAME.yml, else templates/NAME/template.yml) of
	// another project of Server at version, for an include:component SERVER/PROJECT/NAME@VERSION
	// (GitLab reads components only from its own instance, and the last element of the path
	// is NAME). version is as written: a released tag, a branch, a SHA, ~latest or a shorthand
	// semver (1, 1.2) that the CI/CD catalog resolves. It returns the file and the commit the
	// version resolved to ($[[ component.sha ]]; the file's own local includes are files of
	// project at that commit, read through ProjectFile). An error for which
	// errors.Is(err, fs.ErrNotExist) holds means the file does not exist. Nil keeps
	// components of other projects an error.
	ComponentFile func(ctx context.Context, project, version, file string) (data []byte, sha string, err error)
	// Template reads one of GitLab's CI/CD templates for include:template, by the name the
	// include gives ("Security/SAST.gitlab-ci.yml", a file of GitLab's
	// lib/gitlab/ci/templates). Nil keeps include:template an error.
	Template func(ctx context.Context, name string) ([]byte, error)
	// MaxIncludes bounds the number of included files; zero means DefaultMaxIncludes.
	MaxIncludes int
	// MaxFileSize bounds each file of the configuration, in bytes; zero means
	// DefaultMaxFileSize. A file of the repository that is larger is refused before it is
	// read.
	MaxFileSize int64
	// MaxDepth bounds how deeply a file nests collections; zero means DefaultMaxDepth.
	MaxDepth int
	// MaxJobs bounds the jobs a configuration defines (hidden ones aside, before parallel
	// expands them: plan.Context.MaxJobs bounds the instances); zero means DefaultMaxJobs.
	// They are counted in each file as soon as it is parsed, and in the merged files.
	MaxJobs int
	// MaxVariableSize bounds the value of each variable the configuration sets, in bytes;
	// zero means DefaultMaxVariableSize.
	MaxVariableSize int
	// Child, when set, loads a child pipeline made of these local files (a trigger:include)
	// instead of File.
	Child []string
	// Parsed, when it is File already read and parsed (by ReadFile, while the caller did
	// other work), saves reading it again.
	Parsed *File
}

// Limits a configuration is held to when Options leave them zero: GitLab's defaults.
const (
	// DefaultMaxIncludes is GitLab's ci_max_includes.
	DefaultMaxIncludes = 150
	// DefaultMaxFileSize is GitLab's max_yaml_size_bytes.
	DefaultMaxFileSize = 2 << 20
	// DefaultMaxDepth is GitLab's max_yaml_depth.
	DefaultMaxDepth = 100
	// DefaultMaxJobs is the jobs of one pipeline (GitLab's ci_pipeline_size on GitLab.com's
	// free tier).
	DefaultMaxJobs = 2000
	// DefaultMaxVariableSize is GitLab.com's ci_variable_value_size: Linux refuses an
	// environment variable over 128 KiB (MAX_ARG_STRLEN), so a larger value cannot reach a job.
	DefaultMaxVariableSize = 128 << 10
)

// File is a pipeline file read and parsed.
type File struct {
	Name     string
	Docs     []*Node
	Warnings Errors
	Err      error
	// opts are the limits it was read with.
	opts Options
}

// ReadFile reads and parses the pipeline file name (relative to dir, or absolute) for
// Options.Parsed. An unreadable or invalid file is kept in File.Err for Load to report, and
// so is a panic while it is parsed (an *InternalError). The file is held to the default
// limits (DefaultMaxFileSize, DefaultMaxDepth); Load reads it again when Options set others.
func ReadFile(dir, name string) (f *File) {
	defer func() {
		if r := recover(); r != nil {
			f = &File{Name: name, Err: Recovered(Pos{File: name}, r)}
		}
	}()
	l := loader{root: dir, opts: withDefaults(Options{Dir: dir})}
	f = l.parseFile(name)
	f.opts = l.opts
	return f
}

// parseFile reads and parses the root pipeline file name; see ReadFile.
func (l *loader) parseFile(name string) *File {
	l.d.reading(Pos{File: name})
	f := &File{Name: name}
	data, err := l.readFile(name)
	if err != nil {
		f.Err = Errors{{Pos: Pos{File: name}, Msg: readMsg(err)}}
		return f
	}
	f.Docs, f.Warnings, f.Err = parse(name, data, l.opts.MaxDepth)
	return f
}

// withDefaults fills in the zero fields of o that have a default.
func withDefaults(o Options) Options {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.File == "" {
		o.File = DefaultFile
	}
	for _, l := range []struct {
		v   *int
		def int
	}{{&o.MaxIncludes, DefaultMaxIncludes}, {&o.MaxDepth, DefaultMaxDepth}, {&o.MaxJobs, DefaultMaxJobs}, {&o.MaxVariableSize, DefaultMaxVariableSize}} {
		if *l.v <= 0 {
			*l.v = l.def
		}
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	return o
}

// RuleEnv is what a rule (of a job or an include) is evaluated against.
type RuleEnv struct {
	// Vars looks variables up for if: and for $VAR in changes/exists paths.
	Vars expr.Lookup
	// Changed lists changed files (slash paths) when a rule asks, against compareTo when set;
	// a nil func or a nil result means unknown, so every changes: matches.
	Changed func(compareTo string) []string
	// Exists reports whether a file matching a glob exists in the repository; nil means none.
	Exists func(glob string) bool
}

type loader struct {
	ctx   context.Context
	opts  Options
	root  string
	d     diags
	files []string
	count int
	// chains records, per included file, the files that included it (root first).
	chains map[string][]string
	// proj is the project whose file is being loaded (an include:project), nil while loading
	// the repository's own files: local includes resolve within it.
	proj *projectSource
}

// Load reads the root pipeline file with everything it includes and returns the merged,
// reference- and extends-resolved configuration. Errors are an Errors value listing every
// problem found, each with its file:line:col. A panic while loading (a bug, or a panicking
// func of Options) is returned as an *InternalError that says where Load was reading.
func Load(ctx context.Context, opts Options) (cfg *Config, err error) {
	opts = withDefaults(opts)
	l := &loader{ctx: ctx, opts: opts, root: opts.Dir, chains: map[string][]string{}}
	l.d.maxVariableSize = opts.MaxVariableSize
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, Recovered(l.d.at, r)
		}
	}()
	var tree *Node
	if opts.Child != nil {
		tree = l.loadChild(opts.Child)
	} else {
		f := opts.Parsed
		if f == nil || f.Name != opts.File || f.opts.MaxFileSize != opts.MaxFileSize || f.opts.MaxDepth != opts.MaxDepth {
			f = l.parseFile(opts.File)
		}
		var es Errors
		var ie *InternalError
		if errors.As(f.Err, &es) && len(es) == 1 && es[0].Pos.Line == 0 || errors.As(f.Err, &ie) {
			return nil, f.Err // the file itself is missing (or broke the parser): nothing else to say
		}
		tree = l.loadFile(f, nil, stringInputs(opts.Inputs), nil)
	}
	if len(l.d.errs) == 0 {
		l.countJobs(tree)
	}
	if err := l.d.err(); err != nil {
		l.chain(l.d.errs)
		return nil, err
	}
	cfg = build(tree, &l.d)
	cfg.Files = l.files
	l.chain(l.d.errs)
	l.chain(l.d.warnings)
	cfg.Warnings = l.d.warnings
	if err := l.d.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// countJobs reports whether the mapping n (a file, or all of them merged) defines at most
// MaxJobs jobs; when not, the error is at the first job past the limit.
func (l *loader) countJobs(n *Node) bool {
	if n == nil {
		return true
	}
	count := 0
	for _, p := range n.Pairs {
		if isGlobal(p.Key, p.Value) || strings.HasPrefix(p.Key, ".") || p.Value.Kind != Map {
			continue
		}
		if count++; count > l.opts.MaxJobs {
			l.d.errorf(p.KeyPos, "more than %d jobs (the limit) are defined", l.opts.MaxJobs)
			return false
		}
	}
	return true
}

// chain says, on each error in an included file, which files included it.
func (l *loader) chain(es Errors) {
	for _, e := range es {
		if e.Chain == nil {
			e.Chain = l.chains[e.Pos.File]
		}
	}
}

// loadChild merges the local files of a trigger:include, in order.
func (l *loader) loadChild(files []string) *Node {
	var merged *Node
	for _, f := range files {
		pos := Pos{File: f, Line: 1, Col: 1}
		r := includeRef{kind: "local", target: f, node: NewStr(f, pos)}
		if n := l.includeLocal(r, f, nil); n != nil {
			merged = deepMerge(merged, n)
		}
	}
	if merged == nil {
		merged = NewMap(Pos{File: strings.Join(files, ",")})
	}
	return merged
}

func readMsg(err error) string {
	var size *FileSizeError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "file not found"
	case errors.As(err, &size):
		return size.Error()
	}
	return "cannot read file: " + err.Error()
}

func (l *loader) abs(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(l.root, filepath.FromSlash(name))
}

// readFile reads a file of the repository: name is a slash path relative to its root (or, on
// disk, an absolute path). Every file the loader reads from the repository comes through here.
// A file larger than MaxFileSize is refused (*FileSizeError) before it is read.
func (l *loader) readFile(name string) ([]byte, error) {
	var fsys fs.FS = l.opts.FS
	if fsys == nil {
		name = l.abs(name)
		fsys = hostFS{}
	} else {
		name = fsPath(name)
	}
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	} else if st.Size() > l.opts.MaxFileSize {
		return nil, &FileSizeError{Size: st.Size(), Max: l.opts.MaxFileSize}
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have grown since: read one byte more than the limit to know. Reading it
	// into a buffer of the size it had is one allocation and no copy.
	r := io.LimitReader(f, l.opts.MaxFileSize+1)
	data := make([]byte, st.Size()+1)
	n, err := io.ReadFull(r, data)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		data = data[:n]
	case err != nil:
		return nil, err
	default: // it grew
		rest, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		data = append(data, rest...)
	}
	if int64(len(data)) > l.opts.MaxFileSize {
		return nil, &FileSizeError{Size: int64(len(data)), Max: l.opts.MaxFileSize}
	}
	return data, nil
}

// hostFS opens files of the host by their absolute or working-directory-relative paths, which
// os.DirFS does not take.
type hostFS struct{}

func (hostFS) Open(name string) (fs.File, error)     { return os.Open(name) }
func (hostFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// FileSizeError is a configuration file over Options.MaxFileSize.
type FileSizeError struct {
	Size, Max int64 // bytes; Size may be only what was read, Max+1
}

func (e *FileSizeError) Error() string {
	return fmt.Sprintf("the file has %d bytes, more than the limit of %d", e.Size, e.Max)
}

// fsPath turns a path as configurations spell it ("/ci/a.yml", "ci//a.yml") into one fs.FS
// accepts ("ci/a.yml"); one that leaves the root stays invalid.
func fsPath(name string) string {
	return path.Clean(strings.TrimLeft(name, "/"))
}

// walkFiles calls fn with the slash path, relative to the root, of every file of the
// repository but those under .git and .slipway, in lexical order. Unreadable directories are
// skipped.
func (l *loader) walkFiles(fn func(rel string)) {
	skip := func(d fs.DirEntry) bool { return d.Name() == ".git" || d.Name() == ".slipway" }
	if l.opts.FS != nil {
		_ = fs.WalkDir(l.opts.FS, ".", func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return nil
			case d.IsDir() && p != "." && skip(d):
				return fs.SkipDir
			case !d.IsDir():
				fn(p)
			}
			return nil
		})
		return
	}
	_ = filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if skip(d) {
				return filepath.SkipDir
			}
			return nil
		}
		if rel, err := filepath.Rel(l.root, p); err == nil {
			fn(filepath.ToSlash(rel))
		}
		return nil
	})
}

// loadData parses one file, applies its inputs, resolves its includes and returns the file's
// content merged over what it includes.
func (l *loader) loadData(name string, data []byte, chain []string, inputs map[string]*Node, comp map[string]string) *Node {
	l.d.reading(Pos{File: name})
	f := &File{Name: name}
	f.Docs, f.Warnings, f.Err = parse(name, data, l.opts.MaxDepth)
	return l.loadFile(f, chain, inputs, comp)
}

// loadFile applies a parsed file's inputs, resolves its includes and returns the file's
// content merged over what it includes.
func (l *loader) loadFile(f *File, chain []string, inputs map[string]*Node, comp map[string]string) *Node {
	name, docs, warns, err := f.Name, f.Docs, f.Warnings, f.Err
	l.files = append(l.files, name)
	if len(chain) > 0 {
		l.chains[name] = append([]string(nil), chain...)
	}
	if err != nil {
		var es Errors
		if errors.As(err, &es) {
			for _, e := range es {
				e.Chain = chain
			}
			l.d.errs = append(l.d.errs, es...)
		}
		return nil
	}
	l.d.warnings = append(l.d.warnings, warns...)
	doc := l.applySpec(name, docs, inputs, comp, chain)
	if doc == nil {
		return nil
	}
	if doc.Kind == Null {
		return NewMap(doc.Pos)
	}
	if doc.Kind != Map {
		l.d.errorf(doc.Pos, "the configuration must be a hash, not %s", doc.TypeName())
		return nil
	}
	// A file that alone defines too many jobs stops here, before its includes are read and
	// before everything else is done to its jobs.
	if !l.countJobs(doc) {
		return nil
	}
	inc := doc.Get("include")
	if inc == nil {
		return doc
	}
	var merged *Node
	for _, in := range l.includes(inc, name) {
		if n := l.include(in, append(chain, name)); n != nil {
			merged = deepMerge(merged, n)
		}
	}
	l.d.reading(doc.Pos)
	return deepMerge(merged, doc.Without("include"))
}

// includeRef is one entry of include:.
type includeRef struct {
	kind   string // local, remote, project, template, component
	target string
	node   *Node
	inputs map[string]*Node
	files  []string // project: file list
	ref    string   // project: ref
}

func (l *loader) includes(inc *Node, file string) []includeRef {
	var entries []*Node
	switch inc.Kind {
	case Seq:
		entries = inc.Items
	case Scalar, Map:
		entries = []*Node{inc}
	case Null:
		return nil
	}
	var refs []includeRef
	for _, e := range entries {
		switch e.Kind {
		case Scalar:
			s := e.Value
			kind := "local"
			if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
				kind = "remote"
			}
			refs = append(refs, includeRef{kind: kind, target: s, node: e})
		case Map:
			if r, ok := l.includeMap(e); ok {
				refs = append(refs, r)
			}
		default:
			l.d.errorf(e.Pos, "include: each entry must be a string or a hash, not %s", e.TypeName())
		}
	}
	return refs
}

func (l *loader) includeMap(e *Node) (includeRef, bool) {
	r := includeRef{node: e}
	for _, p := range e.Pairs {
		switch p.Key {
		case "local", "remote", "template", "component", "project":
			if r.kind != "" {
				l.d.errorf(p.KeyPos, "include: an entry takes only one of local, remote, project, template and component")
				return r, false
			}
			if p.Value.Kind != Scalar {
				l.d.errorf(p.Value.Pos, "include:%s must be a string", p.Key)
				return r, false
			}
			r.kind, r.target = p.Key, p.Value.Value
		case "file":
			switch p.Value.Kind {
			case Scalar:
				r.files = []string{p.Value.Value}
			case Seq:
				for _, it := range p.Value.Items {
					r.files = append(r.files, it.Str())
				}
			}
		case "inputs":
			if p.Value.Kind != Map {
				l.d.errorf(p.Value.Pos, "include:inputs must be a hash")
				return r, false
			}
			r.inputs = map[string]*Node{}
			for _, q := range p.Value.Pairs {
				r.inputs[q.Key] = q.Value
			}
		case "ref":
			if p.Value.Kind != Scalar {
				l.d.errorf(p.Value.Pos, "include:ref must be a string")
				return r, false
			}
			r.ref = p.Value.Value
		case "rules", "cache", "integrity":
		default:
			l.d.errorf(p.KeyPos, "include: unknown key %q", p.Key)
			return r, false
		}
	}
	if r.kind == "" {
		l.d.errorf(e.Pos, "include: an entry needs one of local, remote, project, template or component")
		return r, false
	}
	if rules := e.Get("rules"); rules != nil {
		l.d.reading(rules.Pos)
		rs := parseRules(rules, &l.d, true)
		if !l.rulesMatch(rs) {
			return r, false
		}
	}
	return r, true
}

func (l *loader) rulesMatch(rs []*Rule) bool {
	env := RuleEnv{Vars: func(string) (string, bool) { return "", false }}
	if l.opts.Rules != nil {
		env = *l.opts.Rules
	}
	for _, r := range rs {
		l.d.reading(r.Pos)
		ok, err := r.Match(env)
		if err != nil {
			l.d.errorf(r.Pos, "%v", err)
			return false
		}
		if ok {
			return r.When != "never"
		}
	}
	return false
}

func (l *loader) lookup(name string) (string, bool) {
	if l.opts.Rules != nil && l.opts.Rules.Vars != nil {
		return l.opts.Rules.Vars(name)
	}
	return "", false
}

// include loads one include entry (a glob may name several files) and merges them.
func (l *loader) include(r includeRef, chain []string) *Node {
	l.d.reading(r.node.Pos)
	if err := l.ctx.Err(); err != nil {
		l.d.errorf(r.node.Pos, "include: %v", err)
		return nil
	}
	target := expr.Expand(r.target, l.lookup)
	switch r.kind {
	case "local":
		return l.includeLocal(r, target, chain)
	case "remote":
		return l.includeRemote(r, target, chain)
	case "component":
		return l.includeComponent(r, target, chain)
	case "project":
		return l.includeProject(r, target, chain)
	case "template":
		return l.includeTemplate(r, target, chain)
	}
	return nil
}

// includeTemplate reads one of GitLab's templates through Options.Template. Its local includes,
// if it had any, resolve where the including file's do, as GitLab gives a template the
// including file's context.
func (l *loader) includeTemplate(r includeRef, name string, chain []string) *Node {
	if l.opts.Template == nil {
		l.d.errorf(r.node.Pos, "include:template %q: GitLab's templates are not available offline; copy the template into the repository and include it with include:local", name)
		return nil
	}
	if !strings.HasSuffix(name, templateSuffix) {
		l.d.errorf(r.node.Pos, "include:template %q: not a template: a template's name ends in %s", name, templateSuffix)
		return nil
	}
	data, err := l.opts.Template(l.ctx, name)
	if err != nil {
		l.d.errorf(r.node.Pos, "include:template %q: %s", name, readMsg(err))
		return nil
	}
	return l.read(r, "template:"+name, data, chain, nil)
}

// templateSuffix ends the name of every GitLab template (Gitlab::Ci::Config::External::File::Template).
const templateSuffix = ".gitlab-ci.yml"

func (l *loader) includeLocal(r includeRef, target string, chain []string) *Node {
	switch {
	case strings.HasPrefix(target, "./"):
		l.d.errorf(r.node.Pos, "include:local %q: relative paths (starting with ./) are not supported; paths start at the repository root", target)
		return nil
	case strings.Contains("/"+target+"/", "/../"):
		l.d.errorf(r.node.Pos, "include:local %q: directory traversal (..) is not supported", target)
		return nil
	}
	rel := strings.TrimPrefix(target, "/")
	if l.proj != nil {
		return l.includeProjectLocal(r, target, rel, chain)
	}
	var names []string
	if strings.ContainsAny(rel, "*?[") {
		names = l.glob(rel)
		if len(names) == 0 {
			l.d.errorf(r.node.Pos, "include:local %q: no file matches", target)
			return nil
		}
	} else {
		names = []string{rel}
	}
	var merged *Node
	for _, name := range names {
		if !strings.HasSuffix(name, ".yml") && !strings.HasSuffix(name, ".yaml") {
			l.d.errorf(r.node.Pos, "include:local %q: the file must end in .yml or .yaml", name)
			continue
		}
		data, err := l.readFile(name)
		if err != nil {
			l.d.errorf(r.node.Pos, "include:local %q: %s", name, readMsg(err))
			continue
		}
		if n := l.read(r, name, data, chain, nil); n != nil {
			merged = deepMerge(merged, n)
		}
	}
	return merged
}

// read loads an included file's data, counting includes and refusing cycles.
func (l *loader) read(r includeRef, name string, data []byte, chain []string, comp map[string]string) *Node {
	for _, c := range chain {
		if c == name {
			l.d.errorf(r.node.Pos, "include %q: circular include (%s → %s)", name, strings.Join(chain, " → "), name)
			return nil
		}
	}
	l.count++
	if l.count > l.opts.MaxIncludes {
		l.d.errorf(r.node.Pos, "include %q: more than %d included files (the limit)", name, l.opts.MaxIncludes)
		return nil
	}
	if int64(len(data)) > l.opts.MaxFileSize {
		l.d.errorf(r.node.Pos, "include %q: %v", name, &FileSizeError{Size: int64(len(data)), Max: l.opts.MaxFileSize})
		return nil
	}
	return l.loadData(name, data, chain, r.inputs, comp)
}

// glob matches a GitLab include pattern against the repository's files: `*` does not cross
// a slash, `**` does.
func (l *loader) glob(pattern string) []string {
	re := globRegexp(pattern, true)
	var out []string
	l.walkFiles(func(rel string) {
		if re.MatchString(rel) {
			out = append(out, rel)
		}
	})
	return out
}

// baseName is path.Base for slash paths, used for component names.
func baseName(p string) string { return path.Base(p) }
