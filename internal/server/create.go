package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/slipway/slipway/internal/gitcmd"
	"github.com/slipway/slipway/internal/gitmirror"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/webhook"
)

// trigger is what asks for a pipeline: a push, a merge request, an API call, a schedule.
type trigger struct {
	Source string // plan.Source*
	// Ref is a branch, or a tag when Tag is set. Without a SHA, a Ref that names no branch
	// may name a tag (then Tag is set), as GitLab's API reads a ref.
	Ref string
	Tag bool
	// SHA is the commit; empty means the ref's tip in the mirror.
	SHA, Before string
	Vars        map[string]string
	MR          *webhook.MergeRequest
	// Parent is the pipeline whose job token asks (nil: none); the new pipeline is one
	// deeper, and gets no protected variables, whatever the ref, when Parent had none to give.
	Parent *store.Pipeline
	// Message and author, when the trigger knows them; else read from the commit.
	Message, AuthorName, AuthorEmail string
}

// errNoPipeline: the configuration's rules made no pipeline (workflow:rules, or no job left).
type errNoPipeline struct{ reason string }

func (e *errNoPipeline) Error() string { return "no pipeline: " + e.reason }

// createPipeline fetches the project, plans the pipeline for t from the committed
// configuration and stores it with its jobs; then the scheduler starts it and older
// pipelines of the ref are auto-canceled where interruptible allows. A configuration that
// makes no pipeline returns *errNoPipeline; a configuration error returns pipeline.Errors. A
// panic (a bug) returns a *pipeline.InternalError — one of the loader names the file and line
// it was reading — whose stack goes to the debug log: a webhook, an API call or a schedule
// never brings the server down.
func (s *Server) createPipeline(ctx context.Context, p *store.Project, t trigger) (pl *store.Pipeline, err error) {
	defer func() {
		if v := recover(); v != nil {
			pl, err = nil, pipeline.Recovered(pipeline.Pos{}, v)
		}
		var ie *pipeline.InternalError
		if errors.As(err, &ie) {
			s.log.Debug("create pipeline: internal error", "project_id", p.ID, "err", err, "stack", string(ie.Stack))
		}
	}()
	return s.newPipeline(ctx, p, t)
}

// newPipeline is createPipeline but for panics.
func (s *Server) newPipeline(ctx context.Context, p *store.Project, t trigger) (*store.Pipeline, error) {
	if err := s.checkVariables(t.Vars); err != nil {
		return nil, err
	}
	if err := s.mirrors.Sync(ctx, p.ID, p.CloneURL); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", p.Path, err)
	}
	rev := t.SHA
	if rev == "" {
		rev = "refs/heads/" + t.Ref
		if t.Tag {
			rev = "refs/tags/" + t.Ref
		}
	}
	// Reading the commit resolves rev and checks that it exists, in one git process; the tree
	// of a commit named by its SHA (a webhook's) is read meanwhile.
	var files fs.FS
	var filesErr error
	var tree sync.WaitGroup
	if gitcmd.IsOID(rev) {
		tree.Go(func() { files, filesErr = s.mirrors.FS(ctx, p.ID, rev) })
	}
	commit, err := s.mirrors.Commit(ctx, p.ID, rev)
	if t.SHA == "" && !t.Tag && errors.Is(err, gitmirror.ErrUnknownRevision) {
		// No such branch: a tag of that name, as GitLab's API reads a ref.
		t.Tag = true
		commit, err = s.mirrors.Commit(ctx, p.ID, "refs/tags/"+t.Ref)
	}
	tree.Wait()
	if err != nil {
		return nil, err
	}
	if filesErr != nil {
		return nil, filesErr
	}
	sha := commit.SHA
	if t.Message == "" {
		t.Message = commit.Message
	}
	if t.AuthorName == "" {
		t.AuthorName, t.AuthorEmail = commit.AuthorName, commit.AuthorEmail
	}
	if files == nil {
		if files, err = s.mirrors.FS(ctx, p.ID, sha); err != nil {
			return nil, err
		}
	}
	release, err := s.heavy(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	protected, err := s.protectedRef(ctx, p, t, sha)
	if err != nil {
		return nil, fmt.Errorf("decide whether %s is protected: %w", t.Ref, err)
	}
	pc, err := s.planContext(ctx, p, t, sha, protected, commit, files)
	if err != nil {
		return nil, err
	}
	lim := s.o.Limits
	pc.MaxJobs, pc.MaxVariableSize = lim.Jobs, lim.VariableSize
	// An include:project that failed for want of the store or a fetch is no configuration
	// error: loading goes on (it reads one file at a time) and the failure is returned.
	var includeErr error
	opts := pipeline.Options{
		FS:          files,
		Project:     p.Path,
		Server:      s.host(),
		SHA:         sha,
		Rules:       plan.RuleEnv(pc),
		ProjectFile: s.projectFile(p, &includeErr),
		MaxFileSize: lim.ConfigSize, MaxDepth: lim.ConfigDepth, MaxIncludes: lim.Includes,
		MaxJobs: lim.Jobs, MaxVariableSize: lim.VariableSize,
	}
	cfg, err := pipeline.Load(ctx, opts)
	if includeErr != nil {
		return nil, includeErr
	}
	if err != nil {
		return nil, err
	}
	pc.LoadChild = func(files []string) (*pipeline.Config, error) {
		child := opts
		child.Child = files
		return pipeline.Load(ctx, child)
	}
	pl, err := plan.Compile(cfg, pc)
	if includeErr != nil {
		return nil, includeErr
	}
	if err != nil {
		return nil, err
	}
	if !pl.Created || len(pl.Jobs) == 0 {
		reason := pl.Reason.Text
		if reason == "" {
			reason = "no job matched its rules"
		}
		return nil, &errNoPipeline{reason: reason}
	}
	rec := &store.Pipeline{
		ProjectID: p.ID, Status: status.Created, Ref: t.Ref, Tag: t.Tag, SHA: sha, BeforeSHA: t.Before,
		Source: pc.Source, Name: pl.Name, Message: t.Message, AuthorName: t.AuthorName, AuthorEmail: t.AuthorEmail,
		Vars: t.Vars, Protected: protected,
	}
	if t.Parent != nil {
		rec.ParentID, rec.Depth = t.Parent.ID, t.Parent.Depth+1
	}
	if t.MR != nil {
		rec.MergeRequest = t.MR.Number
	}
	jobs := make([]*store.Job, 0, len(pl.Jobs))
	hide := reasonHide(pc.Variables, t.Vars)
	for i, j := range pl.Jobs {
		sp := jobapi.NewSpec(j)
		sp.Reason = jobapi.NewReason(j.Reason, hide)
		spec, err := json.Marshal(sp)
		if err != nil {
			return nil, fmt.Errorf("encode job %s: %w", j.Name, err)
		}
		row := &store.Job{
			Name: j.Name, Stage: j.Stage, StageIndex: j.StageIndex, Position: i, Status: status.Created,
			Spec: spec, Tags: union(j.Tags, p.Tags), ResourceGroup: j.ResourceGroup, Attempt: 1,
		}
		if j.Trigger != nil {
			// TODO(#5): run child and downstream pipelines; until then a bridge job fails
			// visibly rather than passing without running anything.
			row.Status, row.FailureReason, row.Finished = status.Failed, status.DownstreamPipelineCreationFailed, s.now()
		}
		jobs = append(jobs, row)
	}
	if err := s.store.CreatePipeline(ctx, rec, jobs); err != nil {
		return nil, fmt.Errorf("store pipeline: %w", err)
	}
	if err := s.sched.Advance(ctx, rec.ID); err != nil {
		return nil, fmt.Errorf("start pipeline: %w", err)
	}
	s.autoCancel(ctx, rec, pl)
	s.metrics.pipelineCreated()
	if got, err := s.store.Pipeline(ctx, rec.ID); err == nil {
		rec = got
	}
	return rec, nil
}

// planContext is the plan.Context of a trigger: the push, the project, this server, the
// project's variables (below the trigger's own, as GitLab orders them; protected ones only
// when protected says so).
func (s *Server) planContext(ctx context.Context, p *store.Project, t trigger, sha string, protected bool, c gitmirror.Commit, files fs.FS) (plan.Context, error) {
	pc := plan.Context{
		Source: t.Source, Ref: t.Ref, Tag: t.Tag, SHA: sha, BeforeSHA: t.Before, DefaultBranch: p.DefaultBranch,
		Commit:          plan.Commit{Message: t.Message, AuthorName: t.AuthorName, AuthorEmail: t.AuthorEmail, Timestamp: c.Time},
		Project:         plan.Project{Path: p.Path, ID: p.ID, URL: s.URL() + "/" + p.Path},
		Server:          plan.Server{URL: s.URL(), Name: "Slipway", Registry: s.host()},
		Now:             s.now(),
		Protected:       &protected,
		ProtectedBranch: func(name string) bool { return protectedBranch(p, name) },
	}
	if t.MR != nil {
		pc.MergeRequest = &plan.MergeRequest{
			IID: t.MR.Number, ID: t.MR.Number, Title: t.MR.Title, Description: t.MR.Description,
			SourceBranch: t.MR.SourceBranch, TargetBranch: t.MR.TargetBranch, SourceSHA: t.MR.SourceSHA,
			TargetSHA: t.MR.TargetSHA, Labels: t.MR.Labels, Draft: t.MR.Draft,
		}
	}
	vars, err := s.store.Variables(ctx, p.ID)
	if err != nil {
		return pc, fmt.Errorf("read variables: %w", err)
	}
	for _, v := range vars {
		// Environment-scoped variables are added per job when it is dispatched.
		if (v.Protected && !protected) || (v.Environment != "*" && v.Environment != "") {
			continue
		}
		pc.Variables = append(pc.Variables, plan.Var{Key: v.Key, Value: v.Value, Masked: v.Masked, File: v.File})
	}
	keys := make([]string, 0, len(t.Vars))
	for k := range t.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pc.Variables = append(pc.Variables, plan.Var{Key: k, Value: t.Vars[k]})
	}
	var once sync.Once
	var changed []string
	pc.Changed = func(compareTo string) []string {
		if compareTo != "" {
			base, err := s.mirrors.Resolve(ctx, p.ID, compareTo)
			if err != nil {
				return nil
			}
			files, _ := s.mirrors.Changed(ctx, p.ID, base, sha)
			return files
		}
		once.Do(func() { changed, _ = s.mirrors.Changed(ctx, p.ID, t.Before, sha) })
		return changed
	}
	pc.Exists = func(glob string) bool {
		glob = strings.TrimPrefix(glob, "/")
		found := false
		_ = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || found {
				return fs.SkipAll
			}
			if !d.IsDir() && pipeline.Glob(glob, name) {
				found = true
				return fs.SkipAll
			}
			return nil
		})
		return found
	}
	return pc, nil
}

// projectFile returns the reader of include:project files for pipelines of project from:
// files of the projects that allow from (see allows). A project that does not, or does not
// exist, gets the same error, which names the include and nothing of the project. A failure
// that is no answer (the store, a fetch) is also put in *failed, for createPipeline to return
// instead of a configuration error.
func (s *Server) projectFile(from *store.Project, failed *error) func(ctx context.Context, project, ref, file string) ([]byte, error) {
	return func(ctx context.Context, project, ref, file string) ([]byte, error) {
		hidden := fmt.Errorf("project %q does not exist or does not allow %s to include its files", project, from.Path)
		fail := func(err error) ([]byte, error) {
			if *failed == nil {
				*failed = err
			}
			return nil, errors.New("the server could not read it; try again later")
		}
		p, err := s.store.ProjectByPath(ctx, project)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, hidden
		case err != nil:
			return fail(fmt.Errorf("include:project %q: %w", project, err))
		case !allows(p, from):
			return nil, hidden
		}
		if err := s.mirrors.Sync(ctx, p.ID, p.CloneURL); err != nil {
			return fail(fmt.Errorf("include:project %q: fetch: %w", project, err))
		}
		if ref == "" {
			ref = p.DefaultBranch
		}
		sha, err := s.mirrors.Resolve(ctx, p.ID, ref)
		if errors.Is(err, gitmirror.ErrUnknownRevision) {
			return nil, fmt.Errorf("project %q has no branch, tag or commit %q", project, ref)
		}
		if err != nil {
			return fail(fmt.Errorf("include:project %q: %w", project, err))
		}
		files, err := s.mirrors.FS(ctx, p.ID, sha)
		if err != nil {
			return fail(fmt.Errorf("include:project %q: %w", project, err))
		}
		return fs.ReadFile(files, strings.TrimPrefix(path.Clean("/"+file), "/"))
	}
}

// autoCancel cancels older pipelines of the same ref that workflow:auto_cancel allows
// (on_new_commit: conservative by default — only pipelines whose started jobs are all
// interruptible; interruptible — their interruptible jobs; none — nothing).
func (s *Server) autoCancel(ctx context.Context, p *store.Pipeline, pl *plan.Plan) {
	mode := pl.AutoCancel["on_new_commit"]
	if mode == "none" || p.Tag {
		return
	}
	older, err := s.store.Pipelines(ctx, p.ProjectID, store.PipelineFilter{Ref: p.Ref, Before: p.ID,
		Status: []status.Status{status.Created, status.Pending, status.Running, status.Manual}, Limit: 20})
	if err != nil {
		s.log.Error("auto-cancel: list pipelines", "err", err)
		return
	}
	for _, o := range older {
		if o.Source != p.Source && !(o.Source == plan.SourcePush && p.Source == plan.SourcePush) {
			continue
		}
		jobs, err := s.store.Jobs(ctx, o.ID, store.JobFilter{})
		if err != nil {
			continue
		}
		cancelAll := true
		var interruptible []int64
		for _, j := range jobs {
			if j.Retried || j.Status.Final() && j.Started.IsZero() {
				continue
			}
			started := !j.Started.IsZero()
			if s.sched.Spec(j).Interruptible {
				interruptible = append(interruptible, j.ID)
			} else if started {
				cancelAll = false
			}
		}
		switch {
		case mode == "interruptible":
			for _, id := range interruptible {
				_ = s.sched.CancelJob(ctx, id)
			}
		case cancelAll:
			if err := s.sched.Cancel(ctx, o.ID); err != nil {
				s.log.Error("auto-cancel", "pipeline_id", o.ID, "err", err)
				continue
			}
			s.log.Info("auto-canceled a pipeline made redundant", "pipeline_id", o.ID, "by", p.ID)
		}
	}
}

// host is the server's host name, for CI_SERVER_HOST and CI_REGISTRY.
func (s *Server) host() string {
	u := strings.TrimPrefix(strings.TrimPrefix(s.URL(), "https://"), "http://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, x := range b {
		found := false
		for _, y := range out {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

// itoa formats an id.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// reasonHide decides which values of the variables a job's rules read are stored with its
// reason (shown on the job page to every reporter): only values of the configuration and
// predefined ones. The value of a project variable (masked, protected or not) or of a
// pipeline variable a user gave is not kept, nor a value holding a masked value or a project
// variable's (a YAML variable that expands one).
func reasonHide(given []plan.Var, pipelineVars map[string]string) func(name, value string) bool {
	names := map[string]bool{}
	var secrets []string
	for _, v := range given {
		names[v.Key] = true
		_, user := pipelineVars[v.Key]
		if (v.Masked || !user) && len(v.Value) >= minSecretLen {
			secrets = append(secrets, v.Value)
		}
	}
	return func(name, value string) bool {
		if names[name] {
			return true
		}
		for _, s := range secrets {
			if strings.Contains(value, s) {
				return true
			}
		}
		return false
	}
}

// minSecretLen is the shortest value of a project variable looked for inside the values of
// others: shorter ones ("1", "on") would hide common values, and tell nothing.
const minSecretLen = 4
