// Package gitrepo reads facts about a local git repository: its refs, HEAD commit, origin
// remote, and which files exist or changed. It runs the git binary (git -C dir …) and parses its
// machine-readable output; it never changes the repository, its index or its refs.
//
// Starting git is most of what that costs, so each function runs as few git commands as it can
// (Read four, ChangedFiles three, Files one), and those that do not depend on each other side
// by side. Read runs none for a repository of the common kind: it reads HEAD, the refs, the
// HEAD commit and the config files itself (direct.go), and leaves anything unusual to git.
//
// It does not decide what those facts mean for a pipeline: turning them into a plan.Context
// (defaults, --default-branch, pipeline source) is the caller's business.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/slipway/slipway/internal/gitcmd"
)

// Sentinels for errors.Is.
var (
	// ErrNotRepo means the directory is not inside a git work tree.
	ErrNotRepo = errors.New("not a git repository")
	// ErrUnknownRef means a ref or revision given by the caller does not resolve to a commit.
	ErrUnknownRef = errors.New("unknown git ref")
)

// repoEnv are variables that would make git look somewhere other than dir (set, for example,
// when Slipway runs from a git hook); they are removed from git's environment.
var repoEnv = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true, "GIT_OBJECT_DIRECTORY": true,
	"GIT_ALTERNATE_OBJECT_DIRECTORIES": true, "GIT_COMMON_DIR": true, "GIT_NAMESPACE": true,
	"GIT_PREFIX": true,
	// These change what the ":/" pathspec Files passes means.
	"GIT_LITERAL_PATHSPECS": true, "GIT_GLOB_PATHSPECS": true, "GIT_NOGLOB_PATHSPECS": true,
	"GIT_ICASE_PATHSPECS": true,
}

// run runs git -C dir args… and returns its standard output.
func run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	out, _, err := runIO(ctx, dir, nil, args...)
	return out, err
}

// gitRuns counts the git commands run, for tests that keep their number down: each costs a
// process start, which dominates the time these functions take.
var gitRuns atomic.Int64

// runIO runs git -C dir args… with stdin (nil for none) and returns its standard output and
// error, which also holds its warnings when it succeeds.
func runIO(ctx context.Context, dir string, stdin io.Reader, args ...string) (stdout []byte, stderr string, err error) {
	gitRuns.Add(1)
	return gitcmd.Run(ctx, gitcmd.Env(repoEnv), stdin, []string{"-C", dir}, args...)
}

// both runs f and g at the same time and returns when both have. Running git commands that do
// not depend on each other side by side halves the time spent waiting for processes to start.
func both(f, g func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g()
	}()
	f()
	wg.Wait()
}

// line runs git and returns its output without the final newline.
func line(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := run(ctx, dir, args...)
	return strings.TrimSuffix(string(out), "\n"), err
}

// optional runs git for a value that may be absent: a failure with one of the codes given
// (how git says "no such thing") yields "" and no error.
func optional(ctx context.Context, dir string, codes []int, args ...string) (string, error) {
	s, err := line(ctx, dir, args...)
	if err != nil {
		code := gitcmd.ExitCode(err)
		for _, c := range codes {
			if code == c && ctx.Err() == nil {
				return "", nil
			}
		}
		return "", err
	}
	return s, nil
}

// refExists reports whether a full ref name (refs/heads/main) exists.
func refExists(ctx context.Context, dir, ref string) (bool, error) {
	s, err := optional(ctx, dir, []int{1, 128}, "rev-parse", "-q", "--verify", "--end-of-options", ref)
	return s != "", err
}

// checkDir fails unless dir is a directory: git -C would fail with a less clear message, and a
// file is in no work tree.
func checkDir(dir string) error {
	if fi, err := os.Stat(dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: %w", dir, ErrNotRepo)
	}
	return nil
}

// notRepo wraps ErrNotRepo around the error of a git command run outside any work tree.
func notRepo(err error) error {
	// git says so only in words; LC_ALL=C keeps them stable.
	if ge, ok := errors.AsType[*gitcmd.Error](err); ok && ge.Code == 128 &&
		(strings.Contains(ge.Stderr, "not a git repository") || strings.Contains(ge.Stderr, "must be run in a work tree")) {
		return fmt.Errorf("%w: %w", ErrNotRepo, err)
	}
	return err
}

// revParse runs git rev-parse --is-inside-work-tree --show-toplevel args… in dir and returns the
// work tree's root, the lines args printed and what git printed on stderr, or an error wrapping
// ErrNotRepo when dir is in no work tree (including inside .git or a bare repository).
//
// One rev-parse answers several questions, but it stops at the first revision that does not
// resolve: with --revs-only it then prints nothing for it or anything after it (it takes them
// for paths), instead of failing. Callers put the revisions that may be missing last.
func revParse(ctx context.Context, dir string, args ...string) (root string, lines []string, warnings string, err error) {
	if err := checkDir(dir); err != nil {
		return "", nil, "", err
	}
	out, warnings, err := runIO(ctx, dir, nil, append([]string{"rev-parse", "--is-inside-work-tree", "--show-toplevel"}, args...)...)
	if err != nil {
		return "", nil, "", notRepo(err)
	}
	all := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if all[0] != "true" || len(all) < 2 {
		// Inside .git or a bare repository (older git prints "false" and no top level).
		return "", nil, "", fmt.Errorf("%s has no work tree: %w", dir, ErrNotRepo)
	}
	// The top level comes first; it may contain newlines, revisions and ref names do not.
	k := len(all)
	for k > 2 && revLike(all[k-1]) {
		k--
	}
	if root = strings.Join(all[1:k], "\n"); root == "" {
		return "", nil, "", fmt.Errorf("%s has no work tree: %w", dir, ErrNotRepo)
	}
	return root, all[k:], warnings, nil
}

// revLike reports whether rev-parse may have printed s for a revision: an object name, one
// negated, HEAD or a full ref name.
func revLike(s string) bool {
	return gitcmd.IsOID(strings.TrimPrefix(s, "^")) || s == "HEAD" || strings.HasPrefix(s, "refs/")
}

// toplevel returns the work tree's root, or an error wrapping ErrNotRepo when dir is in no work
// tree.
func toplevel(ctx context.Context, dir string) (string, error) {
	root, _, _, err := revParse(ctx, dir)
	return root, err
}

// splitZ splits NUL-terminated git output.
func splitZ(out []byte) []string {
	var list []string
	for _, p := range bytes.Split(out, []byte{0}) {
		if len(p) > 0 {
			list = append(list, string(p))
		}
	}
	return list
}
