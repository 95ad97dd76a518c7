package jobapi

import (
	"runtime/debug"
	"sync"
)

// MaxRunnerVersion bounds the length of a runner's RunnerVersion, in bytes.
const MaxRunnerVersion = 64

// ProgramVersion is the version of this program, what a runner reports as its
// RunnerVersion: the main module's version ("v1.4.0"), else the commit it was built from
// (the first 12 hex digits, "+dirty" for uncommitted changes), else "devel".
var ProgramVersion = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return truncate(v)
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return truncate(rev[:min(12, len(rev))] + dirty)
})

func truncate(v string) string { return v[:min(len(v), MaxRunnerVersion)] }
