package server

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
)

// TestRetention expires artifacts after their expire_in, then whole pipelines (jobs, logs,
// artifact files) after the retention period.
func TestRetention(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, "build:\n  script: [make]\n  artifacts:\n    paths: [out/]\n    expire_in: 1 day\n",
		func(o *Options) { o.Now, o.Retention = clock, 30*24*time.Hour })
	id := e.project("kept", "")
	p := e.trigger(id, "main", nil)
	tok := e.mustRegister("r")
	j := e.claim(tok, "build")
	e.appendLog(j, 0, "made\n")
	if r := e.do("POST", jobapi.PathArtifacts(j.ID)+"?kind=archive", j.Token, []byte("not really a tar.gz"), http.Header{"Content-Type": {"application/gzip"}}); r.status != http.StatusCreated {
		t.Fatalf("upload artifacts: %s", r)
	}
	e.update(j, jobapi.Update{State: status.Success, LogSize: 5})
	files := func() []string {
		m, _ := filepath.Glob(filepath.Join(e.srv.o.Data, "artifacts", "*", "*", "*", "*"))
		return m
	}
	if len(files()) != 1 {
		t.Fatalf("artifact files: %v", files())
	}
	ctx := t.Context()

	advance(25 * time.Hour) // past expire_in: the artifacts go, the pipeline stays
	if err := e.srv.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if len(files()) != 0 {
		t.Errorf("expired artifacts still on disk: %v", files())
	}
	if r := e.do("GET", jobapi.PathArtifacts(j.ID), adminToken, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("expired artifacts: %s", r)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/log", j.ID), adminToken, nil, nil); r.status != http.StatusOK || string(r.body) != "made\n" {
		t.Errorf("log before the retention period: %s", r)
	}

	advance(31 * 24 * time.Hour) // past the retention period: the pipeline goes
	if err := e.srv.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/pipelines/%d", p.ID), adminToken, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("pipeline after the retention period: %s", r)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/log", j.ID), adminToken, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("log after the retention period: %s", r)
	}
}
