package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestConfigShell(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "runner.yml")
	c := &Config{URL: "http://ci", ID: 1, Token: "t", Executor: "shell",
		Shell: ShellConfig{User: "ci-jobs", InheritEnv: []string{"HTTP_PROXY", "JAVA_*"}}}
	if err := SaveConfig(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Shell.User != "ci-jobs" || !slices.Equal(got.Shell.InheritEnv, c.Shell.InheritEnv) || got.Shell.JobUser() != "ci-jobs" {
		t.Errorf("shell config after a round trip: %+v", got.Shell)
	}

	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("url: http://ci\ntoken: t\nshell:\n  inherit_env:\n    - HTTP_PROXY\n    - SLIPWAY_ADMIN_TOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), bad+":6:7: shell.inherit_env:") || !strings.Contains(err.Error(), "SLIPWAY_ADMIN_TOKEN") {
		t.Errorf("LoadConfig = %v, want %s:6:7: shell.inherit_env: … SLIPWAY_ADMIN_TOKEN", err, bad)
	}
}

func TestJobUserDefault(t *testing.T) {
	t.Parallel()
	want := ""
	if os.Geteuid() == 0 {
		want = "nobody"
	}
	if got := (ShellConfig{}).JobUser(); got != want {
		t.Errorf("JobUser() = %q, want %q for uid %d", got, want, os.Geteuid())
	}
	if got := (ShellConfig{User: "root"}).JobUser(); got != "root" {
		t.Errorf("JobUser() = %q, want root as set", got)
	}
}
