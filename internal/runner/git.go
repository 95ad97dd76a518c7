package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/gitcmd"
	"github.com/slipway/slipway/internal/jobapi"
)

// checkout makes dir a fresh checkout of g.SHA with the real git and returns the files git
// tracks there (slash paths), listed before any job ran in it.
//
// dir is never reused: what an earlier job left there (a .git with hooks or an fsmonitor in
// its config, symbolic links) is removed without being followed or read. git works in a new
// directory in stage (a directory of the runner's that one job at a time uses and no job
// sees), which is then renamed to dir; once a job has run in dir, no git process runs there
// again. Every git command runs with
// hooks and fsmonitor off, without the system's or the user's git configuration and without
// the host's GIT_* variables (see gitEnv), so nothing in the repository or on the host makes
// git run code. The job token authenticates the fetch as jobapi.GitUser; it is passed in
// git's environment (GIT_CONFIG_*), never on the command line, on disk or in the log.
func checkout(ctx context.Context, stage, dir string, g jobapi.Git, token string, log io.Writer) ([]string, error) {
	if g.URL == "" || g.SHA == "" {
		return nil, fmt.Errorf("checkout: the job names no git URL or SHA")
	}
	if err := artifact.RemoveTree(dir); err != nil {
		return nil, fmt.Errorf("checkout: clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	// One job at a time uses stage: what a checkout cut short (a crash) left there goes.
	if old, err := filepath.Glob(filepath.Join(stage, ".checkout-*")); err == nil {
		for _, o := range old {
			artifact.RemoveTree(o)
		}
	}
	work, err := os.MkdirTemp(stage, ".checkout-")
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	defer artifact.RemoveTree(work) // gone already once renamed; the runner's alone (0700) until then
	fmt.Fprintf(log, "Created fresh repository.\n")
	if _, err := git(ctx, work, nil, log, "init", "-q", "--template=", "--initial-branch=main"); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	if err := fetch(ctx, work, g, token, log); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "Checking out %s\n", short(g.SHA))
	if _, err := git(ctx, work, nil, log, "checkout", "-f", "-q", "--detach", g.SHA); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	out, err := git(ctx, work, nil, log, "ls-files", "-z")
	if err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	var tracked []string
	for f := range bytes.SplitSeq(out, []byte{0}) {
		if len(f) > 0 {
			tracked = append(tracked, string(f))
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	if err := os.Rename(work, dir); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	// Readable by a container's user, whatever its uid: the directories above say who
	// reaches it on the host (see closeBuildDirs).
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	return tracked, nil
}

func fetch(ctx context.Context, dir string, g jobapi.Git, token string, log io.Writer) error {
	auth := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(jobapi.GitUser+":"+token))
	env := []string{
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=" + auth,
	}
	args := []string{"fetch", "--no-tags", "--no-recurse-submodules", "--quiet"}
	if g.Depth > 0 {
		args = append(args, "--depth", strconv.Itoa(g.Depth))
	}
	fmt.Fprintf(log, "Fetching %s from %s\n", short(g.SHA), g.URL)
	_, err := git(ctx, dir, env, log, append(args, g.URL, g.SHA)...)
	if err != nil && g.Ref != "" && ctx.Err() == nil {
		// A server that refuses wants by SHA still serves the ref.
		fmt.Fprintf(log, "Fetching %s instead\n", g.Ref)
		_, err = git(ctx, dir, env, log, append(args, g.URL, g.Ref)...)
	}
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// gitSafety are the options of every git command the runner runs: no hooks, no fsmonitor.
var gitSafety = []string{"-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"}

// git runs git -C dir args… with gitEnv(env…) and returns its standard output; its warnings
// go to log.
func git(ctx context.Context, dir string, env []string, log io.Writer, args ...string) ([]byte, error) {
	global := append([]string{"-C", dir}, gitSafety...)
	out, stderr, err := gitcmd.Run(ctx, gitEnv(env...), nil, global, args...)
	if err != nil {
		return nil, err
	}
	if s := strings.TrimSpace(stderr); s != "" {
		fmt.Fprintln(log, s)
	}
	return out, nil
}

// gitEnv is the environment of the runner's git commands: gitcmd's stable one, without the
// host's GIT_* variables (which could point git at another repository, or configure it) and
// askpass helpers, with no system or global git configuration (so no credential helper,
// filter driver or hook path of the host's), plus extra.
func gitEnv(extra ...string) []string {
	scrub := map[string]bool{"SSH_ASKPASS": true}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GIT_") {
			scrub[k] = true
		}
	}
	return gitcmd.Env(scrub, append([]string{
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GCM_INTERACTIVE=never",
	}, extra...)...)
}

// untracked lists the files below dir that tracked (as checkout returned it) does not hold,
// slash paths in name order, as `git ls-files -o` lists them for artifacts:untracked and
// cache:untracked: ignored files count, the top .git does not. It runs no git (the job may
// have planted anything in .git) and reads dir beneath an os.Root, listing symbolic links as
// files, never following them.
func untracked(dir string, tracked []string) ([]string, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("list untracked files: %w", err)
	}
	defer r.Close()
	known := make(map[string]bool, len(tracked))
	for _, f := range tracked {
		known[f] = true
	}
	var files []string
	err = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil // unreadable: nothing to list there
		case p == ".git" && d.IsDir():
			return fs.SkipDir
		case !d.IsDir() && !known[p]:
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list untracked files: %w", err)
	}
	return files, nil
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// safeRel turns a project path from the server into a relative path that stays below a
// directory.
func safeRel(p string) string {
	var parts []string
	for _, e := range strings.Split(strings.ReplaceAll(p, `\`, "/"), "/") {
		if e == "" || e == "." || e == ".." {
			continue
		}
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return "project"
	}
	return filepath.Join(parts...)
}
