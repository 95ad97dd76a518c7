package executortest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/executor"
)

// PIDFile is the file, in the build directory, where the Cancel subtest's script writes the
// PIDs of its shell and of a background process.
const PIDFile = ".slipway-test-pids"

// HostProcesses is a Suite.Leftovers for executors whose scripts are processes of this host:
// it lists the processes named in the job's PIDFile that are still running, as /proc shows
// them (Linux). Zombies count as
// gone: they have been killed and only wait for a parent to reap them.
func HostProcesses(t *testing.T, job *executor.Job) []string {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Log("no /proc: leftover processes not checked")
		return nil
	}
	var left []string
	for _, pid := range pids(t, job) {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue // gone
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		left = append(left, fmt.Sprintf("process %d (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
	}
	return left
}

// pids returns the PIDs in job's PIDFile.
func pids(t *testing.T, job *executor.Job) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(job.BuildDir, PIDFile))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}
