package gitrepo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGitRuns keeps the number of git commands down: each one is a process start, which is
// most of what reading a repository costs.
func TestGitRuns(t *testing.T) {
	// Not parallel: it counts every git command the package runs.
	ctx := context.Background()
	count := func(f func() error) int64 {
		t.Helper()
		before := gitRuns.Load()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return gitRuns.Load() - before
	}
	check := func(name string, got, limit int64) {
		t.Helper()
		if got > limit {
			t.Errorf("%s ran git %d times, want at most %d", name, got, limit)
		}
	}
	repos := map[string]func(r *testRepo){
		"feature branch with origin and tag": func(r *testRepo) {
			r.addOrigin()
			r.git("tag", "-a", "-m", "release", "v1.0.0")
			r.git("checkout", "-q", "-b", "feature/x")
			r.write("b.txt", "b")
			r.commit("b")
			r.write("staged.txt", "s")
			r.git("add", "staged.txt")
			r.write("untracked.txt", "u")
		},
		"detached, no origin, no main or master": func(r *testRepo) {
			r.git("branch", "-m", "master", "work")
			r.git("checkout", "-q", "--detach")
		},
	}
	for name, setup := range repos {
		r := newRepo(t)
		r.write("a.txt", "a")
		r.commit("a")
		setup(r)
		var f *Facts
		check(name+": Read", count(func() (err error) { f, err = Read(ctx, r.dir); return err }), 4)
		base := "HEAD"
		if f.DefaultBranch != "" {
			base = ResolveBase(ctx, r.dir, f.DefaultBranch, "")
		}
		check(name+": ChangedFiles", count(func() error { _, err := ChangedFiles(ctx, r.dir, base); return err }), 3)
		check(name+": Files", count(func() error { _, err := Files(ctx, r.dir); return err }), 1)
	}
	r := newRepo(t)
	check("empty repository: Read", count(func() error { _, err := Read(ctx, r.dir); return err }), 4)
}

func TestReadRemoteURLRewritten(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("c")
	r.git("remote", "add", "origin", "gl:group/name.git")
	r.git("config", "--add", "remote.origin.url", "https://example.com/other.git")
	r.git("config", "url.https://gitlab.example.com/.insteadOf", "gl:")
	r.git("config", "url.ssh://short/.insteadOf", "g") // a shorter prefix loses
	r.git("config", "--add", "url.https://gitlab.example.com/.insteadOf", "other:")
	f, err := Read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	want := r.git("remote", "get-url", "origin")
	if want != "https://gitlab.example.com/group/name.git" {
		t.Fatalf("git remote get-url origin = %q; the test expects another git", want)
	}
	if f.RemoteURL != want || f.ProjectPath != "group/name" || f.ServerHost != "gitlab.example.com" {
		t.Errorf("RemoteURL, ProjectPath, ServerHost = %q, %q, %q; want %q, group/name, gitlab.example.com",
			f.RemoteURL, f.ProjectPath, f.ServerHost, want)
	}
}

func TestReadDefaultBranchEdges(t *testing.T) {
	t.Parallel()
	t.Run("dangling origin HEAD", func(t *testing.T) {
		t.Parallel()
		r := newRepo(t)
		r.commit("c")
		r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/gone")
		f, err := Read(context.Background(), r.dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.DefaultBranch != "gone" {
			t.Errorf("DefaultBranch = %q, want gone (origin/HEAD's target)", f.DefaultBranch)
		}
	})
	t.Run("origin HEAD not symbolic", func(t *testing.T) {
		t.Parallel()
		r := newRepo(t)
		r.commit("c")
		r.git("update-ref", "--no-deref", "refs/remotes/origin/HEAD", "HEAD")
		f, err := Read(context.Background(), r.dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.DefaultBranch != "master" {
			t.Errorf("DefaultBranch = %q, want master", f.DefaultBranch)
		}
	})
	t.Run("unborn branch, fetched origin", func(t *testing.T) {
		t.Parallel()
		r := newRepo(t)
		sha := r.commit("c")
		r.git("update-ref", "refs/remotes/origin/main", sha)
		r.git("update-ref", "-d", "refs/heads/master")
		f, err := Read(context.Background(), r.dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.Branch != "master" || f.SHA != "" || f.DefaultBranch != "main" {
			t.Errorf("Branch, SHA, DefaultBranch = %q, %q, %q; want master, none, main", f.Branch, f.SHA, f.DefaultBranch)
		}
	})
}

func TestReadTagPreference(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("c")
	r.git("tag", "light")
	r.git("tag", "-a", "-m", "older", "b-older")
	r.tick++
	r.git("tag", "-a", "-m", "newer", "c-newer")
	f, err := Read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	// As git describe: annotated before lightweight, then the newest.
	if f.Tag != "c-newer" {
		t.Errorf("Tag = %q, want c-newer", f.Tag)
	}
}

func TestChangedFilesWorkTreeStates(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write("conflict.txt", "base")
	r.write("renamed.txt", "r")
	r.write("sub dir/keep.txt", "k")
	r.commit("base")
	r.git("branch", "other")
	r.write("conflict.txt", "ours")
	r.commit("ours")
	r.git("checkout", "-q", "other")
	r.write("conflict.txt", "theirs")
	r.commit("theirs")
	r.git("checkout", "-q", "master")
	cmd := []string{"-C", r.dir, "merge", "-q", "other"}
	if out, err := gitCmd(cmd...); err == nil {
		t.Fatalf("merge succeeded: %s", out)
	}
	r.git("mv", "renamed.txt", "sub dir/renamed now.txt")
	r.write("intent.txt", "i")
	r.git("add", "-N", "intent.txt")
	r.write("new dir/deep/u.txt", "u")

	got, err := ChangedFiles(context.Background(), r.dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"conflict.txt", "intent.txt", "new dir/deep/u.txt", "renamed.txt", "sub dir/renamed now.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("ChangedFiles = %q\nwant %q", got, want)
	}

	// On an unborn branch, everything staged is new.
	r.git("checkout", "-q", "-f", "master")
	r.git("checkout", "-q", "--orphan", "fresh")
	r.write("untracked.txt", "u")
	got, err = ChangedFiles(context.Background(), r.dir, "master")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"conflict.txt", "new dir/deep/u.txt", "renamed.txt", "sub dir/keep.txt", "untracked.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("ChangedFiles on an unborn branch = %q\nwant %q", got, want)
	}

	for _, base := range []string{"", "^master", "master..other", "-x"} {
		if _, err := ChangedFiles(context.Background(), r.dir, base); err == nil || !strings.Contains(err.Error(), "unknown git ref") {
			t.Errorf("ChangedFiles(%q) error = %v, want ErrUnknownRef", base, err)
		}
	}
}

func TestFilesDeletedAndHidden(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write("gone/a.txt", "a")
	r.write("gone/deeper/b.txt", "b")
	r.write("sparse/c.txt", "c")
	r.write("kept/d.txt", "d")
	r.write("kept/e.txt", "e")
	r.write("kept/sub/f.txt", "f")
	r.commit("c")
	for _, p := range []string{"gone", "kept/e.txt", "kept/sub"} {
		if err := os.RemoveAll(filepath.Join(r.dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	// A directory replaced by a file: what was in it is gone.
	r.write("kept/sub", "now a file")
	// Sparse checkouts leave skip-worktree files out of the work tree; they still count.
	r.git("update-index", "--skip-worktree", "sparse/c.txt")
	if err := os.Remove(filepath.Join(r.dir, "sparse", "c.txt")); err != nil {
		t.Fatal(err)
	}
	want := []string{"kept/d.txt", "kept/sub", "sparse/c.txt"}
	for _, dir := range []string{r.dir, filepath.Join(r.dir, "kept")} {
		got, err := Files(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Files(%s) = %q\nwant %q", dir, got, want)
		}
	}
}

// gitCmd runs git, for commands expected to fail.
func gitCmd(args ...string) (string, error) {
	out, err := exec.Command("git", args...).CombinedOutput()
	return string(out), err
}
