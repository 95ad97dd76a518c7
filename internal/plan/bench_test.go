package plan_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway/slipway/bench/gen/pipelinegen"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
)

// The benchmarks below measure the in-process cost of what `slipway lint` and `slipway jobs`
// do with the 1000-job pipeline of bench/gen (the same one bench/engine.sh times as whole
// processes), without process start-up, git or output:
//
//	go test ./internal/plan -run '^$' -bench 1000 -benchmem
//
// See bench/README.md.

const benchJobs = 1000

// benchContext is a push of branch main, the default branch, in project bench/big, with every
// otherwise time- or repository-dependent field fixed so runs are comparable.
var benchContext = plan.Context{
	Source:        plan.SourcePush,
	Ref:           "main",
	DefaultBranch: "main",
	SHA:           "0123456789abcdef0123456789abcdef01234567",
	Commit: plan.Commit{
		Message:     "bench pipeline\n",
		AuthorName:  "bench",
		AuthorEmail: "bench@example.test",
		Timestamp:   time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
	},
	Project: plan.Project{Path: "bench/big"},
	Now:     time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
}

// benchPipeline writes the generated pipeline as .gitlab-ci.yml into a fresh directory and
// returns the directory, the file's contents and what the generator says about it.
func benchPipeline(b *testing.B) (dir string, data []byte, st pipelinegen.Stats) {
	b.Helper()
	var buf bytes.Buffer
	st, err := pipelinegen.Generate(&buf, benchJobs)
	if err != nil {
		b.Fatal(err)
	}
	dir = b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pipeline.DefaultFile), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir, buf.Bytes(), st
}

func benchOptions(dir string) pipeline.Options {
	return pipeline.Options{Dir: dir, Project: benchContext.Project.Path, Server: "gitlab.com", SHA: benchContext.SHA}
}

func loadAndPlan(b *testing.B, dir string) *plan.Plan {
	cfg, err := pipeline.Load(context.Background(), benchOptions(dir))
	if err != nil {
		b.Fatal(err)
	}
	p, err := plan.Compile(cfg, benchContext)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// checkPlan fails the benchmark when the plan does not have the jobs the generator says a
// push to the default branch runs: timing a wrong answer is pointless.
func checkPlan(b *testing.B, p *plan.Plan, st pipelinegen.Stats) {
	b.Helper()
	if !p.Created {
		b.Fatalf("no pipeline created: %s", p.Reason.Text)
	}
	if got, want := len(p.Jobs)+len(p.Excluded), st.Defined; got != want {
		b.Fatalf("plan has %d jobs in and %d excluded, %d in all; the generator defined %d",
			len(p.Jobs), len(p.Excluded), got, want)
	}
	if got, want := len(p.Jobs), st.Defined-st.Excluded; got != want {
		b.Fatalf("plan runs %d jobs, excludes %d; the generator expects %d to run (%v)",
			got, len(p.Excluded), want, st)
	}
}

// BenchmarkLoadAndPlan1000 is lint's work: read, parse, resolve and decide the 1000-job pipeline.
func BenchmarkLoadAndPlan1000(b *testing.B) {
	dir, data, st := benchPipeline(b)
	checkPlan(b, loadAndPlan(b, dir), st)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		loadAndPlan(b, dir)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(st.Defined), "ns/job")
}

// BenchmarkParse1000 is the YAML stage alone: pipeline.Parse of the file's bytes.
func BenchmarkParse1000(b *testing.B) {
	_, data, _ := benchPipeline(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := pipeline.Parse(pipeline.DefaultFile, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile1000 is the plan stage alone: plan.Compile of an already loaded configuration.
func BenchmarkCompile1000(b *testing.B) {
	dir, _, st := benchPipeline(b)
	cfg, err := pipeline.Load(context.Background(), benchOptions(dir))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := plan.Compile(cfg, benchContext)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Jobs) != st.Defined-st.Excluded {
			b.Fatalf("plan runs %d jobs, want %d", len(p.Jobs), st.Defined-st.Excluded)
		}
	}
}
