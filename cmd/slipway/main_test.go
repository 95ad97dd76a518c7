package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

// gcSettings returns GOGC and the memory limit, leaving them as they are.
func gcSettings() (percent int, limit int64) {
	percent = debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return percent, debug.SetMemoryLimit(-1)
}

// unsetenv unsets the variables for the test; t.Setenv restores them after.
func unsetenv(t *testing.T, keys ...string) {
	for _, k := range keys {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestTuneGC(t *testing.T) {
	// Not parallel: it changes the collector of the test process.
	percent, limit := gcSettings()
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	for _, tt := range []struct {
		name, command, env string
		tuned              bool
	}{
		{name: "jobs", command: "jobs", tuned: true},
		{name: "lint", command: "lint", tuned: true},
		{name: "run is long-lived", command: "run"},
		{name: "server is long-lived", command: "server"},
		{name: "GOGC set", command: "jobs", env: "GOGC"},
		{name: "GOMEMLIMIT set", command: "jobs", env: "GOMEMLIMIT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			unsetenv(t, "GOGC", "GOMEMLIMIT")
			if tt.env != "" {
				t.Setenv(tt.env, "100")
			}
			tuneGC(tt.command)
			gotPercent, gotLimit := gcSettings()
			if tuned := gotPercent == -1 && gotLimit == gcLimit; tuned != tt.tuned {
				t.Errorf("GOGC %d, memory limit %d; want tuned %v", gotPercent, gotLimit, tt.tuned)
			}
		})
	}
}

// TestTuneGCBoundsMemory allocates far more than the limit with the collector tuned: the heap
// must stay near the limit (a huge configuration costs time, not memory).
func TestTuneGCBoundsMemory(t *testing.T) {
	percent, limit := gcSettings()
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	unsetenv(t, "GOGC", "GOMEMLIMIT")
	tuneGC("jobs")
	var keep [][]byte
	peak := uint64(0)
	var ms runtime.MemStats
	for i := range 1024 { // 1 GiB in all, 16 MiB of it live at a time
		b := make([]byte, 1<<20)
		b[0] = byte(i)
		keep = append(keep, b)
		if len(keep) > 16 {
			keep = keep[1:]
		}
		if i%64 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if peak > gcLimit+gcLimit/4 {
		t.Errorf("heap reached %d MiB, want about %d MiB at most", peak>>20, gcLimit>>20)
	}
	if ms.NumGC == 0 {
		t.Error("the collector never ran")
	}
}
