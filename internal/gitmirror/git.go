package gitmirror

import (
	"context"
	"strings"

	"github.com/slipway/slipway/internal/gitcmd"
)

// scrubbed are variables that would make git look at another repository than the one given
// (set, for example, when the server runs from a git hook).
var scrubbed = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true, "GIT_OBJECT_DIRECTORY": true,
	"GIT_ALTERNATE_OBJECT_DIRECTORIES": true, "GIT_COMMON_DIR": true, "GIT_NAMESPACE": true,
	"GIT_PREFIX": true, "GIT_CEILING_DIRECTORIES": true,
}

// git runs git --git-dir=dir args… and returns its standard output.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	var global []string
	if dir != "" {
		global = []string{"--git-dir=" + dir}
	}
	// Nobody is there to answer a credential helper's prompt either.
	out, _, err := gitcmd.Run(ctx, gitcmd.Env(scrubbed, "GCM_INTERACTIVE=never"), nil, global, args...)
	return out, err
}

// isZero reports whether s is the all-zeros object name forges send for "no commit".
func isZero(s string) bool {
	return gitcmd.IsOID(s) && strings.Trim(s, "0") == ""
}
