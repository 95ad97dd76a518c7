package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/runner"
)

func TestRunnerRegister(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req jobapi.RegisterRequest
		if r.URL.Path != jobapi.PathRegister || json.NewDecoder(r.Body).Decode(&req) != nil || req.Token != "reg" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		if req.Executor != "docker" || strings.Join(req.Tags, ",") != "a,b" || !req.RunUntagged || req.Name != "box" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(jobapi.RegisterResponse{ID: 4, Token: "runner-token"})
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "runner.yml")
	out, errOut, code := runCmd(t, t.TempDir(), "runner", "register", "--url", srv.URL, "--token", "reg",
		"--name", "box", "--tags", "a, b", "--run-untagged", "--executor", "docker", "--docker-image", "debian:12", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Registered runner 4") || strings.Contains(out+errOut, "runner-token") {
		t.Errorf("output %q", out)
	}
	c, err := runner.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != 4 || c.Token != "runner-token" || c.Executor != "docker" || c.Docker.Image != "debian:12" {
		t.Errorf("config %+v", c)
	}
	if st, err := os.Stat(cfg); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config file: %v %v", st, err)
	}
	if _, errOut, code := runCmd(t, t.TempDir(), "runner", "register", "--url", srv.URL, "--token", "bad", "--config", cfg); code != exitFail || !strings.Contains(errOut, "403") {
		t.Errorf("bad token: exit %d, %q", code, errOut)
	}
}

func TestRunnerUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{name: "no subcommand", args: []string{"runner"}, code: exitUsage},
		{name: "unknown", args: []string{"runner", "fly"}, code: exitUsage},
		{name: "register without url", args: []string{"runner", "register", "--token", "x"}, code: exitUsage},
		{name: "docker image for a shell runner", args: []string{"runner", "register", "--url", "http://x", "--token", "x", "--docker-image", "debian"}, code: exitUsage},
		{name: "run without config", args: []string{"runner", "run", "--config", filepath.Join(t.TempDir(), "none.yml")}, code: exitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, errOut, code := runCmd(t, t.TempDir(), tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, errOut)
			}
		})
	}
}
