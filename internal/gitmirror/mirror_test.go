package gitmirror

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// source is a repository with a work tree that tests commit to and mirror from.
type source struct {
	t   testing.TB
	dir string
}

// testEnv makes commits reproducible and keeps the user's configuration out.
var testEnv = []string{
	"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
	"GIT_COMMITTER_NAME=Bob", "GIT_COMMITTER_EMAIL=bob@example.com",
	"GIT_AUTHOR_DATE=2024-05-06T07:08:09+02:00", "GIT_COMMITTER_DATE=2024-05-06T07:08:09+02:00",
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
}

func TestMain(m *testing.M) {
	// The mirrors' git commands read no user configuration either.
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	os.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	os.Exit(m.Run())
}

func newSource(t testing.TB) *source {
	t.Helper()
	s := &source{t: t, dir: t.TempDir()}
	s.git("init", "-q", "-b", "main")
	return s
}

func (s *source) git(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", s.dir}, args...)...)
	cmd.Env = append(os.Environ(), testEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content; "" deletes) and commits them, returning the SHA.
func (s *source) commit(msg string, files map[string]string) string {
	s.t.Helper()
	for p, c := range files {
		full := filepath.Join(s.dir, filepath.FromSlash(p))
		if c == "" {
			s.git("rm", "-q", "--", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			s.t.Fatal(err)
		}
		s.git("add", "--", p)
	}
	s.git("commit", "-q", "--allow-empty", "-m", msg)
	return s.git("rev-parse", "HEAD")
}

func newMirrors(t testing.TB) *Mirrors {
	t.Helper()
	m, err := New(filepath.Join(t.TempDir(), "mirrors"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSync(t testing.TB, m *Mirrors, id int64, url string) {
	t.Helper()
	if err := m.Sync(context.Background(), id, url); err != nil {
		t.Fatal(err)
	}
}

func TestSyncResolveCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource(t)
	first := src.commit("first\n\nbody line", map[string]string{"a.txt": "a"})
	src.git("tag", "v1")                     // lightweight
	src.git("tag", "-a", "v1a", "-m", "ann") // annotated: resolves to the commit
	src.git("branch", "feature")
	second := src.commit("second", map[string]string{"b.txt": "b"})
	m := newMirrors(t)
	mustSync(t, m, 7, src.dir)

	for _, tt := range []struct{ rev, want string }{
		{"main", second}, {"refs/heads/main", second}, {"feature", first}, {"v1", first},
		{"v1a", first}, {"refs/tags/v1a", first}, {first, first}, {second[:12], second},
	} {
		got, err := m.Resolve(ctx, 7, tt.rev)
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.rev, got, err, tt.want)
		}
	}
	for _, rev := range []string{"nope", "main~1", "-h", "", strings.Repeat("ab", 20), "main:a.txt", "main..feature"} {
		if _, err := m.Resolve(ctx, 7, rev); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("Resolve(%q) = %v; want ErrUnknownRevision", rev, err)
		}
	}
	if _, err := m.Resolve(ctx, 8, "main"); !errors.Is(err, ErrNoMirror) {
		t.Errorf("Resolve in a project never synced = %v; want ErrNoMirror", err)
	}

	c, err := m.Commit(ctx, 7, first)
	if err != nil {
		t.Fatal(err)
	}
	want := Commit{SHA: first, Message: "first\n\nbody line", AuthorName: "Ada", AuthorEmail: "ada@example.com"}
	wantTime := time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)
	if c.SHA != want.SHA || c.Message != want.Message || c.AuthorName != want.AuthorName ||
		c.AuthorEmail != want.AuthorEmail || !c.Time.Equal(wantTime) {
		t.Errorf("Commit = %+v; want %+v at %v", c, want, wantTime)
	}
	if _, off := c.Time.Zone(); off != 2*3600 {
		t.Errorf("commit time zone offset %d; want the committer's +02:00", off)
	}
	if _, err := m.Commit(ctx, 7, strings.Repeat("0", 40)); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Commit(zeros) = %v; want ErrUnknownRevision", err)
	}
}

func TestSyncPrunesAndFollowsURLChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource(t)
	src.commit("one", map[string]string{"a": "1"})
	src.git("branch", "gone")
	src.git("tag", "old")
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	if _, err := m.Resolve(ctx, 1, "gone"); err != nil {
		t.Fatal(err)
	}
	src.git("branch", "-D", "gone")
	src.git("tag", "-d", "old")
	moved := src.commit("two", map[string]string{"a": "2"})
	mustSync(t, m, 1, "file://"+src.dir) // another spelling of the same repository
	for _, rev := range []string{"gone", "old", "refs/heads/gone"} {
		if _, err := m.Resolve(ctx, 1, rev); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("after the source deleted %q: Resolve = %v; want ErrUnknownRevision", rev, err)
		}
	}
	if got, _ := m.Resolve(ctx, 1, "main"); got != moved {
		t.Errorf("main = %s; want %s", got, moved)
	}

	// The project moves to another repository, with unrelated history.
	other := newSource(t)
	other.git("checkout", "-q", "-b", "trunk")
	sha := other.commit("elsewhere", map[string]string{"x": "x"})
	mustSync(t, m, 1, other.dir)
	if got, err := m.Resolve(ctx, 1, "trunk"); err != nil || got != sha {
		t.Errorf("trunk after the URL changed = %q, %v; want %s", got, err, sha)
	}
	if _, err := m.Resolve(ctx, 1, "main"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("main after the URL changed = %v; want it pruned", err)
	}
	// HEAD follows the new default branch once the old one is gone.
	out, err := git(ctx, m.path(1), "symbolic-ref", "HEAD")
	if err != nil || strings.TrimSpace(string(out)) != "refs/heads/trunk" {
		t.Errorf("HEAD = %q, %v; want refs/heads/trunk", out, err)
	}
}

func TestSyncErrors(t *testing.T) {
	t.Parallel()
	m := newMirrors(t)
	err := m.Sync(context.Background(), 1, filepath.Join(t.TempDir(), "missing"))
	if err == nil {
		t.Fatal("Sync from a missing repository succeeded")
	}
	if err := m.Sync(context.Background(), 1, "--upload-pack=touch /tmp/x"); err == nil {
		t.Fatal("Sync accepted an option as URL")
	}
}

// TestSyncConcurrent: Syncs of one project run one at a time and each sees a fetch that started
// after it was called; different projects do not wait for each other.
func TestSyncConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource(t)
	src.commit("one", map[string]string{"a": "1"})
	m := newMirrors(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			errs <- m.Sync(ctx, int64(i%3), src.dir)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// A commit made after all of them: a Sync called now must see it.
	sha := src.commit("two", map[string]string{"a": "2"})
	for i := range 10 {
		wg.Go(func() {
			if err := m.Sync(ctx, 0, src.dir); err != nil {
				t.Error(err)
				return
			}
			if got, err := m.Resolve(ctx, 0, "main"); err != nil || got != sha {
				t.Errorf("caller %d: main = %q, %v; want %s", i, got, err, sha)
			}
		})
	}
	wg.Wait()
}

// TestSyncCanceledWaiter: a caller that gives up while waiting does not break those that wait
// with it.
func TestSyncCanceledWaiter(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	src.commit("one", map[string]string{"a": "1"})
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	p := m.project(1)
	p.turn <- struct{}{} // a fetch is running
	canceled, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error)
	go func() { leaderDone <- m.Sync(canceled, 1, src.dir) }()
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.next != nil })
	followerDone := make(chan error)
	go func() { followerDone <- m.Sync(context.Background(), 1, src.dir) }()
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Sync = %v; want context.Canceled", err)
	}
	<-p.turn // the running fetch ends
	if err := <-followerDone; err != nil {
		t.Errorf("the Sync that waited with a canceled one: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource(t)
	base := src.commit("one", map[string]string{"a.txt": "1", "dir/b.txt": "2", "c.txt": "3"})
	head := src.commit("two", map[string]string{"a.txt": "changed", "dir/new.txt": "n", "c.txt": ""})
	m := newMirrors(t)
	mustSync(t, m, 3, src.dir)
	got, err := m.Changed(ctx, 3, base, head)
	if want := []string{"a.txt", "c.txt", "dir/new.txt"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Changed = %q, %v; want %q", got, err, want)
	}
	got, err = m.Changed(ctx, 3, head, head)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("Changed(same) = %#v, %v; want an empty list", got, err)
	}
	for _, b := range []string{"", strings.Repeat("0", 40)} {
		if got, err := m.Changed(ctx, 3, b, head); got != nil || err != nil {
			t.Errorf("Changed(%q) = %q, %v; want nil, nil", b, got, err)
		}
	}
	if _, err := m.Changed(ctx, 3, strings.Repeat("1", 40), head); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("Changed from an unknown base = %v; want ErrUnknownRevision", err)
	}
}

func TestIsAncestor(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	one := src.commit("one", map[string]string{"a": "1"})
	two := src.commit("two", map[string]string{"a": "2"})
	src.git("checkout", "-q", "-b", "side", one)
	side := src.commit("side", map[string]string{"b": "1"})
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	ctx := t.Context()
	for _, tt := range []struct {
		name      string
		anc, desc string
		want      bool
		unknown   bool
	}{
		{"itself", two, two, true, false},
		{"parent", one, two, true, false},
		{"child", two, one, false, false},
		{"other branch", side, "refs/heads/main", false, false},
		{"branch name", one, "side", true, false},
		{"unknown commit", strings.Repeat("1", 40), two, false, true},
		{"revision syntax", two + "~1", two, false, true},
	} {
		got, err := m.IsAncestor(ctx, 1, tt.anc, tt.desc)
		switch {
		case tt.unknown && !errors.Is(err, ErrUnknownRevision):
			t.Errorf("%s: err %v, want ErrUnknownRevision", tt.name, err)
		case !tt.unknown && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case got != tt.want:
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBranchesContaining(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	one := src.commit("one", map[string]string{"a": "1"})
	two := src.commit("two", map[string]string{"a": "2"})
	src.git("checkout", "-q", "-b", "side", one)
	side := src.commit("side", map[string]string{"b": "1"})
	m := newMirrors(t)
	mustSync(t, m, 1, src.dir)
	ctx := t.Context()
	for _, tt := range []struct {
		sha  string
		want string
	}{
		{one, "main side"},
		{two, "main"},
		{side, "side"},
	} {
		got, err := m.BranchesContaining(ctx, 1, tt.sha)
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("BranchesContaining(%.8s) = %q, %v; want %q", tt.sha, got, err, tt.want)
		}
	}
	for _, bad := range []string{strings.Repeat("1", 40), "main", two + "~1"} {
		if _, err := m.BranchesContaining(ctx, 1, bad); !errors.Is(err, ErrUnknownRevision) {
			t.Errorf("BranchesContaining(%q): err %v, want ErrUnknownRevision", bad, err)
		}
	}
}
