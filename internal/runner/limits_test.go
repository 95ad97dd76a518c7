package runner

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/status"
)

// TestAttackLogFloodFillsRunnerDisk: a job writes without end; the runner spooled all of it
// until the server cut the log (391 MB seen against the server's 100 MiB), and without a
// server that cuts, for ever. The spool stops at the runner's output_limit, with the notice
// once, and takes the rest without keeping it: the job goes on.
func TestAttackLogFloodFillsRunnerDisk(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	sp, err := newSpool(filepath.Join(t.TempDir(), "log"), 0, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Remove()
	chunk := bytes.Repeat([]byte("flood\n"), 700) // 4200 bytes: the limit falls inside one
	for range 250 {                               // 1 MB
		if n, err := sp.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v: the job's output must still be taken", n, err)
		}
	}
	fi, err := sp.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > limit || sp.Size() != fi.Size() {
		t.Fatalf("spool file %d bytes, log size %d; want at most the limit of %d, and the same", fi.Size(), sp.Size(), limit)
	}
	data, err := os.ReadFile(sp.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	notice := "The log reached the runner's limit of 64 KiB (output_limit) and was cut here"
	if !bytes.HasSuffix(data, sp.notice) || strings.Count(string(data), notice) != 1 {
		t.Errorf("the log does not end with the notice, once: ...%q", data[max(0, len(data)-300):])
	}
	if !bytes.HasPrefix(data, chunk) || len(data) < limit-len(sp.notice)-1 {
		t.Errorf("the log keeps %d bytes of output, want all up to the limit", len(data)-len(sp.notice))
	}
}

// TestAttackLogFloodThroughRunner: the same with a real job on the shell executor: the log
// the server gets ends at the runner's output_limit with the notice, the job runs to its end
// and is reported with the log size the server has.
func TestAttackLogFloodThroughRunner(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	f.job(1, sha, shellJob("flood", "seq 1 300000", "echo the job went on > went-on.txt", "test -s went-on.txt"))
	stop, _ := f.startWith(t, func(o *Options) { o.Config.OutputLimit = 32 })
	var final jobapi.Update
	waitFor(t, 60*time.Second, "the final update", func() bool {
		var ok bool
		f.locked(func() { final, ok = f.finals[1] })
		return ok
	})
	stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	log := f.logs[1]
	if final.State != status.Success {
		t.Fatalf("state %s (%s): the job goes on past the limit; log tail:\n%s", final.State, final.FailureReason, log[max(0, len(log)-300):])
	}
	if len(log) > 32<<10 || final.LogSize != int64(len(log)) {
		t.Errorf("the server has %d bytes, the final update says %d; want at most 32 KiB, and the same", len(log), final.LogSize)
	}
	if !bytes.Contains(log, []byte("limit of 32 KiB (output_limit)")) || bytes.Contains(log, []byte("\n300000\n")) {
		t.Errorf("log tail %q: want the runner's notice and not the end of the output", log[max(0, len(log)-300):])
	}
}

// TestAttackArchiveEntryFlood: an archive of a million empty files (or of names a thousand
// directories deep) is tiny and within any byte limit, and unpacked it uses up the runner's
// inodes. Entries, and the directories names imply, are counted against max_archive_entries.
func TestAttackArchiveEntryFlood(t *testing.T) {
	t.Parallel()
	const limit = 500
	empties := func(n int) []tarEntry {
		var es []tarEntry
		for i := range n {
			es = append(es, tarEntry{hdr: tar.Header{Name: fmt.Sprintf("d/f%d", i), Typeflag: tar.TypeReg}})
		}
		return es
	}
	deep := strings.Repeat("a/", limit) + "f"
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		refused bool
	}{
		{name: "within the limit", entries: empties(limit - 1)}, // and the directory d
		{name: "empty files", entries: empties(limit), refused: true},
		{name: "deep names", entries: []tarEntry{{hdr: tar.Header{Name: deep, Typeflag: tar.TypeReg}}}, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "dst")
			err := extractArchive(bytes.NewReader(makeArchive(t, tc.entries...)), dst, 1<<20, limit)
			if tc.refused != (err != nil) {
				t.Fatalf("extract: %v, want refused %v", err, tc.refused)
			}
			if tc.refused && (!errors.Is(err, errTooManyEntries) || !strings.Contains(err.Error(), "max_archive_entries")) {
				t.Errorf("error %q: want it to name max_archive_entries", err)
			}
			if n := len(listAll(t, dst)); n > limit+1 {
				t.Errorf("%d inodes made, over the limit of %d entries", n, limit)
			}
		})
	}
	if got := (&Config{}).archiveEntries(); got != DefaultMaxArchiveEntries {
		t.Errorf("default limit %d", got)
	}
	if got := (&Config{}).outputLimit(); got != 100<<20 {
		t.Errorf("default output limit %d bytes, want the server's 100 MiB", got)
	}
}

// TestArchiveBytesLimitNamed: an archive over its byte limit is refused with the limit itself
// in the error (not what was left of it when the file that went over came), as
// artifact.ErrTooLarge, to which the runner adds which of its settings that is.
func TestArchiveBytesLimitNamed(t *testing.T) {
	t.Parallel()
	reg := func(name string) tarEntry {
		return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: strings.Repeat("x", 6)}
	}
	dst := filepath.Join(t.TempDir(), "dst")
	err := extractArchive(bytes.NewReader(makeArchive(t, reg("a"), reg("b"))), dst, 10, 100)
	if !errors.Is(err, artifact.ErrTooLarge) || !strings.Contains(err.Error(), "more than the limit of 10 bytes") {
		t.Fatalf("extract 12 bytes with a limit of 10: %v; want artifact.ErrTooLarge naming the limit of 10 bytes", err)
	}
	if msg := tooLarge(err, "max_cache_size").Error(); !strings.Contains(msg, "(the runner's max_cache_size)") {
		t.Errorf("%q: want it to name the runner's setting", msg)
	}
}

// TestDependencyArtifactsTooLarge: the artifacts of a dependency that unpack to more than
// max_artifacts_size fail the job, and the log says which setting bounds them.
func TestDependencyArtifactsTooLarge(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sha := f.repo("app", map[string]string{"README": "x\n"})
	big := strings.Repeat("x", 700<<10)
	f.artifacts[99] = targz(t, map[string]string{"a.bin": big, "b.bin": big})
	j := f.job(1, sha, shellJob("use", "true"))
	j.Dependencies = []jobapi.Dependency{{JobID: 99, Name: "prev", HasArtifacts: true}}
	f.startWith(t, func(o *Options) { o.Config.MaxArtifactsSize = 1 })
	if u := f.final(t, 1); u.State != status.Failed || u.FailureReason != status.RunnerSystemFailure {
		t.Errorf("job: %+v, want failed (runner_system_failure)", u)
	}
	if log := f.logOf(1); !strings.Contains(log, "more than the limit of 1048576 bytes") ||
		!strings.Contains(log, "(the runner's max_artifacts_size)") {
		t.Errorf("the log does not name the limit and its setting:\n%s", log)
	}
}
