package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gitError is a failed git command and what it printed on stderr. Its text never holds the
// credentials of a URL given to git.
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
	args := make([]string, len(e.args))
	for i, a := range e.args {
		args[i] = redact(a)
	}
	return fmt.Sprintf("git %s: %s", strings.Join(args, " "), redactText(msg))
}

func (e *gitError) Unwrap() error { return e.err }

// exitCode is the exit code of the git command that returned err, or -1.
func exitCode(err error) int {
	if ge, ok := errors.AsType[*gitError](err); ok {
		return ge.code
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

// scrubbed are variables that would make git look at another repository than the one given
// (set, for example, when the server runs from a git hook).
var scrubbed = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true, "GIT_OBJECT_DIRECTORY": true,
	"GIT_ALTERNATE_OBJECT_DIRECTORIES": true, "GIT_COMMON_DIR": true, "GIT_NAMESPACE": true,
	"GIT_PREFIX": true, "GIT_CEILING_DIRECTORIES": true, "LC_ALL": true, "LANGUAGE": true,
}

func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !scrubbed[k] {
			env = append(env, kv)
		}
	}
	// Stable messages, never a prompt (nobody is there to answer it).
	return append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "GCM_INTERACTIVE=never")
}

// git runs git --git-dir=dir args… and returns its standard output.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	full := args
	if dir != "" {
		full = append([]string{"--git-dir=" + dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = gitEnv()
	cmd.WaitDelay = 5 * time.Second
	var out, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errBuf
	if err := cmd.Run(); err != nil {
		code := -1
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = errors.Join(context.Cause(ctx), err)
		}
		return nil, &gitError{args: args, code: code, stderr: errBuf.String(), err: err}
	}
	return out.Bytes(), nil
}

// IsOID reports whether s is a full object name (lowercase): 40 (SHA-1) or 64 (SHA-256) hex digits.
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

// isZero reports whether s is the all-zeros object name forges send for "no commit".
func isZero(s string) bool {
	return IsOID(s) && strings.Trim(s, "0") == ""
}
