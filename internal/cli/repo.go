package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/slipway/slipway/internal/gitrepo"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// pipelineFlags are the flags that choose a pipeline: which file, which ref, which source.
type pipelineFlags struct {
	file, ref, tag, source, defaultBranch, compareTo, varsFile string
	vars, inputs                                               kvFlag
	// listOnly is set by the commands that show which jobs run, not run them: the plan
	// then leaves out each job's variables.
	listOnly bool
}

func (f *pipelineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "file", "", "pipeline file (default .gitlab-ci.yml)")
	fs.StringVar(&f.ref, "ref", "", "branch the pipeline runs for (default: the current branch)")
	fs.StringVar(&f.tag, "tag", "", "tag the pipeline runs for (a tag pipeline)")
	fs.StringVar(&f.source, "source", "", "CI_PIPELINE_SOURCE: push, web, schedule, merge_request_event, api, trigger, … (default push)")
	fs.StringVar(&f.defaultBranch, "default-branch", "", "default branch when origin/HEAD does not say (default main or master)")
	fs.StringVar(&f.compareTo, "compare-to", "", "ref rules:changes compares against (default the default branch)")
	fs.StringVar(&f.varsFile, "variables-file", "", "YAML file of pipeline variables (KEY: value, or KEY: {value, masked, type: file})")
	fs.Var(&f.vars, "variable", "pipeline variable KEY=VALUE (repeatable)")
	fs.Var(&f.inputs, "input", "spec:inputs value KEY=VALUE (repeatable)")
}

// session is a loaded configuration with the context of the pipeline it is planned for.
type session struct {
	cfg *pipeline.Config
	ctx plan.Context
}

// load reads the repository's facts and the pipeline configuration. Errors are printed;
// the returned code is non-zero when nothing can be planned.
func (f *pipelineFlags) load(ctx context.Context, io IO) (*session, int) {
	file := f.file
	if file == "" {
		file = pipeline.DefaultFile
	}
	// Parse the pipeline file while git is asked about the repository.
	guess := gitRoot(io.Dir)
	parsed := make(chan *pipeline.File, 1)
	go func() { parsed <- pipeline.ReadFile(guess, relTo(guess, io.Dir, file)) }()
	pc, root, err := f.context(ctx, io.Dir)
	if err != nil {
		fmt.Fprintf(io.Stderr, "slipway: %v\n", err)
		return nil, exitFail
	}
	opts := pipeline.Options{
		Parsed:  <-parsed,
		Dir:     root,
		File:    relTo(root, io.Dir, file),
		Inputs:  f.inputs.values,
		Project: pc.Project.Path,
		Server:  serverHost(pc),
		SHA:     pc.SHA,
		Rules:   plan.RuleEnv(pc),
		Remote:  &pipeline.Remote{CacheDir: filepath.Join(root, ".slipway", "includes")},
	}
	cfg, err := pipeline.Load(ctx, opts)
	if err != nil {
		return nil, printErrors(io, err)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(io.Stderr, "warning: %v\n", w)
	}
	pc.LoadChild = func(files []string) (*pipeline.Config, error) {
		child := opts
		child.Child, child.Inputs = files, nil
		return pipeline.Load(ctx, child)
	}
	return &session{cfg: cfg, ctx: pc}, exitOK
}

// plan loads the configuration and decides the pipeline. Errors are printed; p is nil then,
// and code says how to exit.
func (f *pipelineFlags) plan(ctx context.Context, io IO) (s *session, p *plan.Plan, code int) {
	s, code = f.load(ctx, io)
	if s == nil {
		return nil, nil, code
	}
	pc := s.ctx
	pc.SkipJobVariables = f.listOnly
	p, err := plan.Compile(s.cfg, pc)
	if err != nil {
		return nil, nil, printErrors(io, err)
	}
	return s, p, exitOK
}

// relTo names file (given relative to the working directory) relative to the repository root,
// which is how include paths and error positions name it.
func relTo(root, wd, file string) string {
	if filepath.IsAbs(file) {
		if r, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
		return file
	}
	abs := filepath.Join(wd, file)
	if r, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return abs
}

// printErrors prints the errors of loading or planning and returns the exit code.
func printErrors(io IO, err error) int {
	if ie := asInternal(err); ie != nil {
		return internalError(io, "", ie)
	}
	var es pipeline.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(io.Stderr, e.Error())
		}
		return exitFail
	}
	fmt.Fprintf(io.Stderr, "slipway: %v\n", err)
	return exitFail
}

func serverHost(pc plan.Context) string {
	u := pc.Server.URL
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if u == "" {
		return "gitlab.com"
	}
	return strings.TrimSuffix(u, "/")
}

// context builds the pipeline context from the git repository at dir and the flags. Outside a
// git repository it plans for a branch push of "main" in dir.
func (f *pipelineFlags) context(ctx context.Context, dir string) (plan.Context, string, error) {
	pc := plan.Context{Source: f.source}
	if f.varsFile != "" {
		vs, err := readVariablesFile(inDir(dir, f.varsFile))
		if err != nil {
			return pc, "", err
		}
		pc.Variables = vs
	}
	for _, k := range f.vars.keys {
		pc.Variables = append(pc.Variables, plan.Var{Key: k, Value: f.vars.values[k]})
	}
	facts, err := gitrepo.Read(ctx, dir)
	root := dir
	switch {
	case errors.Is(err, gitrepo.ErrNotRepo):
		abs, _ := filepath.Abs(dir)
		facts = &gitrepo.Facts{Root: abs, Branch: "main", ProjectPath: "local/" + filepath.Base(abs)}
	case err != nil:
		return pc, "", err
	}
	root = facts.Root
	pc.DefaultBranch = facts.DefaultBranch
	if f.defaultBranch != "" && pc.DefaultBranch == "" {
		pc.DefaultBranch = f.defaultBranch
	}
	if pc.DefaultBranch == "" {
		pc.DefaultBranch = "main"
	}
	pc.Ref = facts.Branch
	if pc.Ref == "" && facts.Tag != "" {
		pc.Ref, pc.Tag = facts.Tag, true
	}
	switch {
	case f.tag != "":
		pc.Ref, pc.Tag = f.tag, true
	case f.ref != "":
		pc.Ref, pc.Tag = f.ref, false
	}
	if pc.Ref == "" {
		pc.Ref = pc.DefaultBranch
	}
	pc.SHA, pc.BeforeSHA, pc.Commit = facts.SHA, facts.BeforeSHA, facts.Commit
	pc.Project = plan.Project{Path: facts.ProjectPath, Dir: root}
	if facts.ServerHost != "" {
		pc.Server.URL = "https://" + facts.ServerHost
	}
	if pc.Source == plan.SourceMergeRequest {
		pc.MergeRequest = &plan.MergeRequest{IID: 1, ID: 1, SourceBranch: pc.Ref, TargetBranch: pc.DefaultBranch, SourceSHA: pc.SHA}
	}
	if err == nil {
		if f.compareTo != "" {
			if _, cerr := gitrepo.ChangedFiles(ctx, root, f.compareTo); cerr != nil {
				return pc, "", fmt.Errorf("--compare-to %s: %w", f.compareTo, cerr)
			}
		}
		pc.Changed = changedFiles(ctx, root, pc.DefaultBranch, f.compareTo)
		pc.Exists = existsIn(sync.OnceValue(func() []string {
			files, _ := gitrepo.Files(ctx, root) // an unreadable index means no file exists
			return files
		}))
	} else {
		pc.Exists = func(glob string) bool {
			m, _ := filepath.Glob(filepath.Join(root, glob))
			return len(m) > 0
		}
	}
	return pc, root, nil
}

func existsIn(files func() []string) func(string) bool {
	return func(glob string) bool {
		glob = strings.TrimPrefix(glob, "/")
		for _, f := range files() {
			if pipeline.Glob(glob, f) {
				return true
			}
		}
		return false
	}
}

// inDir resolves a path given on the command line against the working directory.
func inDir(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// changedFiles lists changed files against compareTo (a rule's compare_to), or the default
// base: --compare-to, else the default branch. Each base is asked of git once.
func changedFiles(ctx context.Context, root, defaultBranch, flagCompareTo string) func(string) []string {
	var mu sync.Mutex
	cache := map[string][]string{}
	return func(compareTo string) []string {
		base := compareTo
		if base == "" {
			base = gitrepo.ResolveBase(ctx, root, defaultBranch, flagCompareTo)
		}
		mu.Lock()
		defer mu.Unlock()
		if files, ok := cache[base]; ok {
			return files
		}
		files, err := gitrepo.ChangedFiles(ctx, root, base)
		if err != nil {
			files = nil // unknown: every rules:changes matches, as GitLab does without a diff
		}
		cache[base] = files
		return files
	}
}

// gitRoot guesses the work tree's top level without running git: the nearest directory up
// from dir holding .git (dir itself when there is none). git has the last word.
func gitRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return abs
		}
	}
}
