// Package gitrepo reads facts about a local git repository: its refs, HEAD commit, origin
// remote, and which files exist or changed. It runs the git binary (git -C dir …) and parses its
// machine-readable output; it never changes the repository, its index or its refs.
//
// It does not decide what those facts mean for a pipeline: turning them into a plan.Context
// (defaults, --default-branch, pipeline source) is the caller's business.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Sentinels for errors.Is.
var (
	// ErrNotRepo means the directory is not inside a git work tree.
	ErrNotRepo = errors.New("not a git repository")
	// ErrUnknownRef means a ref or revision given by the caller does not resolve to a commit.
	ErrUnknownRef = errors.New("unknown git ref")
)

// gitError is a failed git command, with what it printed on stderr.
type gitError struct {
	args   []string
	code   int // exit code; -1 when git did not run or was killed
	stderr string
	err    error
}

func (e *gitError) Error() string {
	msg := strings.TrimSpace(e.stderr)
	if msg == "" {
		msg = e.err.Error()
	}
	return fmt.Sprintf("git %s: %s", strings.Join(e.args, " "), msg)
}

func (e *gitError) Unwrap() error { return e.err }

// exitCode is the exit code of the git command that returned err, or -1.
func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.code
	}
	return -1
}

// repoEnv are variables that would make git look somewhere other than dir (set, for example,
// when Slipway runs from a git hook); they are removed from git's environment.
var repoEnv = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true, "GIT_OBJECT_DIRECTORY": true,
	"GIT_ALTERNATE_OBJECT_DIRECTORIES": true, "GIT_COMMON_DIR": true, "GIT_NAMESPACE": true,
	"GIT_PREFIX": true,
}

func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if repoEnv[k] || k == "LC_ALL" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	// Stable messages, no prompts, and no index refresh written behind the user's back.
	return append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
}

// run runs git -C dir args… and returns its standard output.
func run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Env = gitEnv()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return nil, &gitError{args: args, code: code, stderr: stderr.String(), err: err}
	}
	return stdout.Bytes(), nil
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
		code := exitCode(err)
		for _, c := range codes {
			if code == c && ctx.Err() == nil {
				return "", nil
			}
		}
		return "", err
	}
	return s, nil
}

// resolve returns the commit a revision names, or "" when it names none.
func resolve(ctx context.Context, dir, rev string) (string, error) {
	return optional(ctx, dir, []int{1, 128}, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
}

// refExists reports whether a full ref name (refs/heads/main) exists.
func refExists(ctx context.Context, dir, ref string) (bool, error) {
	s, err := optional(ctx, dir, []int{1, 128}, "rev-parse", "-q", "--verify", "--end-of-options", ref)
	return s != "", err
}

// toplevel returns the work tree's root, or an error wrapping ErrNotRepo when dir is in no work
// tree (including inside .git or a bare repository).
func toplevel(ctx context.Context, dir string) (string, error) {
	if fi, err := os.Stat(dir); err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s: %w", dir, ErrNotRepo)
	}
	root, err := line(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		// git says so only in words; LC_ALL=C keeps them stable.
		var ge *gitError
		if errors.As(err, &ge) && ge.code == 128 &&
			(strings.Contains(ge.stderr, "not a git repository") || strings.Contains(ge.stderr, "must be run in a work tree")) {
			return "", fmt.Errorf("%w: %w", ErrNotRepo, err)
		}
		return "", err
	}
	if root == "" {
		// Inside .git or a bare repository: no work tree.
		return "", fmt.Errorf("%s has no work tree: %w", dir, ErrNotRepo)
	}
	return root, nil
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
