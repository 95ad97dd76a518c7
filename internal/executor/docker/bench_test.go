package docker

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/testenv"
)

// BenchmarkTrueJob is one job's whole overhead: Prepare, Run(`true`) and Cleanup of a job on
// the busybox image with no services, with the three phases also reported apart. Compare
// with `docker run --rm slipway-test/busybox:1 true`.
func BenchmarkTrueJob(b *testing.B) {
	cli := testenv.RequireDocker(b)
	image := testenv.BusyboxImage(b, cli)
	x := newExecutor(b, cli, Options{})
	ctx := context.Background()
	script := executor.Script{Name: "step_script", Commands: []string{"true"}}
	var prepare, run, cleanup time.Duration
	for b.Loop() {
		job := newJob(b, image)
		t0 := time.Now()
		e, err := x.Prepare(ctx, job, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := e.Run(ctx, script, io.Discard); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := e.Cleanup(ctx); err != nil {
			b.Fatal(err)
		}
		prepare, run, cleanup = prepare+t1.Sub(t0), run+t2.Sub(t1), cleanup+time.Since(t2)
	}
	n := float64(b.N) * float64(time.Millisecond)
	b.ReportMetric(float64(prepare)/n, "prepare-ms/op")
	b.ReportMetric(float64(run)/n, "run-ms/op")
	b.ReportMetric(float64(cleanup)/n, "cleanup-ms/op")
}
