package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// The conformance test replays gitlab-ci-local's corpus (../shared/conformance/gitlab-ci-local,
// read in place) through `slipway config`, `slipway jobs --json` and `slipway lint`, and
// compares semantically with the goldens that gitlab-ci-local produced. Where gitlab-ci-local
// departs from GitLab's documented behaviour, Slipway follows GitLab; such variants are listed
// with their reason in testdata/conformance/exceptions.txt. The score must not fall below
// testdata/conformance/score.txt.

var conformanceVerbose = flag.Bool("conformance.v", false, "print every disagreement in detail")

const corpus = "../../../shared/conformance/gitlab-ci-local"

type corpusIndex struct {
	Cases []struct {
		Case     string `json:"case"`
		Variants []struct {
			ID      string   `json:"id"`
			Dir     string   `json:"dir"`
			Args    []string `json:"args"`
			Remote  string   `json:"git_remote"`
			Changed []string `json:"changed_files"`
		} `json:"variants"`
	} `json:"cases"`
}

func TestConformance(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpus, "index.json"))
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SLIPWAY_TEST_REQUIRE") != "" {
			t.Fatalf("conformance corpus missing: %v", err)
		}
		t.Skipf("conformance corpus not found beside the repository (%v)", err)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	var idx corpusIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	exceptions := readExceptions(t)
	results := map[string][]string{}
	var mu sync.Mutex
	t.Run("variants", func(t *testing.T) {
		for _, c := range idx.Cases {
			for _, v := range c.Variants {
				id := c.Case + "/" + v.ID
				t.Run(id, func(t *testing.T) {
					t.Parallel()
					exp := filepath.Join(corpus, "cases", c.Case, "expected", v.ID)
					src := filepath.Join(corpus, "cases", c.Case, v.Dir)
					diffs := runVariant(t, src, exp, v.Args, v.Remote, v.Changed)
					mu.Lock()
					results[id] = diffs
					mu.Unlock()
				})
			}
		}
	})
	total, agree, excepted := 0, 0, 0
	var failures []string
	for _, c := range idx.Cases {
		for _, v := range c.Variants {
			id := c.Case + "/" + v.ID
			total++
			diffs := results[id]
			_, isException := exceptions[id]
			switch {
			case len(diffs) == 0 && isException:
				agree++
				t.Errorf("%s agrees now: remove it from testdata/conformance/exceptions.txt", id)
			case len(diffs) == 0:
				agree++
			case isException:
				excepted++
			default:
				failures = append(failures, fmt.Sprintf("%s: %s", id, strings.Join(diffs, "; ")))
			}
		}
	}
	score := float64(agree+excepted) / float64(total) * 100
	t.Logf("conformance: %d variants, %d agree, %d differ by design (exceptions.txt), %d disagree: score %.1f%% (%.1f%% agree to the letter)",
		total, agree, excepted, total-agree-excepted, score, float64(agree)/float64(total)*100)
	sort.Strings(failures)
	for _, f := range failures {
		t.Log("  " + f)
	}
	min := recordedScore(t)
	if score+1e-9 < min {
		t.Errorf("conformance score %.1f%% fell below the recorded %.1f%% (testdata/conformance/score.txt)", score, min)
	}
}

func readExceptions(t *testing.T) map[string]string {
	data, err := os.ReadFile("testdata/conformance/exceptions.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, ok := strings.Cut(line, " ")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("exceptions.txt: %q needs a reason", line)
		}
		out[id] = strings.TrimSpace(reason)
	}
	return out
}

func recordedScore(t *testing.T) float64 {
	data, err := os.ReadFile("testdata/conformance/score.txt")
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// makeRepo copies src into a temporary git repository shaped as the corpus README says.
func makeRepo(t *testing.T, src, remote string, changed []string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(filepath.Join(dir, "expected"))
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			_ = os.Chmod(p, map[bool]os.FileMode{true: 0o755, false: 0o644}[d.IsDir()])
		}
		return nil
	})
	env := append(os.Environ(), "GIT_AUTHOR_DATE=2020-01-05T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-05T00:00:00Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "master")
	git("config", "user.email", "test@test.com")
	git("config", "user.name", "Testersen")
	git("remote", "add", "origin", remote)
	git("add", "-A", "-f")
	git("commit", "-q", "--allow-empty", "-m", "init")
	git("update-ref", "refs/remotes/origin/main", "HEAD")
	git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	for _, f := range changed {
		fh, err := os.OpenFile(filepath.Join(dir, f), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(fh, "changed")
		fh.Close()
		git("add", "-A", "-f")
		git("commit", "-q", "-m", "change "+f)
	}
	return dir
}

// translateArgs maps gitlab-ci-local's options to Slipway's; ok is false for options that are
// gitlab-ci-local's own (its home folder, JSON-schema switches…), reported as unsupported.
func translateArgs(args []string) (out []string, unsupported []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "--file", "--variable", "--input", "--variables-file":
			if i+1 < len(args) {
				out = append(out, a, args[i+1])
				i++
			}
		case "--json-schema-validation", "--no-evaluate-rule-changes":
			unsupported = append(unsupported, a)
		default:
			unsupported = append(unsupported, a)
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				i++
			}
		}
	}
	return out, unsupported
}

// load plans a variant the way the CLI does (one git read for config and jobs).
func loadVariant(dir string, args []string) (*session, string) {
	var f pipelineFlags
	var errOut bytes.Buffer
	fs := newFlags("conformance", IO{Stderr: &errOut}, "")
	f.register(fs)
	if _, err := parse(fs, args); err != nil {
		return nil, err.Error()
	}
	s, _ := f.load(context.Background(), IO{Stderr: &errOut, Dir: dir})
	return s, errOut.String()
}

// runVariant loads one variant and returns how Slipway disagrees with the goldens.
func runVariant(t *testing.T, src, exp string, args []string, remote string, changed []string) []string {
	dir := makeRepo(t, src, remote, changed)
	flags, _ := translateArgs(args)
	s, stderr := loadVariant(dir, flags)
	var p *plan.Plan
	var planErr error
	if s != nil {
		p, planErr = plan.Compile(s.cfg, s.ctx)
	}
	if errGolden, err := os.ReadFile(filepath.Join(exp, "error.txt")); err == nil {
		if s != nil && planErr == nil {
			return []string{"accepted a config gitlab-ci-local rejects: " + firstLine(string(errGolden), 3)}
		}
		return nil
	}
	if s == nil {
		return []string{"config rejected: " + firstLine(stderr, 0)}
	}
	var diffs []string
	if golden, err := os.ReadFile(filepath.Join(exp, "preview.yml")); err == nil {
		out, err := s.cfg.Tree.YAML()
		if err != nil {
			return []string{"config: " + err.Error()}
		}
		if s.ctx.SHA != "" {
			out = bytes.ReplaceAll(out, []byte(s.ctx.SHA), []byte("<SHA>"))
		}
		diffs = append(diffs, comparePreview(golden, out)...)
	}
	if golden, err := os.ReadFile(filepath.Join(exp, "list.json")); err == nil {
		if planErr != nil {
			diffs = append(diffs, "jobs failed: "+firstLine(planErr.Error(), 0))
		} else {
			var out bytes.Buffer
			if err := writeJobsJSON(&out, p); err != nil {
				return []string{"jobs --json: " + err.Error()}
			}
			diffs = append(diffs, compareList(golden, out.Bytes())...)
		}
	}
	return diffs
}

func firstLine(s string, skip int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if skip < len(lines) {
		lines = lines[skip:]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimSpace(lines[0])
}

func parseYAML(data []byte) any {
	docs, _, err := pipeline.Parse("x", data)
	if err != nil || len(docs) == 0 {
		return nil
	}
	return docs[0].Interface()
}

// comparePreview compares the stages and every job of the expanded configurations.
func comparePreview(golden, ours []byte) []string {
	g, _ := parseYAML(golden).(map[string]any)
	o, _ := parseYAML(ours).(map[string]any)
	if g == nil || o == nil {
		return []string{"preview: unparsable"}
	}
	var diffs []string
	if !reflect.DeepEqual(g["stages"], o["stages"]) {
		diffs = append(diffs, fmt.Sprintf("preview stages %v, want %v", o["stages"], g["stages"]))
	}
	for name, gv := range g {
		if previewGlobal[name] {
			continue
		}
		ov, ok := o[name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("preview: job %q missing", name))
			continue
		}
		gn, on := normalizeJob(gv), normalizeJob(ov)
		if !reflect.DeepEqual(gn, on) {
			diffs = append(diffs, fmt.Sprintf("preview: job %q differs: %s", name, mapDiff(gn, on)))
		}
	}
	for name := range o {
		if _, ok := g[name]; !ok && !previewGlobal[name] {
			diffs = append(diffs, fmt.Sprintf("preview: extra job %q", name))
		}
	}
	return diffs
}

var previewGlobal = map[string]bool{"stages": true, "variables": true, "workflow": true, "default": true, "include": true}

// normalizeJob writes a job the one way both tools' outputs can be compared in: GitLab's
// short forms expanded (image and services as hashes, scripts as flat lists, needs and caches
// with their defaults, matrix values as lists), null keys dropped, and variables as the value
// a job sees ($ doubled when expand is false, as gitlab-ci-local prints it).
func normalizeJob(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, val := range m {
		if val == nil {
			continue
		}
		switch k {
		case "image":
			if s, ok := val.(string); ok {
				val = map[string]any{"name": s}
			}
		case "services":
			val = mapList(val, func(e any) any {
				if s, ok := e.(string); ok {
					return map[string]any{"name": s}
				}
				return e
			})
		case "script", "before_script", "after_script", "rules":
			val = flatList(val)
		case "needs":
			val = mapList(flatList(val), func(e any) any {
				n, ok := e.(map[string]any)
				if !ok {
					return map[string]any{"job": e, "artifacts": true, "optional": false}
				}
				c := map[string]any{"artifacts": true}
				if _, cross := n["pipeline"]; !cross {
					c["optional"] = false
				}
				for k, v := range n {
					c[k] = v
				}
				return c
			})
		case "cache":
			if _, ok := val.(map[string]any); ok {
				val = []any{val}
			}
			caches := []any{}
			list, _ := val.([]any)
			for _, e := range list {
				m, _ := e.(map[string]any)
				if m["paths"] == nil && m["untracked"] != true {
					continue // a cache of nothing does nothing
				}
				c := map[string]any{"policy": "pull-push", "when": "on_success"}
				for k, v := range m {
					c[k] = v
				}
				caches = append(caches, c)
			}
			val = caches
		case "parallel":
			if p, ok := val.(map[string]any); ok {
				p["matrix"] = mapList(p["matrix"], func(e any) any {
					c := map[string]any{}
					for k, v := range e.(map[string]any) {
						if _, ok := v.([]any); !ok {
							v = []any{v}
						}
						c[k] = v
					}
					return c
				})
			}
		case "variables":
			if vars, ok := val.(map[string]any); ok {
				c := map[string]any{}
				for k, v := range vars {
					if h, ok := v.(map[string]any); ok {
						s := fmt.Sprint(h["value"])
						if h["expand"] == false {
							s = strings.ReplaceAll(s, "$", "$$")
						}
						v = s
					}
					if v == nil {
						v = ""
					}
					c[k] = v
				}
				val = c
			}
		}
		out[k] = stringify(val)
	}
	return out
}

func mapList(v any, f func(any) any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(list))
	for i, e := range list {
		out[i] = f(e)
	}
	return out
}

// flatList turns a string into a one-item list and flattens nested lists.
func flatList(v any) any {
	list, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, e := range list {
		if l, ok := e.([]any); ok {
			out = append(out, flatList(l).([]any)...)
			continue
		}
		out = append(out, e)
	}
	return out
}

func stringify(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			out[k] = stringify(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = stringify(val)
		}
		return out
	case nil:
		return nil
	case bool:
		return x
	}
	return fmt.Sprint(v)
}

func mapDiff(g, o any) string {
	gm, _ := g.(map[string]any)
	om, _ := o.(map[string]any)
	var parts []string
	for k, gv := range gm {
		if ov, ok := om[k]; !ok {
			parts = append(parts, fmt.Sprintf("missing %s", k))
		} else if !reflect.DeepEqual(gv, ov) {
			parts = append(parts, fmt.Sprintf("%s=%v want %v", k, ov, gv))
		}
	}
	for k := range om {
		if _, ok := gm[k]; !ok {
			parts = append(parts, fmt.Sprintf("extra %s", k))
		}
	}
	sort.Strings(parts)
	s := strings.Join(parts, ", ")
	if !*conformanceVerbose && len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

type listEntry struct {
	Name         string       `json:"name"`
	Stage        string       `json:"stage"`
	When         string       `json:"when"`
	AllowFailure allowFailure `json:"allow_failure"`
	Needs        []any        `json:"needs"`
}

// allowFailure reads allow_failure as a bool or a hash of exit codes (true: failure allowed).
type allowFailure bool

func (a *allowFailure) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*a = allowFailure(x)
	case map[string]any:
		*a = true
	}
	return nil
}

var (
	gclParallel = regexp.MustCompile(`^(.*): \[(\d+)/(\d+)\]$`)
	gclMatrix   = regexp.MustCompile(`^(.*): \[(.*)\]$`)
)

// gitlabName turns gitlab-ci-local's parallel job names into GitLab's ("test: [1/3]" is
// "test 1/3") and writes matrix names without the space GitLab puts after each comma
// ("build: [a, b]" and gitlab-ci-local's "build: [a,b]" are both "build: [a,b]"), since a
// matrix value may itself contain commas. MatrixName's own test checks GitLab's spacing.
func gitlabName(name string) string {
	if m := gclParallel.FindStringSubmatch(name); m != nil {
		return m[1] + " " + m[2] + "/" + m[3]
	}
	if m := gclMatrix.FindStringSubmatch(name); m != nil {
		return m[1] + ": [" + strings.ReplaceAll(m[2], ", ", ",") + "]"
	}
	return name
}

func compareList(golden, ours []byte) []string {
	var g, o []listEntry
	if err := json.Unmarshal(golden, &g); err != nil {
		return []string{"list.json: " + err.Error()}
	}
	if err := json.Unmarshal(ours, &o); err != nil {
		return []string{"jobs --json: " + err.Error()}
	}
	present := map[string]bool{}
	var want []listEntry
	for _, e := range g {
		if e.When == "never" {
			continue
		}
		e.Name = gitlabName(e.Name)
		present[e.Name] = true
		want = append(want, e)
	}
	got := map[string]listEntry{}
	for _, e := range o {
		e.Name = gitlabName(e.Name)
		got[e.Name] = e
	}
	var diffs []string
	for _, w := range want {
		e, ok := got[w.Name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("jobs: %q missing", w.Name))
			continue
		}
		delete(got, w.Name)
		if e.Stage != w.Stage || e.When != w.When || e.AllowFailure != w.AllowFailure {
			diffs = append(diffs, fmt.Sprintf("jobs: %q is %s/%s/allow_failure=%v, want %s/%s/%v", w.Name, e.Stage, e.When, e.AllowFailure, w.Stage, w.When, w.AllowFailure))
		}
		if wn, en := needNames(w.Needs, present), needNames(e.Needs, nil); !reflect.DeepEqual(wn, en) {
			diffs = append(diffs, fmt.Sprintf("jobs: %q needs %v, want %v", w.Name, en, wn))
		}
	}
	for name := range got {
		diffs = append(diffs, fmt.Sprintf("jobs: extra %q", name))
	}
	sort.Strings(diffs)
	return diffs
}

// needNames lists the base job names of needs (strings or hashes), without repeats; with
// present, only needs on jobs in the pipeline count. nil stays nil (no needs: key).
func needNames(needs []any, present map[string]bool) []string {
	if needs == nil {
		return nil
	}
	bases := map[string]bool{}
	for p := range present {
		bases[baseJob(p)] = true
	}
	seen := map[string]bool{}
	out := []string{}
	for _, n := range needs {
		name := ""
		switch x := n.(type) {
		case string:
			name = x
		case map[string]any:
			name, _ = x["job"].(string)
		}
		name = baseJob(gitlabName(name))
		if (present != nil && !bases[name]) || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

var instanceSuffix = regexp.MustCompile(`( \d+/\d+|: \[.*\])$`)

// baseJob strips a parallel instance's suffix.
func baseJob(name string) string { return instanceSuffix.ReplaceAllString(name, "") }
