package executor

import (
	"strings"
)

// ScriptText renders a step as the shell script GitLab Runner would run, for bash or a POSIX
// sh alike: stop at the first failing command (with pipefail under bash), and echo each
// command, in green, before running it.
func ScriptText(s Script) string {
	var b strings.Builder
	b.WriteString("set -e\nif [ -n \"${BASH_VERSION:-}\" ]; then set -o pipefail; fi\n")
	for _, cmd := range s.Commands {
		if strings.TrimSpace(cmd) == "" {
			continue
		}
		b.WriteString("printf '%s\\n' " + shellQuote("\x1b[32;1m$ "+echoLine(cmd)+"\x1b[0;m") + "\n")
		b.WriteString(cmd)
		if !strings.HasSuffix(cmd, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// echoLine is how a command is shown: its first line, with " # collapsed multi-line command"
// when it has more, as GitLab Runner shows it.
func echoLine(cmd string) string {
	cmd = strings.TrimRight(cmd, "\n")
	if i := strings.IndexByte(cmd, '\n'); i >= 0 {
		return cmd[:i] + " # collapsed multi-line command"
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellDetect is a sh command line that runs the script file named by its first argument with
// bash when the system has it, else with sh, as GitLab Runner picks a shell.
const ShellDetect = `if command -v bash >/dev/null 2>&1; then exec bash "$0"; else exec sh "$0"; fi`
