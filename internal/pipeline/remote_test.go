package pipeline

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestIncludeRemote(t *testing.T) {
	var served atomic.Int32
	var down atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/ci/base.yml", func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		served.Add(1)
		w.Write([]byte(".base:\n  script: [echo remote]\nremote-job:\n  extends: .base\n"))
	})
	mux.HandleFunc("/ci/big.yml", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("x: \"" + strings.Repeat("a", 2048) + "\"\n"))
	})
	mux.HandleFunc("/ci/slow.yml", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/ci/missing.yml", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cache := t.TempDir()
	remote := &Remote{Client: srv.Client(), Timeout: 200 * time.Millisecond, MaxBytes: 1024, CacheDir: cache}
	load := func(t *testing.T, file string) (*Config, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("include:\n  - remote: "+srv.URL+file+"\nlocal-job:\n  extends: .base\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(context.Background(), Options{Dir: dir, Remote: remote})
	}

	t.Run("fetched and merged", func(t *testing.T) {
		cfg, err := load(t, "/ci/base.yml")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Job("remote-job") == nil || cfg.Job("local-job") == nil || cfg.Job("local-job").Script[0] != "echo remote" {
			t.Fatalf("jobs: %+v", cfg.Jobs)
		}
	})
	t.Run("served from cache when the server is down", func(t *testing.T) {
		down.Store(true)
		defer down.Store(false)
		cfg, err := load(t, "/ci/base.yml")
		if err != nil || cfg.Job("remote-job") == nil {
			t.Fatalf("cfg %v, err %v", cfg, err)
		}
	})
	for _, tc := range []struct{ name, file, want string }{
		{"too large", "/ci/big.yml", "file too large"},
		{"timeout", "/ci/slow.yml", "deadline exceeded"},
		{"not found", "/ci/missing.yml", "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file)
			var es Errors
			if !errors.As(err, &es) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), ".gitlab-ci.yml:2:5: include:remote") {
				t.Fatalf("err = %v, want .gitlab-ci.yml:2:5: include:remote … %s", err, tc.want)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("include: "+srv.URL+"/ci/base.yml\n"), 0o644)
		_, err := Load(context.Background(), Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "remote includes are disabled") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestIncludeOffline(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(`include:
  - project: group/other
    file: /ci.yml
  - template: Auto-DevOps.gitlab-ci.yml
  - component: gitlab.com/components/sast/sast@1.0
job:
  script: [x]
`), 0o644)
	_, err := Load(context.Background(), Options{Dir: dir, Project: "team/app", Server: "gitlab.com"})
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i, want := range []string{`.gitlab-ci.yml:2:5: include:project "group/other"`, `.gitlab-ci.yml:4:5: include:template "Auto-DevOps.gitlab-ci.yml"`, `.gitlab-ci.yml:5:5: include:component "gitlab.com/components/sast/sast@1.0"`} {
		if !strings.HasPrefix(es[i].Error(), want) {
			t.Errorf("error %d = %q, want prefix %q", i, es[i], want)
		}
	}
}
