package cli

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/server"
)

func TestLimitFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l server.Limits
	limitFlags(fs, &l)
	if l != server.DefaultLimits() {
		t.Fatalf("unset flags: %+v, want the defaults %+v", l, server.DefaultLimits())
	}
	err := fs.Parse([]string{"--max-config-size", "512KiB", "--max-log-size", "1GiB", "--max-variable-size", "1000",
		"--max-jobs", "500", "--idle-timeout", "30s", "--max-connections", "64"})
	if err != nil {
		t.Fatal(err)
	}
	if l.ConfigSize != 512<<10 || l.LogSize != 1<<30 || l.VariableSize != 1000 || l.Jobs != 500 ||
		l.IdleTimeout != 30*time.Second || l.Connections != 64 || l.Includes != server.DefaultLimits().Includes {
		t.Errorf("parsed %+v", l)
	}
	for _, bad := range []string{"2MB", "-1", "1.5MiB", "MiB", "99999999999GiB"} {
		if err := fs.Parse([]string{"--max-log-size", bad}); err == nil {
			t.Errorf("--max-log-size %s: no error", bad)
		}
	}
}
