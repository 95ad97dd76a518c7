package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/jobapi"
)

// checkout makes dir a checkout of g.SHA with the real git: it reuses a repository left
// there by an earlier job (fetching only what is new), and starts over from an empty
// directory when that fails. The job token authenticates the fetch as jobapi.GitUser; it is
// passed in git's environment (GIT_CONFIG_*), never on the command line, on disk or in log.
func checkout(ctx context.Context, dir string, g jobapi.Git, token string, log io.Writer) error {
	if g.URL == "" || g.SHA == "" {
		return fmt.Errorf("checkout: the job names no git URL or SHA")
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		fmt.Fprintf(log, "Reusing the checkout in %s\n", dir)
		if err := fetchCheckout(ctx, dir, g, token, log); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(log, "Starting over with a fresh checkout\n")
	}
	if err := removeAll(dir); err != nil {
		return fmt.Errorf("checkout: clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	if err := git(ctx, dir, nil, log, "init", "-q"); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	return fetchCheckout(ctx, dir, g, token, log)
}

func fetchCheckout(ctx context.Context, dir string, g jobapi.Git, token string, log io.Writer) error {
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
	err := git(ctx, dir, env, log, append(args, g.URL, g.SHA)...)
	if err != nil && g.Ref != "" && ctx.Err() == nil {
		// A server that refuses wants by SHA still serves the ref.
		fmt.Fprintf(log, "Fetching %s instead\n", g.Ref)
		err = git(ctx, dir, env, log, append(args, g.URL, g.Ref)...)
	}
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	fmt.Fprintf(log, "Checking out %s\n", short(g.SHA))
	if err := git(ctx, dir, nil, log, "checkout", "-f", "-q", "--detach", g.SHA); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	if err := git(ctx, dir, nil, log, "clean", "-ffdxq"); err != nil {
		return fmt.Errorf("clean: %w", err)
	}
	return nil
}

// git runs git in dir with extra environment; its output goes to log.
func git(ctx context.Context, dir string, env []string, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w", args[0], err)
	}
	return nil
}

// untracked lists the files git does not track in dir (for artifacts:untracked and
// cache:untracked), relative to dir.
func untracked(ctx context.Context, dir string) []string {
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-o", "-z")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	var files []string
	for f := range bytes.SplitSeq(out, []byte{0}) {
		if len(f) > 0 {
			files = append(files, string(f))
		}
	}
	return files
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// removeAll removes dir, first making read-only directories below it writable.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
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
