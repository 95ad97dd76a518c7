package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The run conformance test replays every real shell run of gitlab-ci-local's corpus
// (expected/<variant>/run.txt) through `slipway run --concurrency 1 --executor shell
// --json-events` and compares semantically: the exit code, which jobs started, their order
// where stages and needs force it, each job's final status, and that the jobs gitlab-ci-local
// listed but did not start did not run. Where gitlab-ci-local departs from GitLab's documented
// behaviour (or reads its own files), the variant is listed with its reason in
// testdata/runconformance/exceptions.txt. The score must not fall below
// testdata/runconformance/score.txt.

const runTimeout = 60 * time.Second

// runGolden is a parsed run.txt.
type runGolden struct {
	exit       int
	started    []startedJob // in start order, names as gitlab-ci-local prints them
	status     map[string]string
	notStarted []string
}

type startedJob struct{ name, stage string }

func TestRunConformance(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpus, "index.json"))
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SLIPWAY_TEST_REQUIRE") != "" {
			t.Fatalf("conformance corpus missing: %v", err)
		}
		t.Skipf("conformance corpus not found beside the repository (%v)", err)
	}
	if testing.Short() {
		t.Skip("runs 131 pipelines for real; skipped with -short")
	}
	for _, tool := range []string{"git", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	var idx corpusIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	exceptions := readExceptionsFile(t, "testdata/runconformance/exceptions.txt")
	var ids []string
	results := map[string][]string{}
	var mu sync.Mutex
	start := time.Now()
	t.Run("variants", func(t *testing.T) {
		for _, c := range idx.Cases {
			for _, v := range c.Variants {
				exp := filepath.Join(corpus, "cases", c.Case, "expected", v.ID)
				if _, err := os.Stat(filepath.Join(exp, "run.txt")); err != nil {
					continue
				}
				id := c.Case + "/" + v.ID
				ids = append(ids, id)
				t.Run(id, func(t *testing.T) {
					t.Parallel()
					src := filepath.Join(corpus, "cases", c.Case, v.Dir)
					diffs := runPipelineVariant(t, src, exp, v.Args, v.Remote, v.Changed)
					mu.Lock()
					results[id] = diffs
					mu.Unlock()
				})
			}
		}
	})
	if len(ids) == 0 {
		t.Fatal("no run.txt goldens in the corpus")
	}
	if len(results) < len(ids) {
		// -run chose some variants: their differences are logged, no score is kept.
		sort.Strings(ids)
		for _, id := range ids {
			if diffs, ok := results[id]; ok && len(diffs) > 0 {
				t.Logf("  %s: %s", id, strings.Join(diffs, "; "))
			}
		}
		t.Logf("ran %d of %d variants: no score", len(results), len(ids))
		return
	}
	for id := range exceptions {
		if _, ok := results[id]; !ok {
			t.Errorf("exceptions.txt names %s, which has no recorded run", id)
		}
	}
	total, agree, excepted := len(ids), 0, 0
	var failures []string
	for _, id := range ids {
		diffs := results[id]
		_, isException := exceptions[id]
		switch {
		case len(diffs) == 0 && isException:
			agree++
			t.Errorf("%s agrees now: remove it from testdata/runconformance/exceptions.txt", id)
		case len(diffs) == 0:
			agree++
		case isException:
			excepted++
			if *conformanceVerbose {
				t.Logf("  (exception) %s: %s", id, strings.Join(diffs, "; "))
			}
		default:
			failures = append(failures, fmt.Sprintf("%s: %s", id, strings.Join(diffs, "; ")))
		}
	}
	score := float64(agree+excepted) / float64(total) * 100
	t.Logf("run conformance: %d variants, %d agree, %d differ by design (exceptions.txt), %d disagree: score %.1f%% (%.1f%% agree to the letter) in %s",
		total, agree, excepted, total-agree-excepted, score, float64(agree)/float64(total)*100, time.Since(start).Round(time.Second))
	sort.Strings(failures)
	for _, f := range failures {
		t.Log("  " + f)
	}
	min := recordedScoreFile(t, "testdata/runconformance/score.txt")
	if score+1e-9 < min {
		t.Errorf("run conformance score %.1f%% fell below the recorded %.1f%% (testdata/runconformance/score.txt)", score, min)
	}
}

func readExceptionsFile(t *testing.T, path string) map[string]string {
	data, err := os.ReadFile(path)
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
			t.Fatalf("%s: %q needs a reason", path, line)
		}
		if _, dup := out[id]; dup {
			t.Fatalf("%s: %s listed twice", path, id)
		}
		out[id] = strings.TrimSpace(reason)
	}
	return out
}

func recordedScoreFile(t *testing.T, path string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// parseRunGolden reads run.txt: "exit: N", then the sections "started (in order, job
// [stage]):", "summary:" and "listed but not started:", each a list of indented lines or
// "(none)".
func parseRunGolden(text string) (*runGolden, error) {
	g := &runGolden{exit: -1, status: map[string]string{}}
	section := ""
	var summary []string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "exit: "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "exit: "))
			if err != nil {
				return nil, fmt.Errorf("run.txt: %q", line)
			}
			g.exit = n
		case strings.HasPrefix(line, "started"):
			section = "started"
		case line == "summary:":
			section = "summary"
		case line == "listed but not started:":
			section = "not started"
		case strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != "(none)":
			item := line[2:]
			switch section {
			case "started":
				i := strings.LastIndex(item, " [")
				if i < 0 || !strings.HasSuffix(item, "]") {
					return nil, fmt.Errorf("run.txt: started %q", item)
				}
				g.started = append(g.started, startedJob{item[:i], item[i+2 : len(item)-1]})
			case "summary":
				summary = append(summary, item)
			case "not started":
				g.notStarted = append(g.notStarted, item)
			}
		}
	}
	if g.exit < 0 {
		return nil, fmt.Errorf("run.txt: no exit line")
	}
	// A summary line is "STATUS  job" with maybe a coverage after the name, or a note:
	// "WARN  job  after_script" (its after_script failed; the job's status is on its own line)
	// and "WARN  Avoid overriding predefined variables …", which names no job.
	for _, line := range summary {
		st, rest, ok := strings.Cut(line, "  ")
		if !ok {
			continue
		}
		best := ""
		for _, s := range g.started {
			if (rest == s.name || strings.HasPrefix(rest, s.name+" ")) && len(s.name) > len(best) {
				best = s.name
			}
		}
		if best == "" || strings.TrimSpace(rest[len(best):]) == "after_script" {
			continue
		}
		g.status[best] = map[string]string{"PASS": "success", "FAIL": "failed", "WARN": "warning"}[st]
	}
	return g, nil
}

// slipwayRun is what `slipway run --json-events` reported.
type slipwayRun struct {
	exit    int
	started []string          // in start order
	status  map[string]string // final status of every job of the pipeline
	stage   map[string]string
	logs    map[string][]string // each job's output lines
	stderr  string
}

func runSlipway(t *testing.T, dir string, flags []string) slipwayRun {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := append([]string{"run", "--concurrency", "1", "--executor", "shell", "--json-events"}, flags...)
	code := Main(ctx, IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Dir: dir}, args)
	r := slipwayRun{exit: code, status: map[string]string{}, stage: map[string]string{}, logs: map[string][]string{}, stderr: stderr.String()}
	if ctx.Err() != nil {
		r.stderr = fmt.Sprintf("timed out after %s; %s", runTimeout, r.stderr)
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var ev struct {
			Type   string `json:"type"`
			Job    string `json:"job"`
			Status string `json:"status"`
			Line   string `json:"line"`
			Jobs   []struct {
				Name   string `json:"name"`
				Stage  string `json:"stage"`
				Status string `json:"status"`
			} `json:"jobs"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		// Names are compared as GitLab writes them (see gitlabName).
		switch ev.Type {
		case "job":
			if ev.Status == "running" {
				r.started = append(r.started, gitlabName(ev.Job))
			}
		case "log":
			r.logs[gitlabName(ev.Job)] = append(r.logs[gitlabName(ev.Job)], ev.Line)
		case "pipeline":
			for _, j := range ev.Jobs {
				r.status[gitlabName(j.Name)] = j.Status
				r.stage[gitlabName(j.Name)] = j.Stage
			}
		}
	}
	return r
}

// runPipelineVariant runs one variant and returns how Slipway disagrees with run.txt.
func runPipelineVariant(t *testing.T, src, exp string, args []string, remote string, changed []string) []string {
	text, err := os.ReadFile(filepath.Join(exp, "run.txt"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseRunGolden(string(text))
	if err != nil {
		t.Fatal(err)
	}
	dir := makeRepo(t, src, remote, changed)
	flags, _ := translateArgs(args)
	r := runSlipway(t, dir, flags)
	diffs := compareRun(g, r, readListJSON(exp), readStages(exp))
	if len(diffs) > 0 && *conformanceVerbose {
		t.Logf("slipway run exit %d, started %q, stderr:\n%s", r.exit, r.started, r.stderr)
		for _, n := range r.started {
			if r.status[n] != "success" {
				t.Logf("%s (%s):\n  %s", n, r.status[n], strings.Join(r.logs[n], "\n  "))
			}
		}
	}
	return diffs
}

// readListJSON reads list.json, keyed by GitLab's job names (nil when absent).
func readListJSON(exp string) map[string]listEntry {
	data, err := os.ReadFile(filepath.Join(exp, "list.json"))
	if err != nil {
		return nil
	}
	var list []listEntry
	if json.Unmarshal(data, &list) != nil {
		return nil
	}
	out := map[string]listEntry{}
	for _, e := range list {
		out[gitlabName(e.Name)] = e
	}
	return out
}

// readStages returns the stage order of preview.yml, .pre first and .post last.
func readStages(exp string) map[string]int {
	order := map[string]int{".pre": -1, ".post": 1 << 20}
	data, err := os.ReadFile(filepath.Join(exp, "preview.yml"))
	if err != nil {
		return order
	}
	m, _ := parseYAML(data).(map[string]any)
	stages, _ := m["stages"].([]any)
	for i, s := range stages {
		if name, ok := s.(string); ok && name != ".pre" && name != ".post" {
			order[name] = i
		}
	}
	return order
}

func compareRun(g *runGolden, r slipwayRun, list map[string]listEntry, stages map[string]int) []string {
	var diffs []string
	if r.exit != g.exit {
		d := fmt.Sprintf("exit %d, want %d", r.exit, g.exit)
		if r.exit != 0 && len(r.status) == 0 {
			d += " (" + firstLine(r.stderr, 0) + ")"
		}
		diffs = append(diffs, d)
	}
	// Which jobs started.
	want := map[string]bool{}
	var wantOrder []string
	stageOf := map[string]string{}
	for _, s := range g.started {
		n := gitlabName(s.name)
		want[n] = true
		wantOrder = append(wantOrder, n)
		stageOf[n] = s.stage
	}
	got := map[string]int{}
	for i, n := range r.started {
		got[n] = i
	}
	var missing, extra []string
	for _, n := range wantOrder {
		if _, ok := got[n]; !ok {
			missing = append(missing, n)
		}
	}
	for _, n := range r.started {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	if len(missing) > 0 {
		diffs = append(diffs, fmt.Sprintf("did not start %q", missing))
	}
	if len(extra) > 0 {
		diffs = append(diffs, fmt.Sprintf("started %q, which gitlab-ci-local did not", extra))
	}
	// Stages of the jobs both started.
	for _, n := range wantOrder {
		if s, ok := r.stage[n]; ok && s != stageOf[n] {
			diffs = append(diffs, fmt.Sprintf("%q in stage %s, want %s", n, s, stageOf[n]))
		}
	}
	// Order, where GitLab defines it: a job starts after the jobs it needs, or without needs
	// after every job of an earlier stage.
	for _, n := range wantOrder {
		i, ok := got[n]
		if !ok {
			continue
		}
		for _, p := range prerequisites(n, wantOrder, stageOf, list, stages) {
			if j, ok := got[p]; ok && j > i {
				diffs = append(diffs, fmt.Sprintf("%q started before its prerequisite %q", n, p))
			}
		}
	}
	// Final statuses.
	for _, s := range g.started {
		n := gitlabName(s.name)
		w, ok := g.status[s.name]
		if !ok {
			continue
		}
		if st, ok := r.status[n]; ok && st != w {
			diffs = append(diffs, fmt.Sprintf("%q %s, want %s", n, st, w))
		}
	}
	// Listed but not started.
	for _, name := range g.notStarted {
		n := gitlabName(name)
		if _, ok := got[n]; ok {
			diffs = append(diffs, fmt.Sprintf("%q ran; gitlab-ci-local did not start it", n))
		}
	}
	return diffs
}

// prerequisites lists the started jobs that job must follow: what it needs (every instance of
// a parallel job; needs naming a matrix instance, another project or pipeline are left out)
// or, without needs, every job of an earlier stage.
func prerequisites(job string, started []string, stageOf map[string]string, list map[string]listEntry, stages map[string]int) []string {
	e, ok := list[job]
	if ok && e.Needs != nil {
		var out []string
		for _, need := range e.Needs {
			name := ""
			switch x := need.(type) {
			case string:
				name = x
			case map[string]any:
				if x["project"] != nil || x["pipeline"] != nil || x["parallel"] != nil {
					continue
				}
				name, _ = x["job"].(string)
			}
			name = baseJob(gitlabName(name))
			for _, s := range started {
				if s == name || baseJob(s) == name {
					out = append(out, s)
				}
			}
		}
		return out
	}
	si, ok := stages[stageOf[job]]
	if !ok {
		return nil
	}
	var out []string
	for _, s := range started {
		if pi, ok := stages[stageOf[s]]; ok && pi < si {
			out = append(out, s)
		}
	}
	return out
}

// TestRunGoldenCompare checks the run.txt reader and the comparison on made-up runs.
func TestRunGoldenCompare(t *testing.T) {
	g, err := parseRunGolden(`exit: 1

started (in order, job [stage]):
  build: [a, b] [build]
  lint job [build]
  test [test]

summary:
  WARN  Avoid overriding predefined variables [CI_JOB_ID] as it can cause the pipeline to behave unexpectedly.
  PASS  build: [a, b]
  PASS  lint job  after_script
  WARN  lint job   12.5% coverage
  FAIL  test

listed but not started:
  deploy
`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"build: [a, b]": "success", "lint job": "warning", "test": "failed"}
	if g.exit != 1 || len(g.started) != 3 || g.started[1] != (startedJob{"lint job", "build"}) || !reflect.DeepEqual(g.status, want) || !reflect.DeepEqual(g.notStarted, []string{"deploy"}) {
		t.Fatalf("parsed %+v", g)
	}
	stages := map[string]int{".pre": -1, "build": 0, "test": 1}
	ok := slipwayRun{exit: 1, started: []string{"lint job", "build: [a,b]", "test"},
		status: map[string]string{"build: [a,b]": "success", "lint job": "warning", "test": "failed", "deploy": "skipped"},
		stage:  map[string]string{"build: [a,b]": "build", "lint job": "build", "test": "test", "deploy": "deploy"}}
	if d := compareRun(g, ok, nil, stages); len(d) != 0 {
		t.Errorf("same run differs: %q", d)
	}
	bad := slipwayRun{exit: 0, started: []string{"test", "build: [a,b]", "deploy"},
		status: map[string]string{"build: [a,b]": "success", "test": "success", "deploy": "success"},
		stage:  map[string]string{"build: [a,b]": "build", "test": "test", "deploy": "deploy"}}
	got := strings.Join(compareRun(g, bad, nil, stages), "\n")
	for _, w := range []string{"exit 0, want 1", `did not start ["lint job"]`, `started ["deploy"]`, `"test" started before its prerequisite "build: [a,b]"`, `"test" success, want failed`, `"deploy" ran`} {
		if !strings.Contains(got, w) {
			t.Errorf("differences lack %q:\n%s", w, got)
		}
	}
	// With needs, only the needed jobs come first.
	list := map[string]listEntry{"test": {Needs: []any{"lint job"}}}
	bad.started = []string{"lint job", "test", "build: [a,b]"}
	if d := strings.Join(compareRun(g, bad, list, stages), "\n"); strings.Contains(d, "prerequisite") {
		t.Errorf("needs not honoured: %s", d)
	}
}
