// Package testenv gates tests on outside services (a Docker Engine, PostgreSQL, a headless
// Chromium for browser tests) and builds the small images Docker tests run; it also drives the
// browser for page tests and browser benchmarks (browser.go, browsertiming.go). A missing
// service skips the test with the reason, unless the environment variable CI or
// SLIPWAY_TEST_REQUIRE is set: then it fails the test, so CI never passes by skipping. It owns
// no production code path: only tests import it.
package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Required reports whether gated tests must fail instead of skipping: CI or
// SLIPWAY_TEST_REQUIRE is set to anything but "" or "0" or "false".
func Required() bool {
	for _, k := range []string{"CI", "SLIPWAY_TEST_REQUIRE"} {
		switch strings.ToLower(os.Getenv(k)) {
		case "", "0", "false":
		default:
			return true
		}
	}
	return false
}

// unavailable skips t, or fails it when Required, with the reason.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("testenv: "+format+" (required because CI or SLIPWAY_TEST_REQUIRE is set)", args...)
		return
	}
	t.Skipf("testenv: "+format+" (set CI or SLIPWAY_TEST_REQUIRE to fail instead of skipping)", args...)
}

// RequireDocker returns a client of the Docker Engine named by the environment (DOCKER_HOST,
// …, else the local socket), with the API version negotiated down to the engine's. It skips
// t when no engine answers a ping within 10 s (fails it under CI). The client is closed when
// t ends.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		unavailable(t, "no Docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		unavailable(t, "no Docker Engine answers at %s: %v", cli.DaemonHost(), err)
	}
	return cli
}

// RequirePostgres returns the DSN in SLIPWAY_TEST_POSTGRES (a postgres:// URL or key=value
// pairs). It skips t (fails it under CI) when the variable is empty or nothing listens at the
// DSN's address.
func RequirePostgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SLIPWAY_TEST_POSTGRES")
	if dsn == "" {
		unavailable(t, "SLIPWAY_TEST_POSTGRES is not set (scripts/ensure-postgres.sh prints a DSN)")
	}
	network, addr := postgresAddr(dsn)
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		unavailable(t, "PostgreSQL at %s %s (from SLIPWAY_TEST_POSTGRES) does not answer: %v", network, addr, err)
	}
	_ = conn.Close()
	return dsn
}

// postgresAddr is where a libpq DSN connects: a TCP host:port, or the Unix socket in a
// directory when the host is a path. Multi-host DSNs use their first host.
func postgresAddr(dsn string) (network, addr string) {
	host, port := "localhost", "5432"
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		hp, _, _ := strings.Cut(u.Host, ",")
		if h, p, err := net.SplitHostPort(hp); err == nil {
			host, port = h, p
		} else if hp != "" {
			host = hp
		}
		if h := u.Query().Get("host"); h != "" {
			host = h
		}
		if p := u.Query().Get("port"); p != "" {
			port = p
		}
	} else {
		for _, f := range strings.Fields(dsn) {
			k, v, _ := strings.Cut(f, "=")
			v = strings.Trim(v, "'")
			switch k {
			case "host":
				host, _, _ = strings.Cut(v, ",")
			case "port":
				port, _, _ = strings.Cut(v, ",")
			}
		}
	}
	if strings.HasPrefix(host, "/") {
		return "unix", filepath.Join(host, ".s.PGSQL."+port)
	}
	return "tcp", net.JoinHostPort(host, port)
}

// RequireRoot skips t (fails it under CI, which runs as root) unless this process runs as
// root, for tests that run jobs as another user.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "the test runs jobs as another user, which needs root (uid %d)", os.Geteuid())
	}
}
