package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/store/sqlite"
)

// BenchmarkJobPage50MB is the server's time for the first response of the job page of a
// finished job with a 50 MB log (test output: plain lines, a coloured command every 20,
// sections of 1,000 lines), on a SQLite store: "cold" when the server has no State of the
// log (the 50 MB before the window are scanned: a log that was not scanned when its job
// finished), "restart" when the States warmLogs saved at the job's end are read back (the
// first view of a finished job's page, also after a restart), "warm" when they are cached
// (any later view: only the tail window is read). The goal is under 20 ms.
func BenchmarkJobPage50MB(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "slipway.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := New(Options{Store: st, Data: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	p := &store.Project{Path: "bench/app", Name: "app", CloneURL: "/nowhere", DefaultBranch: "main", Visibility: store.VisibilityPublic}
	if err := st.CreateProject(ctx, p); err != nil {
		b.Fatal(err)
	}
	spec, _ := json.Marshal(jobapi.NewSpec(&plan.Job{Name: "build", Stage: "test", When: "on_success"}))
	j := &store.Job{Name: "build", Stage: "test", Status: status.Success, Spec: spec, Attempt: 1}
	if err := st.CreatePipeline(ctx, &store.Pipeline{ProjectID: p.ID, Status: status.Success, Ref: "main", SHA: strings.Repeat("a", 40), Source: "push"}, []*store.Job{j}); err != nil {
		b.Fatal(err)
	}
	var size int64
	var chunk strings.Builder
	for i := 1; size < 50<<20; {
		chunk.Reset()
		for chunk.Len() < 1<<20 {
			switch {
			case i%1000 == 0:
				fmt.Fprintf(&chunk, "\x1b[0Ksection_start:%d:step_%d\r\x1b[0K\x1b[36;1mStep %d\x1b[0;m\n", 1700000000+i, i, i)
			case i%1000 == 999:
				fmt.Fprintf(&chunk, "\x1b[0Ksection_end:%d:step_%d\r\x1b[0K\n", 1700000000+i, i-999)
			case i%20 == 0:
				fmt.Fprintf(&chunk, "\x1b[32;1m$ go test ./pkg/%d/...\x1b[0;m\n", i)
			default:
				fmt.Fprintf(&chunk, "ok  \tgithub.com/example/app/internal/pkg%08d\t0.%03ds\tcoverage: 71.3%% of statements\n", i, i%1000)
			}
			i++
		}
		if size, err = st.AppendLog(ctx, j.ID, size, []byte(chunk.String())); err != nil {
			b.Fatal(err)
		}
	}
	h := s.Handler()
	page := fmt.Sprintf("/bench/app/-/jobs/%d", j.ID)
	get := func(b *testing.B) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", page, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `class="lv-log"`) {
			b.Fatalf("job page: %d %.500s", rec.Code, rec.Body.String())
		}
	}
	b.Run("cold", func(b *testing.B) {
		empty := b.TempDir()
		for b.Loop() {
			b.StopTimer()
			s.jobLogs.states = newStateCache(s.o.Limits.LogStates, empty)
			b.StartTimer()
			get(b)
		}
	})
	// What warmLogs does when the job finishes, then views after a restart (nothing cached,
	// the States saved).
	s.jobLogs.states = newStateCache(s.o.Limits.LogStates, filepath.Join(dir, "data", "logstates"))
	if _, _, _, err := s.logWindow(ctx, j.ID, size, true); err != nil {
		b.Fatal(err)
	}
	if err := s.jobLogs.states.save(j.ID); err != nil {
		b.Fatal(err)
	}
	b.Run("restart", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.jobLogs.states = newStateCache(s.o.Limits.LogStates, filepath.Join(dir, "data", "logstates"))
			b.StartTimer()
			get(b)
		}
	})
	b.Run("warm", func(b *testing.B) {
		get(b)
		for b.Loop() {
			get(b)
		}
	})
}
