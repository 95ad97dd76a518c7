package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIncludeProject resolves include:project against the server's own projects, at the
// ref asked for.
func TestIncludeProject(t *testing.T) {
	e := newEnv(t, "include:\n  - project: slipway/lib\n    ref: main\n    file: templates/jobs.yml\n")
	if err := os.MkdirAll(filepath.Join(e.repo, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.commit(map[string]string{"templates/jobs.yml": "from-lib:\n  script: [echo shared]\n"}, "templates")
	e.project("lib", "")
	app := e.project("app", "")
	p := e.trigger(app, "main", nil)
	if got := e.pipeline(p.ID); len(got.Jobs) != 1 || got.Jobs[0].Name != "from-lib" {
		t.Fatalf("jobs of the including pipeline: %+v", got.Jobs)
	}
	// A project the server does not have is a configuration error naming it.
	e.commit(map[string]string{".gitlab-ci.yml": "include:\n  - project: nobody/nothing\n    file: a.yml\n"}, "bad include")
	r := e.api("POST", "/api/v1/projects/2/pipelines", map[string]any{"ref": "main"}, http.StatusBadRequest, nil)
	if !strings.Contains(string(r.body), "nobody/nothing") {
		t.Errorf("error for an unknown project: %s", r)
	}
}
