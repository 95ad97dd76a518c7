package gitrepo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// factsDiff describes how a and b differ, "" when they agree (timestamps by instant and
// offset).
func factsDiff(a, b *Facts) string {
	var d []string
	field := func(name, x, y string) {
		if x != y {
			d = append(d, fmt.Sprintf("%s: %q != %q", name, x, y))
		}
	}
	field("Root", a.Root, b.Root)
	field("Branch", a.Branch, b.Branch)
	field("Tag", a.Tag, b.Tag)
	field("SHA", a.SHA, b.SHA)
	field("BeforeSHA", a.BeforeSHA, b.BeforeSHA)
	field("DefaultBranch", a.DefaultBranch, b.DefaultBranch)
	field("RemoteURL", a.RemoteURL, b.RemoteURL)
	field("ProjectPath", a.ProjectPath, b.ProjectPath)
	field("ServerHost", a.ServerHost, b.ServerHost)
	field("Commit.Message", a.Commit.Message, b.Commit.Message)
	field("Commit.AuthorName", a.Commit.AuthorName, b.Commit.AuthorName)
	field("Commit.AuthorEmail", a.Commit.AuthorEmail, b.Commit.AuthorEmail)
	_, ao := a.Commit.Timestamp.Zone()
	_, bo := b.Commit.Timestamp.Zone()
	if !a.Commit.Timestamp.Equal(b.Commit.Timestamp) || ao != bo {
		d = append(d, fmt.Sprintf("Commit.Timestamp: %v != %v", a.Commit.Timestamp, b.Commit.Timestamp))
	}
	return strings.Join(d, "; ")
}

// writeFile writes content to name under dir, making directories.
func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadDirectAgreesWithGit reads repositories of many shapes both from their files and with
// git, and wants the same Facts; and the files read where the shape is a common one.
func TestReadDirectAgreesWithGit(t *testing.T) {
	t.Parallel()
	const (
		direct   = "direct"   // readDirect must read it
		fallback = "fallback" // readDirect must leave it to git
		either   = "either"   // whichever, as long as the answers agree
	)
	tests := []struct {
		name  string
		setup func(r *testRepo) string // returns the directory to read, "" for the root
		want  string
	}{
		{name: "branch with origin", want: direct, setup: func(r *testRepo) string {
			r.commit("one\n")
			r.commit("two\n\nbody\n")
			r.addOrigin()
			return ""
		}},
		{name: "subdirectory", want: direct, setup: func(r *testRepo) string {
			r.write("a/b/c.txt", "x")
			r.commit("c")
			return "a/b"
		}},
		{name: "through a symbolic link", want: direct, setup: func(r *testRepo) string {
			r.write("a/b.txt", "x")
			r.commit("c")
			if err := os.Symlink(filepath.Join(r.dir, "a"), filepath.Join(r.dir, "link")); err != nil {
				t.Skip(err)
			}
			return "link"
		}},
		{name: "feature branch with a slash", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.addOrigin()
			r.git("checkout", "-q", "-b", "feature/x")
			r.commit("d")
			return ""
		}},
		{name: "detached HEAD", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.commit("d")
			r.git("checkout", "-q", "--detach", "HEAD~1")
			return ""
		}},
		{name: "empty repository", want: direct, setup: func(r *testRepo) string { return "" }},
		{name: "unborn branch, fetched origin", want: direct, setup: func(r *testRepo) string {
			sha := r.commit("c")
			r.git("update-ref", "refs/remotes/origin/main", sha)
			r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
			r.git("update-ref", "-d", "refs/heads/master")
			return ""
		}},
		{name: "unborn branch, dangling origin HEAD", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/gone")
			r.git("update-ref", "-d", "refs/heads/master")
			return ""
		}},
		{name: "dangling origin HEAD", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/gone")
			return ""
		}},
		{name: "origin HEAD not symbolic", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("update-ref", "--no-deref", "refs/remotes/origin/HEAD", "HEAD")
			return ""
		}},
		{name: "merge commit", want: direct, setup: func(r *testRepo) string {
			r.commit("base")
			r.git("checkout", "-q", "-b", "side")
			r.write("side.txt", "s")
			r.commit("side")
			r.git("checkout", "-q", "master")
			r.write("main.txt", "m")
			r.commit("main")
			r.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
			return ""
		}},
		{name: "packed refs and objects", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.commit("d")
			r.addOrigin()
			r.git("tag", "-a", "-m", "release", "v1")
			r.git("tag", "light-old", "HEAD~1")
			r.git("gc", "-q")
			return ""
		}},
		{name: "aggressively packed history", want: either, setup: func(r *testRepo) string {
			for i := range 30 {
				r.write("f.txt", strings.Repeat("line\n", i))
				r.commit(fmt.Sprintf("commit %d with a message long enough to be worth a delta\n", i))
			}
			r.git("tag", "-a", "-m", "release", "v1")
			r.git("gc", "-q", "--aggressive")
			return ""
		}},
		{name: "annotated tag, loose", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "-a", "-m", "release", "v1.0.0")
			return ""
		}},
		{name: "lightweight tag", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "v2")
			return ""
		}},
		{name: "annotated before lightweight", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "a-light")
			r.git("tag", "-a", "-m", "m", "z-annotated")
			return ""
		}},
		{name: "two lightweight tags", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "v-b")
			r.git("tag", "v-a")
			return ""
		}},
		{name: "a tag of a tag", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "-a", "-m", "inner", "inner")
			r.git("tag", "-a", "-m", "outer", "outer", "inner")
			r.git("tag", "-d", "inner")
			return ""
		}},
		{name: "tags elsewhere", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "-a", "-m", "old", "old")
			r.git("tag", "old-light")
			r.commit("d")
			return ""
		}},
		{name: "packed tags, one loose again", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "-a", "-m", "m", "v1")
			r.git("pack-refs", "--all")
			r.commit("d")
			r.git("tag", "-f", "-a", "-m", "moved", "v1")
			return ""
		}},
		{name: "two annotated tags", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "-a", "-m", "older", "b-older")
			r.tick++
			r.git("tag", "-a", "-m", "newer", "a-newer")
			return ""
		}},
		{name: "remote rewritten by insteadOf", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("remote", "add", "origin", "gl:group/name.git")
			r.git("config", "url.https://gitlab.example.com/.insteadOf", "gl:")
			r.git("config", "url.ssh://short/.insteadOf", "g")
			return ""
		}},
		{name: "config written by hand", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			cfg := filepath.Join(r.dir, ".git", "config")
			old, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, cfg, string(old)+"# a comment\r\n[Remote \"origin\"] ; trailing\r\n"+
				"\tURL = \"ssh://git@gitlab.example.com/a b/c.git\" # why not\n"+
				"\tfetch = +refs/heads/*:refs/remotes/origin/*\n"+
				"[url \"https://gitlab.example.com/\\\"q\\\\/\"]\n  insteadOf = ssh://git@gitlab.example.com/a\n"+
				"[url \"\"]\n\tinsteadof = nothing\n[core]\n\tflag\n\tx = \"a\\tb\\\\\\\"\" ; c\n")
			return ""
		}},
		{name: "two origin URLs", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("remote", "add", "origin", "git@gitlab.com:first/one.git")
			r.git("config", "--add", "remote.origin.url", "git@gitlab.com:second/two.git")
			return ""
		}},
		{name: "an origin URL without a value", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("remote", "add", "origin", "git@gitlab.com:first/one.git")
			cfg := filepath.Join(r.dir, ".git", "config")
			old, _ := os.ReadFile(cfg)
			writeFile(t, cfg, string(old)+"[remote \"origin\"]\n\turl\n")
			return ""
		}},
		{name: "config with an include", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			writeFile(t, filepath.Join(r.dir, "extra.cfg"), "[remote \"origin\"]\n\turl = git@gitlab.com:inc/luded.git\n")
			r.git("config", "include.path", "../extra.cfg")
			return ""
		}},
		{name: "config value going on to the next line", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			cfg := filepath.Join(r.dir, ".git", "config")
			old, _ := os.ReadFile(cfg)
			writeFile(t, cfg, string(old)+"[remote \"origin\"]\n\turl = git@gitlab.com:a/\\\nb.git\n")
			return ""
		}},
		{name: "bad config", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			cfg := filepath.Join(r.dir, ".git", "config")
			old, _ := os.ReadFile(cfg)
			writeFile(t, cfg, string(old)+"[remote \"origin\"\n")
			return ""
		}},
		{name: "HEAD as a symbolic link", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			head := filepath.Join(r.dir, ".git", "HEAD")
			if err := os.Remove(head); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("refs/heads/master", head); err != nil {
				t.Skip(err)
			}
			return ""
		}},
		{name: "symbolic ref chain", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("symbolic-ref", "refs/heads/alias", "refs/heads/master")
			r.git("symbolic-ref", "HEAD", "refs/heads/alias")
			return ""
		}},
		{name: "linked work tree", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			wt := filepath.Join(r.dir, "wt")
			r.git("worktree", "add", "-q", "-b", "other", wt)
			return "wt"
		}},
		{name: "shallow clone", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			r.commit("d")
			r.git("clone", "-q", "--depth", "1", "file://"+r.dir, filepath.Join(r.dir, "shallow"))
			return "shallow"
		}},
		{name: "a clone", want: direct, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("tag", "-a", "-m", "m", "v1")
			r.commit("d")
			r.git("clone", "-q", "file://"+r.dir, filepath.Join(r.dir, "clone"))
			return "clone"
		}},
		{name: "worktree config extension", want: fallback, setup: func(r *testRepo) string {
			r.commit("c")
			r.git("config", "extensions.worktreeConfig", "true")
			return ""
		}},
		{name: "replace refs", want: fallback, setup: func(r *testRepo) string {
			first := r.commit("c")
			second := r.commit("d")
			r.git("replace", second, first)
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			dir := r.dir
			if sub := tt.setup(r); sub != "" {
				dir = filepath.Join(r.dir, filepath.FromSlash(sub))
			}
			want, gitErr := read(context.Background(), dir)
			got, ok := readDirect(dir)
			if gitErr != nil {
				// Then Read must fail as git does: the files are not read.
				if ok {
					t.Errorf("read from the files where git fails: %v", gitErr)
				}
				if _, err := Read(context.Background(), dir); err == nil {
					t.Errorf("Read succeeded where git fails: %v", gitErr)
				}
				return
			}
			switch {
			case ok && tt.want == fallback:
				t.Errorf("read from the files; want git to be asked")
			case !ok && tt.want == direct:
				t.Fatalf("left to git; want it read from the files")
			}
			if ok {
				if d := factsDiff(got, want); d != "" {
					t.Errorf("from the files and from git: %s", d)
				}
			}
			f, err := Read(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if d := factsDiff(f, want); d != "" {
				t.Errorf("Read and git: %s", d)
			}
		})
	}
}

// TestReadDirectGlobalConfig reads insteadOf rules from the global config file, as git does.
func TestReadDirectGlobalConfig(t *testing.T) {
	// Not parallel: it sets GIT_CONFIG_GLOBAL for the process.
	r := newRepo(t)
	r.commit("c")
	r.git("remote", "add", "origin", "gl:group/name.git")
	global := filepath.Join(t.TempDir(), "gitconfig")
	writeFile(t, global, "[url \"git@gitlab.example.com:\"]\n\tinsteadOf = gl:\n")
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	want, err := read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if want.RemoteURL != "git@gitlab.example.com:group/name.git" {
		t.Fatalf("git says RemoteURL %q; the test expects the global rule to apply", want.RemoteURL)
	}
	got, ok := readDirect(r.dir)
	if !ok {
		t.Fatal("left to git")
	}
	if d := factsDiff(got, want); d != "" {
		t.Errorf("from the files and from git: %s", d)
	}
	t.Setenv("GIT_CONFIG_PARAMETERS", "'url.x.insteadof'='gl:'")
	if _, ok := readDirect(r.dir); ok {
		t.Error("read from the files with GIT_CONFIG_PARAMETERS set; want git to be asked")
	}
}

// TestReadRunsNoGit is the point of reading the files: a checkout of the usual kind costs no
// process.
func TestReadRunsNoGit(t *testing.T) {
	// Not parallel: it counts every git command the package runs.
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := newRepo(t)
	r.commit("c")
	r.addOrigin()
	r.git("tag", "-a", "-m", "release", "v1.0.0")
	r.git("checkout", "-q", "-b", "feature/x")
	before := gitRuns.Load()
	f, err := Read(context.Background(), r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := gitRuns.Load() - before; n != 0 {
		t.Errorf("Read ran git %d times, want none", n)
	}
	if f.Branch != "feature/x" || f.Tag != "v1.0.0" || f.DefaultBranch != "main" || f.ProjectPath != "gcl/test-project" {
		t.Errorf("Read = %+v", f)
	}
}
