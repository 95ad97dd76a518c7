package pipeline_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// The real-world corpus test (issue 10): every configuration of testdata/realworld (real
// .gitlab-ci.yml files of public projects that run on GitLab, byte-exact, see its README) is
// loaded with its local includes and with its outside includes served from its _includes
// fixtures, then planned as GitLab would plan a push of its default branch, a tag and a merge
// request. Each must be accepted, but for the pipelines testdata/realworld-exceptions.txt lists
// (GitLab rejects them too, or an engine fix is pending). A configuration that includes
// something no fixture holds cannot be tested faithfully: it is named in
// testdata/realworld-untestable.txt and does not count as tested. For the configurations of
// testdata/realworld-golden/, the jobs of the branch and merge request pipelines are compared
// with the ones derived by hand from GitLab's documentation.

var realworldUpdate = flag.Bool("realworld.update", false,
	"rewrite testdata/realworld-untestable.txt and the corpus table of README.md from this run")

const (
	corpusDir       = "testdata/realworld"
	exceptionsFile  = "testdata/realworld-exceptions.txt"
	untestableFile  = "testdata/realworld-untestable.txt"
	goldenDir       = "testdata/realworld-golden"
	minFullyTested  = 150
	minGoldens      = 15
	mergeSourceRef  = "feature/corpus"
	tagRef          = "v1.0.0"
	pipelineBranch  = "branch"
	pipelineTag     = "tag"
	pipelineMR      = "mr"
	everyPipeline   = "all"
	sectionRejects  = "gitlab-rejects"
	sectionPending  = "pending"
	maxErrorsLogged = 3
)

var pipelineKinds = []string{pipelineBranch, pipelineTag, pipelineMR}

// corpusConfig is a line of MANIFEST.tsv.
type corpusConfig struct {
	dir, upstream, commit, path, defaultBranch string
	// fixtureSHA maps a fixture (slash path under the directory) to the commit it was copied at.
	fixtureSHA map[string]string
}

// id names the configuration as the exceptions and untestable files do: DIR/PATH.
func (c corpusConfig) id() string { return c.dir + "/" + c.path }

var fixtureSource = regexp.MustCompile(`(_includes/\S+) <= \S+?@([0-9a-f]{40}):`)

func readManifest(t *testing.T) []corpusConfig {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusConfig
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var col map[string]int
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = map[string]int{}
			for i, name := range fields {
				col[name] = i
			}
			for _, name := range []string{"dir", "upstream", "commit", "path", "fixtures", "default_branch"} {
				if _, ok := col[name]; !ok {
					t.Fatalf("MANIFEST.tsv has no column %q", name)
				}
			}
			continue
		}
		if len(fields) != len(col) {
			t.Fatalf("MANIFEST.tsv: %d fields in %q, want %d", len(fields), fields[0], len(col))
		}
		c := corpusConfig{dir: fields[col["dir"]], upstream: fields[col["upstream"]], commit: fields[col["commit"]],
			path: fields[col["path"]], defaultBranch: fields[col["default_branch"]], fixtureSHA: map[string]string{}}
		for _, m := range fixtureSource.FindAllStringSubmatch(fields[col["fixtures"]], -1) {
			c.fixtureSHA[m[1]] = m[2]
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// outcome is what one pipeline of one configuration came to.
type outcome struct {
	errs    []string // the load or plan errors, one line each; nil when accepted
	plan    *plan.Plan
	missing []string // outside includes no fixture holds
}

// configResult is the outcome of the three pipelines of a configuration, and the files it read.
type configResult struct {
	cfg      corpusConfig
	pipes    map[string]outcome
	missing  []string // of every pipeline, sorted, unique
	keywords map[string]bool
}

func TestRealWorldCorpus(t *testing.T) {
	configs := readManifest(t)
	exc := readRealworldExceptions(t)
	results := make([]*configResult, len(configs))
	t.Run("configs", func(t *testing.T) {
		for i, c := range configs {
			t.Run(c.id(), func(t *testing.T) {
				t.Parallel()
				results[i] = runConfig(t, c)
			})
		}
	})
	if t.Failed() {
		return
	}

	var (
		untestable                      []string
		fullyTested, accepted, excepted int
		pendingConfigs                  int
		failures                        = map[string][]string{} // class → "config pipeline: first error"
		projects                        = map[string]bool{}
		coverage                        = map[string]int{}
		used                            = map[string]bool{}
	)
	for _, r := range results {
		projects[r.cfg.upstream] = true
		if len(r.missing) > 0 {
			untestable = append(untestable, r.cfg.id()+" | "+strings.Join(r.missing, " ; "))
			continue
		}
		fullyTested++
		for k := range r.keywords {
			coverage[k]++
		}
		ok, rejected, pending := true, false, false
		for _, kind := range pipelineKinds {
			o := r.pipes[kind]
			e, listed := exc.find(r.cfg.id(), kind)
			if listed {
				used[e.key()] = true
			}
			switch {
			case o.errs == nil && listed:
				t.Errorf("%s %s is accepted now: remove %q from %s (%s section)", r.cfg.id(), kind, e.line, exceptionsFile, e.section)
			case o.errs == nil:
			case listed && !containsLine(o.errs, e.err):
				ok = false
				class := "fails otherwise than " + exceptionsFile + " says"
				failures[class] = append(failures[class],
					fmt.Sprintf("%s %s: no error contains %q; first error: %s", r.cfg.id(), kind, e.err, o.errs[0]))
			case listed && e.section == sectionPending:
				pending = true
			case listed:
				rejected = true
			default:
				ok = false
				class := errorClass(o.errs[0])
				failures[class] = append(failures[class], fmt.Sprintf("%s %s: %s", r.cfg.id(), kind, strings.Join(firstN(o.errs, maxErrorsLogged), " | ")))
			}
		}
		switch {
		case !ok:
		case pending:
			pendingConfigs++
		case rejected:
			excepted++
		default:
			accepted++
		}
	}
	for _, e := range exc.all {
		if !used[e.key()] {
			t.Errorf("%s: %q names no pipeline of a fully tested configuration of the corpus", exceptionsFile, e.line)
		}
	}

	sort.Strings(untestable)
	checkGenerated(t, untestableFile, untestableText(untestable))
	m := measure{configs: len(configs), projects: len(projects), fullyTested: fullyTested, accepted: accepted,
		excepted: excepted, pending: pendingConfigs, untestable: len(untestable), coverage: coverage}
	checkReadmeCorpus(t, m)
	t.Logf("real-world corpus: %d configurations of %d projects; %d fully tested (their outside includes held), %d not (%s); "+
		"of the tested, %d accepted in all three pipelines, %d with a pipeline GitLab rejects too, %d pending an engine fix, %d failing",
		m.configs, m.projects, fullyTested, len(untestable), untestableFile, accepted, excepted, pendingConfigs,
		fullyTested-accepted-excepted-pendingConfigs)
	for _, u := range untestable {
		t.Logf("  not testable: %s", u)
	}
	if fullyTested < minFullyTested {
		t.Errorf("only %d configurations are fully tested, fewer than %d: add configurations or fixtures", fullyTested, minFullyTested)
	}
	classes := make([]string, 0, len(failures))
	for c := range failures {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		t.Errorf("%d pipelines rejected: %s", len(failures[c]), c)
		for _, f := range failures[c] {
			t.Logf("    %s", f)
		}
	}
	checkGoldens(t, results)
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("(%d more)", len(s)-n))
	}
	return s
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

var (
	errorPos    = regexp.MustCompile(`^\S+?:\d+:\d+: `)
	errorQuoted = regexp.MustCompile(`"[^"]*"`)
	errorJob    = regexp.MustCompile(`(jobs|variables):[^ ]+`)
	errorChain  = regexp.MustCompile(` \(included from [^)]*\)$`)
)

// errorClass is an error line without what is particular to one configuration, to group them.
func errorClass(e string) string {
	e = errorPos.ReplaceAllString(e, "")
	e = errorChain.ReplaceAllString(e, "")
	e = errorQuoted.ReplaceAllString(e, `"…"`)
	return errorJob.ReplaceAllString(e, "$1:…")
}

// runConfig loads and plans the three pipelines of c.
func runConfig(t *testing.T, c corpusConfig) *configResult {
	root := filepath.Join(corpusDir, c.dir)
	host, project, ok := strings.Cut(c.upstream, "/")
	if !ok {
		t.Fatalf("upstream %q is not HOST/PROJECT", c.upstream)
	}
	repo := &repoFS{fsys: os.DirFS(root), read: map[string]bool{}}
	files := repo.files(t)
	r := &configResult{cfg: c, pipes: map[string]outcome{}, keywords: map[string]bool{}}
	for _, kind := range pipelineKinds {
		fx := &fixtures{root: root, host: host, cfg: c, missing: map[string]bool{}, read: map[string][]byte{}}
		pc := plan.Context{
			Ref: c.defaultBranch, SHA: c.commit, DefaultBranch: c.defaultBranch,
			Project: plan.Project{Path: project},
			Server:  plan.Server{URL: "https://" + host},
			Exists: func(glob string) bool {
				return slices.ContainsFunc(files, func(f string) bool { return pipeline.Glob(strings.TrimPrefix(glob, "/"), f) })
			},
		}
		switch kind {
		case pipelineTag:
			pc.Ref, pc.Tag = tagRef, true
		case pipelineMR:
			pc.Source, pc.Ref = plan.SourceMergeRequest, mergeSourceRef
			pc.MergeRequest = &plan.MergeRequest{IID: 1, ID: 1, Title: "Corpus test", SourceBranch: mergeSourceRef,
				TargetBranch: c.defaultBranch, SourceSHA: c.commit}
		}
		opts := pipeline.Options{
			FS: repo, File: c.path, Project: project, Server: host, SHA: c.commit,
			Rules:         plan.RuleEnv(pc),
			Remote:        &pipeline.Remote{Client: &http.Client{Transport: fx}},
			ProjectFile:   fx.project,
			ComponentFile: fx.component,
			Template:      fx.template,
		}
		pc.LoadChild = func(files []string) (*pipeline.Config, error) {
			child := opts
			child.Child = files
			return pipeline.Load(context.Background(), child)
		}
		o := plan1(opts, pc)
		o.missing = fx.missed()
		r.pipes[kind] = o
		r.missing = append(r.missing, o.missing...)
		if kind == pipelineBranch {
			for _, data := range fx.read {
				census(data, r.keywords)
			}
			for name := range repo.readFiles() {
				data, err := fs.ReadFile(repo.fsys, name)
				if err == nil {
					census(data, r.keywords)
				}
			}
		}
	}
	slices.Sort(r.missing)
	r.missing = slices.Compact(r.missing)
	return r
}

// plan1 loads and plans one pipeline; a panic is an error like any other.
func plan1(opts pipeline.Options, pc plan.Context) (o outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = outcome{errs: []string{fmt.Sprintf("panic: %v\n%s", v, debug.Stack())}}
		}
	}()
	cfg, err := pipeline.Load(context.Background(), opts)
	if err != nil {
		return outcome{errs: errorLines(err)}
	}
	p, err := plan.Compile(cfg, pc)
	if err != nil {
		return outcome{errs: errorLines(err)}
	}
	return outcome{plan: p}
}

func errorLines(err error) []string {
	return strings.Split(strings.TrimSpace(err.Error()), "\n")
}

// repoFS is the configuration's directory as the repository: the _includes fixtures are not
// part of it. It records the files opened.
type repoFS struct {
	fsys fs.FS
	mu   sync.Mutex
	read map[string]bool
}

const fixturesDir = "_includes"

func (r *repoFS) Open(name string) (fs.File, error) {
	if name == fixturesDir || strings.HasPrefix(name, fixturesDir+"/") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := r.fsys.Open(name)
	if err == nil {
		r.mu.Lock()
		r.read[name] = true
		r.mu.Unlock()
	}
	return f, err
}

// readFiles are the YAML files opened so far.
func (r *repoFS) readFiles() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for name := range r.read {
		if st, err := fs.Stat(r.fsys, name); err == nil && st.Mode().IsRegular() &&
			(strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
			out[name] = true
		}
	}
	return out
}

// files lists the repository's files, for rules:exists: only those the corpus holds.
func (r *repoFS) files(t *testing.T) []string {
	var out []string
	err := fs.WalkDir(r.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && p == fixturesDir:
			return fs.SkipDir
		case !d.IsDir():
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fixtures serves a configuration's outside includes from its _includes directory, laid out
// as testdata/realworld/README.md says, and records what it does not hold.
type fixtures struct {
	root, host string
	cfg        corpusConfig
	mu         sync.Mutex
	missing    map[string]bool
	read       map[string][]byte
}

func (f *fixtures) get(rel, what string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(f.root, fixturesDir, filepath.FromSlash(rel)))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.missing[what] = true
		return nil, fmt.Errorf("%s: no fixture: %w", what, fs.ErrNotExist)
	}
	f.read[rel] = data
	return data, nil
}

func (f *fixtures) missed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for m := range f.missing {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func validFixturePath(p string) bool {
	return p != "" && fs.ValidPath(p)
}

func (f *fixtures) project(_ context.Context, project, ref, file string) ([]byte, error) {
	dir := project
	if ref != "" {
		dir += "@" + ref
	}
	rel := dir + "/" + file
	if !validFixturePath(rel) {
		return nil, fmt.Errorf("%s: %w", rel, fs.ErrInvalid)
	}
	return f.get("project/"+rel, "project:"+rel)
}

func (f *fixtures) component(_ context.Context, project, version, file string) ([]byte, string, error) {
	dir := "component/" + f.host + "/" + project + "@" + version
	rel := dir + "/" + file
	if !validFixturePath(rel) {
		return nil, "", fmt.Errorf("%s: %w", rel, fs.ErrInvalid)
	}
	data, err := os.ReadFile(filepath.Join(f.root, fixturesDir, filepath.FromSlash(rel)))
	if err != nil {
		// GitLab looks for templates/NAME.yml, then templates/NAME/template.yml: the component
		// is not held when neither is.
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(file, "templates/"), "/template.yml"), ".yml")
		held := false
		for _, alt := range []string{"templates/" + name + ".yml", "templates/" + name + "/template.yml"} {
			if _, err := os.Stat(filepath.Join(f.root, fixturesDir, filepath.FromSlash(dir+"/"+alt))); err == nil {
				held = true
			}
		}
		if !held {
			f.mu.Lock()
			f.missing["component:"+f.host+"/"+project+"/"+name+"@"+version] = true
			f.mu.Unlock()
		}
		return nil, "", fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
	}
	f.mu.Lock()
	f.read[rel] = data
	f.mu.Unlock()
	return data, f.cfg.fixtureSHA[fixturesDir+"/"+rel], nil
}

func (f *fixtures) template(_ context.Context, name string) ([]byte, error) {
	if !validFixturePath(name) {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrInvalid)
	}
	return f.get("template/"+name, "template:"+name)
}

// RoundTrip serves include:remote from _includes/remote/HOST/PATH.
func (f *fixtures) RoundTrip(req *http.Request) (*http.Response, error) {
	rel := req.URL.Host + path.Clean("/"+req.URL.Path)
	data, err := f.get("remote/"+rel, "remote:"+req.URL.String())
	status, body := http.StatusOK, data
	if err != nil {
		status, body = http.StatusNotFound, nil
	}
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Body: io.NopCloser(strings.NewReader(string(body))),
		Header: http.Header{}, Request: req}, nil
}
