// Package gitcmd runs the git binary for the packages that read repositories (gitrepo, the
// user's work tree; gitmirror, the server's mirrors): a stable environment, and errors that
// carry git's message and exit code with the credentials of URLs removed; and what an object
// name looks like. It knows no git command.
package gitcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Error is a failed git command and what it printed on stderr. Its text never holds the
// credentials of a URL given to git.
type Error struct {
	Args   []string
	Code   int // exit code; -1 when git did not run or was killed
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = redact(a)
	}
	return fmt.Sprintf("git %s: %s", strings.Join(args, " "), redactText(msg))
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit code of the git command that returned err, or -1.
func ExitCode(err error) int {
	if ge, ok := errors.AsType[*Error](err); ok {
		return ge.Code
	}
	return -1
}

// redact removes the password (or token) from a URL's user info.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil || u.Scheme == "" {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return u.String()
}

// redactText redacts every URL-looking word of git's messages.
func redactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	words := strings.Fields(s)
	for i, w := range words {
		if strings.Contains(w, "://") {
			words[i] = redact(strings.Trim(w, "'\"`"))
		}
	}
	return strings.Join(words, " ")
}

// Env is this process's environment without the variables in scrub, LC_ALL and LANGUAGE,
// then LC_ALL=C (stable messages), GIT_TERMINAL_PROMPT=0 (never a prompt),
// GIT_OPTIONAL_LOCKS=0 (no index refresh written behind anyone's back) and extra.
func Env(scrub map[string]bool, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !scrub[k] && k != "LC_ALL" && k != "LANGUAGE" {
			env = append(env, kv)
		}
	}
	env = append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	return append(env, extra...)
}

// Run runs git global… args… with env and stdin (nil for none) and returns its standard
// output and what it printed on stderr (its warnings when it succeeds). A failure is an
// *Error naming args, not global (where the repository is).
func Run(ctx context.Context, env []string, stdin io.Reader, global []string, args ...string) (stdout []byte, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "git", append(append([]string(nil), global...), args...)...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = stdin
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	if err := cmd.Run(); err != nil {
		code := -1
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = errors.Join(context.Cause(ctx), err)
		}
		return nil, errBuf.String(), &Error{Args: args, Code: code, Stderr: errBuf.String(), Err: err}
	}
	return outBuf.Bytes(), errBuf.String(), nil
}

// IsOID reports whether s is a full object name (lowercase): 40 (SHA-1) or 64 (SHA-256) hex
// digits.
func IsOID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9') && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
