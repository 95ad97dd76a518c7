package artifact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"github.com/slipway/slipway/internal/plan"
)

// GitLab's default limits for a dotenv report (the plan limits dotenv_size and
// dotenv_variables of its default plan).
const (
	MaxDotenvSize = 5 * 1024
	MaxDotenvVars = 150
	// maxKeyLen is the longest variable name GitLab stores.
	maxDotenvKeyLen = 255
)

// ErrDotenvLimit is returned (wrapped) for a dotenv report over its size or variable limit.
var ErrDotenvLimit = errors.New("dotenv report limit exceeded")

// DotenvLimits bound a dotenv report.
type DotenvLimits struct {
	// Size bounds the report's bytes; zero means MaxDotenvSize.
	Size int64
	// Vars bounds its distinct variables; zero means MaxDotenvVars.
	Vars int
}

func (l DotenvLimits) withDefaults() DotenvLimits {
	if l.Size <= 0 {
		l.Size = MaxDotenvSize
	}
	if l.Vars <= 0 {
		l.Vars = MaxDotenvVars
	}
	return l
}

// ReadDotenv reads the dotenv report name (a path relative to buildDir) as parseDotenv does,
// with limits l. The file is opened beneath an os.Root of buildDir: a name with "..", an
// absolute name or a symbolic link that leaves buildDir is an error, as is anything but a
// regular file, which is not even opened (opening a device can act: a Docker job, root in
// its container, can make one of the host's, such as a watchdog, in its build dir), and no
// more than the size limit (plus one byte) is ever read. jobUID, when not zero, is the uid
// the job ran as, one of its own: a report with more than one link that another uid owns is
// refused, as CollectMax skips such files.
func ReadDotenv(buildDir, name string, jobUID int, l DotenvLimits) ([]plan.Var, error) {
	r, err := os.OpenRoot(buildDir)
	if err != nil {
		return nil, fmt.Errorf("read dotenv: %w", err)
	}
	defer r.Close()
	local := filepath.FromSlash(name)
	if fi, err := r.Stat(local); err != nil {
		return nil, fmt.Errorf("read dotenv: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read dotenv: %s: not a regular file", name)
	}
	f, err := openIn(r, local)
	if err != nil {
		return nil, fmt.Errorf("read dotenv: %w", err)
	}
	defer f.Close()
	if jobUID != 0 {
		if fi, err := f.Stat(); err != nil {
			return nil, fmt.Errorf("read dotenv: %w", err)
		} else if foreignLink(fi, jobUID) {
			return nil, fmt.Errorf("read dotenv: %s: a hard link to a file that the job's user (uid %d) does not own", name, jobUID)
		}
	}
	return parseDotenv(f, l.withDefaults())
}

// DotenvError is a line of a dotenv report that GitLab would reject.
type DotenvError struct {
	Line int // 1-based
	Msg  string
}

func (e *DotenvError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// parseDotenv reads an artifacts:reports:dotenv file as GitLab does
// (Ci::ParseDotenvArtifactService), in file order:
//
//   - Each line is KEY=VALUE, split at the first "="; white space around KEY and VALUE is
//     dropped. Quotes are kept as written: GitLab strips none and has no escapes, so
//     A="x y" gives A the value `"x y"`, quotes included. Values are never expanded here, and
//     are not Raw, as on GitLab.
//   - A key is 1 to 255 ASCII letters, digits and underscores (GitLab allows a leading digit).
//   - A later line for the same key replaces the value (the key keeps its first position).
//   - The file may start with a UTF-8 byte order mark, or be UTF-16 with one (what Windows
//     PowerShell writes); invalid UTF-8 becomes U+FFFD.
//   - Limits: more than l.Size bytes, or more than l.Vars distinct keys, is
//     ErrDotenvLimit. GitLab applies the size limit to the
//     gzip-compressed upload, so this is stricter for large files that compress well.
//
// Unlike GitLab, which rejects them, empty lines and lines starting with # are skipped.
// A malformed line is a *DotenvError with its line number.
func parseDotenv(r io.Reader, l DotenvLimits) ([]plan.Var, error) {
	data, err := io.ReadAll(io.LimitReader(r, l.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read dotenv: %w", err)
	}
	if int64(len(data)) > l.Size {
		return nil, fmt.Errorf("dotenv report larger than %d bytes: %w", l.Size, ErrDotenvLimit)
	}
	text := decodeText(data)
	var vars []plan.Var
	index := map[string]int{}
	for n, line := range strings.Split(text, "\n") {
		if l := rubyStrip(line); l == "" || l[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, &DotenvError{Line: n + 1, Msg: "invalid format: expected KEY=VALUE"}
		}
		key, value = rubyStrip(key), rubyStrip(value)
		if !validDotenvKey(key) {
			return nil, &DotenvError{Line: n + 1, Msg: fmt.Sprintf("invalid key %q: use only letters, digits and _", key)}
		}
		if i, ok := index[key]; ok {
			vars[i].Value = value
			continue
		}
		if len(vars) == l.Vars {
			return nil, fmt.Errorf("dotenv report with more than %d variables: %w", l.Vars, ErrDotenvLimit)
		}
		index[key] = len(vars)
		vars = append(vars, plan.Var{Key: key, Value: value})
	}
	return vars, nil
}

// decodeText returns data as UTF-8 text without a byte order mark.
func decodeText(data []byte) string {
	var order func([]byte) uint16
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		order = func(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		order = func(b []byte) uint16 { return uint16(b[1]) | uint16(b[0])<<8 }
	default:
		return strings.ToValidUTF8(strings.TrimPrefix(string(data), "\ufeff"), "\ufffd")
	}
	data = data[2:]
	units := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		units = append(units, order(data[i:]))
	}
	return string(utf16.Decode(units))
}

// rubyStrip is Ruby's String#strip: it drops ASCII white space and NUL at both ends.
func rubyStrip(s string) string { return strings.Trim(s, " \t\n\v\f\r\x00") }

func validDotenvKey(k string) bool {
	if k == "" || len(k) > maxDotenvKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
