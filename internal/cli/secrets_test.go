package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// The secrets leave the environment once taken: processes started later do not get them.
func TestTakeSecrets(t *testing.T) {
	t.Setenv(envAdminToken, "admin")
	t.Setenv(envDB, "postgres://u:p@h/d")
	t.Setenv("SLIPWAY_OTHER", "kept")
	got := takeSecrets()
	if got[envAdminToken] != "admin" || got[envDB] != "postgres://u:p@h/d" || len(got) != 2 {
		t.Errorf("takeSecrets = %v", got)
	}
	for _, k := range []string{envAdminToken, envDB} {
		if _, ok := os.LookupEnv(k); ok {
			t.Errorf("%s is still in the environment", k)
		}
	}
	if os.Getenv("SLIPWAY_OTHER") != "kept" {
		t.Error("a variable that is no secret was taken")
	}
}

// What HideEnvSecrets hands over through a pipe comes back into the environment, secrets
// only.
func TestReceiveSecrets(t *testing.T) {
	t.Setenv(envAdminToken, "")
	t.Setenv(envSMTPPassword, "")
	t.Setenv("PATH", os.Getenv("PATH"))
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Write(p[1], []byte(envAdminToken+"=a=b\x00"+envSMTPPassword+"=pw\x00PATH=/evil\x00")); err != nil {
		t.Fatal(err)
	}
	syscall.Close(p[1])
	if err := receiveSecrets(strconv.Itoa(p[0])); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(envAdminToken) != "a=b" || os.Getenv(envSMTPPassword) != "pw" || os.Getenv("PATH") == "/evil" {
		t.Errorf("environment after receiving: %q %q PATH=%q", os.Getenv(envAdminToken), os.Getenv(envSMTPPassword), os.Getenv("PATH"))
	}
	for _, bad := range []string{"x", "0", "2"} {
		if err := receiveSecrets(bad); err == nil {
			t.Errorf("receiveSecrets(%q) succeeded", bad)
		}
	}
}

// The data dir is searchable but not listable by others, the SQLite files are the server's
// only, also when they existed with looser modes.
func TestPrivateDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "slipway.db-wal"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := privateDataDir(data, true); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{".": 0o711, "slipway.db": 0o600, "slipway.db-wal": 0o600} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
}
