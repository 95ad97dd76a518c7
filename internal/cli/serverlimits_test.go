package cli

import (
	"flag"
	"io"
	"net/netip"
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
		"--max-jobs", "500", "--idle-timeout", "30s", "--max-connections", "64", "--cache-quota", "1GiB", "--cache-retention", "72h",
		"--max-pipeline-depth", "5", "--max-pipeline-rate", "10"})
	if err != nil {
		t.Fatal(err)
	}
	if l.ConfigSize != 512<<10 || l.LogSize != 1<<30 || l.VariableSize != 1000 || l.Jobs != 500 ||
		l.IdleTimeout != 30*time.Second || l.Connections != 64 || l.Includes != server.DefaultLimits().Includes ||
		l.CacheQuota != 1<<30 || l.CacheAge != 72*time.Hour || l.PipelineDepth != 5 || l.PipelineRate != 10 {
		t.Errorf("parsed %+v", l)
	}
	for _, bad := range []string{"2MB", "-1", "1.5MiB", "MiB", "99999999999GiB"} {
		if err := fs.Parse([]string{"--max-log-size", bad}); err == nil {
			t.Errorf("--max-log-size %s: no error", bad)
		}
	}
}

func TestPrefixFlag(t *testing.T) {
	t.Parallel()
	var v []netip.Prefix
	f := &prefixFlag{&v}
	if err := f.Set("10.1.2.3, 192.168.0.0/16,::1,2001:db8::5/32"); err != nil {
		t.Fatal(err)
	}
	if got := f.String(); got != "10.1.2.3/32,192.168.0.0/16,::1/128,2001:db8::/32" {
		t.Errorf("parsed %s", got)
	}
	for _, bad := range []string{"localhost", "10.0.0.0/33", "1.2.3"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("--metrics-allow %s: no error", bad)
		}
	}
}
