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
	"os"
	"os/exec"
	"regexp"
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
	return Redact(fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg))
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the exit code of the git command that returned err, or -1.
func ExitCode(err error) int {
	if ge, ok := errors.AsType[*Error](err); ok {
		return ge.Code
	}
	return -1
}

// userinfo matches the user information of URLs in text: scheme, then what comes before the
// last @ ahead of the host's end.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\s]*)@`)

// Redact hides the credentials of every URL in s: the password of user:password@, and the
// whole user of an http(s) URL without a password (https://TOKEN@host is how forges take
// tokens), each replaced by xxxxx. Other users (ssh://git@host) stay.
func Redact(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfo.FindStringSubmatch(m)
		scheme, info := sub[1], sub[2]
		if user, _, ok := strings.Cut(info, ":"); ok {
			return scheme + "://" + user + ":xxxxx@"
		}
		if strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") {
			return scheme + "://xxxxx@"
		}
		return m
	})
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
