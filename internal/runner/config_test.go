package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/executor/shell"
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
	if got.Shell.User != "ci-jobs" || !slices.Equal(got.Shell.InheritEnv, c.Shell.InheritEnv) || got.Shell.Options().User != "ci-jobs" || got.Shell.Options().UIDs != nil {
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

func TestShellOptions(t *testing.T) {
	t.Parallel()
	o := (ShellConfig{InheritEnv: []string{"HTTP_PROXY"}}).Options()
	if os.Geteuid() == 0 {
		if o.UIDs == nil || *o.UIDs != (shell.UIDRange{}) || o.User != "" {
			t.Errorf("Options() = %+v, want the default uid range for a root runner", o)
		}
	} else if o.UIDs != nil || o.User != "" {
		t.Errorf("Options() = %+v, want the runner's own user", o)
	}
	if !slices.Equal(o.Inherit, []string{"HTTP_PROXY"}) {
		t.Errorf("Options().Inherit = %v", o.Inherit)
	}
	if o := (ShellConfig{UIDBase: 80000, UIDCount: 8}).Options(); o.UIDs == nil || *o.UIDs != (shell.UIDRange{Base: 80000, Count: 8}) {
		t.Errorf("Options() with a range = %+v", o)
	}
	if o := (ShellConfig{User: "root"}).Options(); o.User != "root" || o.UIDs != nil {
		t.Errorf("Options() = %+v, want root as set", o)
	}
}

// A uid range with a user, or a negative one, is an error naming where it is.
func TestConfigUIDRange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"with a user", "shell:\n  user: ci\n  uid_base: 80000\n", ":5:13: shell.uid_base: shell.user"},
		{"negative", "shell:\n  uid_count: -1\n", ":4:14: shell.uid_count: must not be negative"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yml")
		if err := os.WriteFile(path, []byte("url: http://ci\ntoken: t\n"+tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%s: LoadConfig = %v, want %s%s", tc.name, err, path, tc.want)
		}
	}
	path := filepath.Join(dir, "ok.yml")
	if err := os.WriteFile(path, []byte("url: http://ci\ntoken: t\nshell:\n  uid_base: 80000\n  uid_count: 16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadConfig(path); err != nil || c.Shell.UIDBase != 80000 || c.Shell.UIDCount != 16 {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
}
