package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Keep the user's and the system's git configuration out of the repositories tests make and
	// of what the package reads.
	os.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	os.Exit(m.Run())
}

// testRepo is a temporary repository whose commits have fixed dates.
type testRepo struct {
	t    testing.TB
	dir  string
	tick int
}

func newRepo(t testing.TB) *testRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &testRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "master")
	r.git("config", "user.email", "ada@example.com")
	r.git("config", "user.name", "Ada Lovelace")
	r.git("config", "commit.gpgsign", "false")
	return r
}

// git runs git in the repository and returns its output, failing the test on error.
func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	date := time.Date(2024, 5, 6, 7, 8, 9+r.tick, 0, time.UTC).Unix()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_DATE=@1700000000 -0500",
		"GIT_COMMITTER_DATE=@"+strconv.FormatInt(date, 10)+" +0200",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *testRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// commit stages everything and commits it with message.
func (r *testRepo) commit(message string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m", message)
	r.tick++
	return r.git("rev-parse", "HEAD")
}

// addOrigin fakes a GitLab remote whose main branch is HEAD.
func (r *testRepo) addOrigin() {
	r.t.Helper()
	r.git("remote", "add", "origin", "git@gitlab.com:gcl/test-project.git")
	r.git("update-ref", "refs/remotes/origin/main", "HEAD")
	r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
}

func TestRead(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write("README.md", "hello\n")
	first := r.commit("Initial commit\n")
	r.write("main.go", "package main\n")
	second := r.commit("Add main\n\nWith a body line.\n")
	r.addOrigin()
	r.git("tag", "-a", "-m", "release", "v1.0.0")
	r.git("checkout", "-q", "-b", "feature/x")

	f, err := Read(context.Background(), filepath.Join(r.dir))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.EvalSymlinks(r.dir)
	gotRoot, _ := filepath.EvalSymlinks(f.Root)
	if gotRoot != root {
		t.Errorf("Root = %q, want %q", f.Root, r.dir)
	}
	check := func(field, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	check("Branch", f.Branch, "feature/x")
	check("Tag", f.Tag, "v1.0.0")
	check("SHA", f.SHA, second)
	check("BeforeSHA", f.BeforeSHA, first)
	check("DefaultBranch", f.DefaultBranch, "main")
	check("RemoteURL", f.RemoteURL, "git@gitlab.com:gcl/test-project.git")
	check("ProjectPath", f.ProjectPath, "gcl/test-project")
	check("ServerHost", f.ServerHost, "gitlab.com")
	check("Commit.Message", f.Commit.Message, "Add main\n\nWith a body line.\n")
	check("Commit.AuthorName", f.Commit.AuthorName, "Ada Lovelace")
	check("Commit.AuthorEmail", f.Commit.AuthorEmail, "ada@example.com")
	want := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	if !f.Commit.Timestamp.Equal(want) {
		t.Errorf("Commit.Timestamp = %v, want %v (the committer date)", f.Commit.Timestamp, want)
	}
	if got := f.Commit.Timestamp.Format(time.RFC3339); got != "2024-05-06T09:08:10+02:00" {
		t.Errorf("Commit.Timestamp = %s, want the committer's zone", got)
	}

	// From a subdirectory, the facts are the same.
	r.write("sub/dir/file.txt", "x")
	sub, err := Read(context.Background(), filepath.Join(r.dir, "sub", "dir"))
	if err != nil {
		t.Fatal(err)
	}
	check("Root from a subdirectory", sub.Root, f.Root)
}

func TestReadFirstCommitDetached(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	sha := r.commit("Only commit")
	r.git("checkout", "-q", "--detach", "HEAD")
	f, err := Read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Branch != "" {
		t.Errorf("Branch = %q, want empty for a detached HEAD", f.Branch)
	}
	if f.SHA != sha || f.BeforeSHA != strings.Repeat("0", 40) {
		t.Errorf("SHA, BeforeSHA = %q, %q; want %q and zeros", f.SHA, f.BeforeSHA, sha)
	}
	if f.Tag != "" || f.RemoteURL != "" || f.ServerHost != "" {
		t.Errorf("Tag, RemoteURL, ServerHost = %q, %q, %q; want empty", f.Tag, f.RemoteURL, f.ServerHost)
	}
	if want := "local/" + filepath.Base(f.Root); f.ProjectPath != want {
		t.Errorf("ProjectPath = %q, want %q", f.ProjectPath, want)
	}
	if f.DefaultBranch != "master" {
		t.Errorf("DefaultBranch = %q, want master (the local branch)", f.DefaultBranch)
	}
	if f.Commit.Message != "Only commit\n" {
		t.Errorf("Commit.Message = %q", f.Commit.Message)
	}
}

func TestReadDefaultBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(r *testRepo)
		want  string
	}{
		{name: "origin HEAD wins", setup: func(r *testRepo) {
			r.git("branch", "main")
			r.git("update-ref", "refs/remotes/origin/trunk", "HEAD")
			r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
		}, want: "trunk"},
		{name: "local main before master", setup: func(r *testRepo) { r.git("branch", "main") }, want: "main"},
		{name: "origin main", setup: func(r *testRepo) {
			r.git("branch", "-m", "master", "work")
			r.git("update-ref", "refs/remotes/origin/main", "HEAD")
		}, want: "main"},
		{name: "master", setup: func(r *testRepo) {}, want: "master"},
		{name: "neither", setup: func(r *testRepo) { r.git("branch", "-m", "master", "work") }, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			r.commit("c")
			tt.setup(r)
			f, err := Read(context.Background(), r.dir)
			if err != nil {
				t.Fatal(err)
			}
			if f.DefaultBranch != tt.want {
				t.Errorf("DefaultBranch = %q, want %q", f.DefaultBranch, tt.want)
			}
		})
	}
}

func TestReadEmptyRepo(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	f, err := Read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Branch != "master" || f.SHA != "" || f.BeforeSHA != strings.Repeat("0", 40) || f.Tag != "" {
		t.Errorf("got %+v, want branch master, no SHA, zero BeforeSHA", f)
	}
	if f.DefaultBranch != "" {
		t.Errorf("DefaultBranch = %q, want empty: no branch exists yet", f.DefaultBranch)
	}
}

func TestReadNotRepo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	_, err := Read(context.Background(), dir)
	if !errors.Is(err, ErrNotRepo) {
		t.Fatalf("Read(non-repo) error = %v, want ErrNotRepo", err)
	}
	if !strings.Contains(err.Error(), "read git repo") {
		t.Errorf("error %q lacks its context", err)
	}
	if _, err := Read(context.Background(), filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrNotRepo) {
		t.Errorf("Read(missing dir) error = %v, want a not-found error", err)
	}
	r := newRepo(t)
	for _, d := range []string{filepath.Join(r.dir, ".git"), filepath.Join(r.dir, ".git", "refs")} {
		if _, err := Read(context.Background(), d); !errors.Is(err, ErrNotRepo) {
			t.Errorf("Read(%s) error = %v, want ErrNotRepo", d, err)
		}
	}
	if _, err := ChangedFiles(context.Background(), dir, "main"); !errors.Is(err, ErrNotRepo) {
		t.Errorf("ChangedFiles(non-repo) error = %v, want ErrNotRepo", err)
	}
	if _, err := Files(context.Background(), dir); !errors.Is(err, ErrNotRepo) {
		t.Errorf("Files(non-repo) error = %v, want ErrNotRepo", err)
	}
}

func TestReadCanceled(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("c")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, r.dir); !errors.Is(err, context.Canceled) {
		t.Errorf("Read(canceled) error = %v, want context.Canceled", err)
	}
}

func TestReadIgnoresGitDirEnv(t *testing.T) {
	// Not parallel: it sets GIT_DIR for the whole process.
	r := newRepo(t)
	sha := r.commit("c")
	other := newRepo(t)
	t.Setenv("GIT_DIR", filepath.Join(other.dir, ".git"))
	f, err := Read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.SHA != sha {
		t.Errorf("SHA = %q, want %q: GIT_DIR leaked into git", f.SHA, sha)
	}
}

func TestChangedFiles(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write(".gitignore", "*.log\n")
	r.write("keep.txt", "same")
	r.write("old name.txt", "rename me")
	r.write("gone.txt", "delete me")
	r.write("docs/edit.md", "v1")
	r.commit("base")
	r.addOrigin()
	r.git("checkout", "-q", "-b", "topic")

	r.git("mv", "old name.txt", "new name.txt")
	r.git("rm", "-q", "gone.txt")
	r.write("docs/edit.md", "v2")
	r.write("src/ünï.go", "package x")
	r.commit("topic work")
	// Meanwhile the target branch moves on: its changes are not the push's.
	r.git("checkout", "-q", "master")
	r.write("upstream.txt", "not ours")
	r.commit("upstream")
	r.git("update-ref", "refs/remotes/origin/main", "HEAD")
	r.git("checkout", "-q", "topic")

	r.write("staged.txt", "s")
	r.git("add", "staged.txt")
	r.write("keep.txt", "changed but not staged")
	r.write("untracked/new.txt", "u")
	r.write("debug.log", "ignored")

	got, err := ChangedFiles(context.Background(), filepath.Join(r.dir, "docs"), "origin/main")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"docs/edit.md", "gone.txt", "keep.txt", "new name.txt", "old name.txt",
		"src/ünï.go", "staged.txt", "untracked/new.txt",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ChangedFiles = %q\nwant %q", got, want)
	}

	if _, err := ChangedFiles(context.Background(), r.dir, "origin/nope"); !errors.Is(err, ErrUnknownRef) {
		t.Errorf("ChangedFiles(unknown base) error = %v, want ErrUnknownRef", err)
	}
}

func TestChangedFilesCleanTree(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write("a.txt", "a")
	r.commit("a")
	got, err := ChangedFiles(context.Background(), r.dir, "master")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("ChangedFiles(HEAD's own branch) = %q, want none", got)
	}
}

func TestChangedFilesUnrelatedHistory(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write("a.txt", "a")
	r.commit("a")
	r.git("checkout", "-q", "--orphan", "other")
	r.git("rm", "-q", "-r", "--cached", ".")
	r.write("b.txt", "b")
	r.git("add", "b.txt")
	r.git("clean", "-q", "-f")
	r.commit("b")
	got, err := ChangedFiles(context.Background(), r.dir, "master")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.txt", "b.txt"}; !slices.Equal(got, want) {
		t.Errorf("ChangedFiles(unrelated) = %q, want %q", got, want)
	}
}

func TestResolveBase(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("c")
	ctx := context.Background()
	tests := []struct {
		name, defaultBranch, compareTo, want string
	}{
		{name: "compare-to wins", defaultBranch: "main", compareTo: "v1.0", want: "v1.0"},
		{name: "no remote branch", defaultBranch: "master", want: "master"},
		{name: "no default", want: ""},
	}
	for _, tt := range tests {
		if got := ResolveBase(ctx, r.dir, tt.defaultBranch, tt.compareTo); got != tt.want {
			t.Errorf("%s: ResolveBase = %q, want %q", tt.name, got, tt.want)
		}
	}
	r.addOrigin()
	if got := ResolveBase(ctx, r.dir, "main", ""); got != "origin/main" {
		t.Errorf("ResolveBase with origin/main = %q, want origin/main", got)
	}
}

func TestFiles(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write(".gitignore", "build/\n")
	r.write("a.txt", "a")
	r.write("dir/b.txt", "b")
	r.write("deleted.txt", "d")
	r.write("with\nnewline.txt", "n")
	r.commit("c")
	r.write("untracked.txt", "u")
	r.write("build/out.bin", "ignored")
	if err := os.Remove(filepath.Join(r.dir, "deleted.txt")); err != nil {
		t.Fatal(err)
	}
	got, err := Files(context.Background(), filepath.Join(r.dir, "dir"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore", "a.txt", "dir/b.txt", "untracked.txt", "with\nnewline.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("Files = %q\nwant %q", got, want)
	}
}
