package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// Postgres is a PostgreSQL server of a test's own, in a temporary directory, for tests that
// stop and start their database. The shared server of SLIPWAY_TEST_POSTGRES must never stop:
// other tests use it at the same time.
type Postgres struct {
	t    testing.TB
	bin  string // the directory of initdb and pg_ctl
	dir  string // holds the cluster (data/), its log and its socket
	port int
	// cred runs the server's commands as the postgres user when the test runs as root
	// (PostgreSQL refuses to run as root); nil runs them as this process's user.
	cred *syscall.Credential
}

// StartPostgres makes a cluster (initdb) in a temporary directory and starts it on a free port
// of 127.0.0.1, trusting local connections, with durability off (fsync) for speed. It skips t
// (fails it under CI) when the PostgreSQL server programs are missing, or when the test runs
// as root and there is no postgres user to run them as. The server is stopped and its
// directory removed when t ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		unavailable(t, "%v", err)
	}
	p := &Postgres{t: t, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "running as root, and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parents are private to this user, and the server may run as another.
	if p.dir, err = os.MkdirTemp("", "slipway-pg-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(p.dir) })
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	p.run("initdb", "-D", p.data(), "-U", "slipway", "-A", "trust", "-E", "UTF8", "--no-sync")
	t.Cleanup(func() {
		if p.status() {
			p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop")
		}
	})
	p.Start()
	return p
}

// postgresBin finds the directory of initdb and pg_ctl: on PATH, else Debian's
// /usr/lib/postgresql/VERSION/bin (the newest).
func postgresBin() (string, error) {
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", fmt.Errorf("no PostgreSQL server programs (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
	}
	slices.SortFunc(found, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return va - vb
	})
	return filepath.Dir(found[len(found)-1]), nil
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// DSN is the URL of the server's postgres database, as the user slipway.
func (p *Postgres) DSN() string {
	return fmt.Sprintf("postgres://slipway@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off", p.port, p.dir), "start")
}

// Stop stops the server as an operator does for a restart (pg_ctl stop -m fast): open
// connections are cut, and it waits until the server is down.
func (p *Postgres) Stop() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data(), "-m", "fast", "-w", "stop")
}

// status reports whether the server runs.
func (p *Postgres) status() bool {
	return p.command("pg_ctl", "-D", p.data(), "status").Run() == nil
}

// command is one of the server's programs, run as the server's user.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=" + p.bin + ":/usr/bin:/bin", "LC_ALL=C", "HOME=" + p.dir}
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// run runs one of the server's programs, failing the test (with the server's log) if it fails.
func (p *Postgres) run(name string, args ...string) {
	p.t.Helper()
	// The output goes to a file: a pipe would stay open in the server pg_ctl starts.
	out, err := os.CreateTemp("", "slipway-pg-out-")
	if err != nil {
		p.t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := p.command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, msg, log)
	}
}
