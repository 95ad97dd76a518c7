package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// loadFS loads DefaultFile from files (an in-memory repository, as the server reads one
// from its git mirror) with opts.
func loadFS(files map[string]string, opts Options) (*Config, error) {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	opts.FS = fsys
	return Load(context.Background(), opts)
}

// wantLoadError checks that err is Errors whose text has want, and, when pos is set, that
// the first error is at pos ("file:line:col").
func wantLoadError(t *testing.T, err error, pos, want string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %v, want Errors with %q", err, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error:\n%v\nwant it to say %q", err, want)
	}
	if pos != "" && es[0].Pos.String() != pos {
		t.Errorf("error at %s, want %s: %v", es[0].Pos, pos, es[0])
	}
}

// jobs writes n jobs named job1… of one script line each.
func jobs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "job%d:\n  script: echo %d\n", i+1, i+1)
	}
	return b.String()
}

func TestLimitFileSize(t *testing.T) {
	t.Parallel()
	big := "job:\n  script: [" + strings.Repeat("x", 2000) + "]\n" // ~2 KB, and a YAML error beyond
	t.Run("root file, from an FS", func(t *testing.T) {
		t.Parallel()
		_, err := loadFS(map[string]string{DefaultFile: big + ": :"}, Options{MaxFileSize: 1000})
		wantLoadError(t, err, DefaultFile, fmt.Sprintf("the file has %d bytes, more than the limit of 1000", len(big)+3))
	})
	t.Run("root file, from disk", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte(big+": :"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(context.Background(), Options{Dir: dir, MaxFileSize: 1000})
		wantLoadError(t, err, DefaultFile, "more than the limit of 1000")
		// ReadFile (the CLI parses the file early) keeps to the defaults; Load then sees
		// that its limit differs and reads the file again.
		_, err = Load(context.Background(), Options{Dir: dir, MaxFileSize: 1000, Parsed: ReadFile(dir, DefaultFile)})
		wantLoadError(t, err, DefaultFile, "more than the limit of 1000")
	})
	t.Run("included file", func(t *testing.T) {
		t.Parallel()
		_, err := loadFS(map[string]string{DefaultFile: "include: big.yml\nsmall:\n  script: x\n", "big.yml": big}, Options{MaxFileSize: 1000})
		wantLoadError(t, err, ".gitlab-ci.yml:1:10", fmt.Sprintf(`include:local "big.yml": the file has %d bytes, more than the limit of 1000`, len(big)))
	})
	t.Run("project file", func(t *testing.T) {
		t.Parallel()
		project := func(context.Context, string, string, string) ([]byte, error) { return []byte(big), nil }
		_, err := loadFS(map[string]string{DefaultFile: "include:\n  project: g/p\n  file: big.yml\nsmall:\n  script: x\n"},
			Options{MaxFileSize: 1000, ProjectFile: project})
		wantLoadError(t, err, ".gitlab-ci.yml:2:3", fmt.Sprintf(`include "g/p:big.yml": the file has %d bytes, more than the limit of 1000`, len(big)))
	})
	t.Run("the default is 2 MiB", func(t *testing.T) {
		t.Parallel()
		pad := "# " + strings.Repeat("x", DefaultMaxFileSize) + "\n"
		if _, err := loadFS(map[string]string{DefaultFile: jobs(1) + pad[:DefaultMaxFileSize-len(jobs(1))]}, Options{}); err != nil {
			t.Fatalf("a file of exactly 2 MiB: %v", err)
		}
		_, err := loadFS(map[string]string{DefaultFile: jobs(1) + pad}, Options{})
		wantLoadError(t, err, DefaultFile, fmt.Sprintf("more than the limit of %d", DefaultMaxFileSize))
	})
}

func TestLimitDepth(t *testing.T) {
	t.Parallel()
	// nested is a job whose variables hold a value nested in lists: n levels with the file's
	// mapping, the job's and its variables'.
	nested := func(n int) string {
		return "job:\n  script: x\n  variables:\n    V: " + strings.Repeat("[", n-3) + "x" + strings.Repeat("]", n-3) + "\n"
	}
	tests := []struct {
		name, src string
		max       int
		pos, want string
	}{
		{name: "100 levels", src: nested(100)},
		{name: "101 levels", src: nested(101), pos: ".gitlab-ci.yml:4:105", want: "nested more than 100 levels deep"},
		{name: "a set limit", src: nested(6), max: 5, pos: ".gitlab-ci.yml:4:10", want: "nested more than 5 levels deep"},
		{
			// The anchored list is 3 levels; used three levels down it makes 6.
			name: "through an alias", max: 5,
			src: ".a: &a [[[x]]]\njob:\n  script: x\n  variables:\n    V: *a\n",
			pos: ".gitlab-ci.yml:5:8", want: "nested more than 5 levels deep",
		},
		{name: "an alias that fits", max: 6, src: ".a: &a [[[x]]]\njob:\n  script: x\n  variables:\n    V: *a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadFS(map[string]string{DefaultFile: tt.src}, Options{MaxDepth: tt.max})
			switch {
			case tt.pos == "":
				// Deep, but within the limit: only the value's type is wrong.
				if err == nil || strings.Contains(err.Error(), "levels deep") {
					t.Fatalf("error %v, want one about the value only", err)
				}
			default:
				wantLoadError(t, err, tt.pos, tt.want)
			}
		})
	}
}

func TestLimitIncludes(t *testing.T) {
	t.Parallel()
	files := map[string]string{}
	var root strings.Builder
	root.WriteString("include:\n")
	for i := range DefaultMaxIncludes + 1 {
		name := fmt.Sprintf("ci/%03d.yml", i)
		files[name] = fmt.Sprintf("job%d:\n  script: x\n", i)
		fmt.Fprintf(&root, "  - %s\n", name)
	}
	files[DefaultFile] = root.String()
	_, err := loadFS(files, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:152:5", `include "ci/150.yml": more than 150 included files (the limit)`)
	if _, err := loadFS(files, Options{MaxIncludes: DefaultMaxIncludes + 1}); err != nil {
		t.Errorf("with MaxIncludes 151: %v", err)
	}
}

func TestLimitJobs(t *testing.T) {
	t.Parallel()
	t.Run("one file", func(t *testing.T) {
		t.Parallel()
		_, err := loadFS(map[string]string{DefaultFile: jobs(DefaultMaxJobs + 1)}, Options{})
		wantLoadError(t, err, ".gitlab-ci.yml:4001:1", "more than 2000 jobs (the limit) are defined")
		if _, err := loadFS(map[string]string{DefaultFile: jobs(DefaultMaxJobs)}, Options{}); err != nil {
			t.Errorf("2000 jobs: %v", err)
		}
	})
	t.Run("hidden jobs and globals do not count", func(t *testing.T) {
		t.Parallel()
		src := "variables: {A: b}\nstages: [test]\n.hidden:\n  script: x\n" + jobs(3)
		if _, err := loadFS(map[string]string{DefaultFile: src}, Options{MaxJobs: 3}); err != nil {
			t.Errorf("3 jobs with MaxJobs 3: %v", err)
		}
	})
	t.Run("a file stops before its includes are read", func(t *testing.T) {
		t.Parallel()
		_, err := loadFS(map[string]string{DefaultFile: "include: missing.yml\n" + jobs(4)}, Options{MaxJobs: 3})
		wantLoadError(t, err, ".gitlab-ci.yml:8:1", "more than 3 jobs")
		if strings.Contains(err.Error(), "missing.yml") {
			t.Errorf("the include was read: %v", err)
		}
	})
	t.Run("files merged", func(t *testing.T) {
		t.Parallel()
		files := map[string]string{DefaultFile: "include: [a.yml]\n" + jobs(2), "a.yml": "other1:\n  script: x\nother2:\n  script: x\n"}
		_, err := loadFS(files, Options{MaxJobs: 3})
		wantLoadError(t, err, "", "more than 3 jobs (the limit)")
		// A job an include defines and the file overrides counts once.
		files["a.yml"] = jobs(1)
		if _, err := loadFS(files, Options{MaxJobs: 3}); err != nil {
			t.Errorf("overridden job counted twice: %v", err)
		}
	})
}

func TestLimitVariableSize(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 101)
	tests := []struct {
		name, src, pos string
	}{
		{name: "top level", src: "variables:\n  LONG: " + long + "\n" + jobs(1), pos: ".gitlab-ci.yml:2:9"},
		{name: "a job's", src: "job:\n  script: x\n  variables:\n    LONG: " + long + "\n", pos: ".gitlab-ci.yml:4:11"},
		{name: "expanded form", src: "variables:\n  LONG:\n    value: " + long + "\n" + jobs(1), pos: ".gitlab-ci.yml:3:5"},
		{name: "in rules", src: "job:\n  script: x\n  rules:\n    - variables: {LONG: " + long + "}\n", pos: ".gitlab-ci.yml:4:25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadFS(map[string]string{DefaultFile: tt.src}, Options{MaxVariableSize: 100})
			wantLoadError(t, err, tt.pos, "variables:LONG: the value has 101 bytes, more than the limit of 100")
			if _, err := loadFS(map[string]string{DefaultFile: tt.src}, Options{MaxVariableSize: 101}); err != nil {
				t.Errorf("at the limit: %v", err)
			}
		})
	}
	_, err := loadFS(map[string]string{DefaultFile: "variables:\n  BIG: " + strings.Repeat("v", DefaultMaxVariableSize+1) + "\n" + jobs(1)}, Options{})
	wantLoadError(t, err, ".gitlab-ci.yml:2:8", "more than the limit of 131072")
}

// hugeConfig is the attack's configuration: 58,000 jobs in about 10 MB.
func hugeConfig() string {
	var b strings.Builder
	for i := range 58000 {
		fmt.Fprintf(&b, "job_%05d:\n  stage: test\n  variables:\n    PART: \"%05d\"\n  script:\n    - echo building part $PART of the project, with its tests and its documentation\n  tags: [linux, docker]\n", i, i)
	}
	return b.String()
}

// allocated returns the bytes fn allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestAttackHugeConfig: a 10 MB configuration with 58,000 jobs (43 s and 2.4 GB of server
// before the limits) is refused with a clear error before it is read, whether it comes from
// a git tree (the server) or from disk (slipway lint); one at the size limit that defines too
// many jobs is refused once parsed, before anything else is done to its jobs.
func TestAttackHugeConfig(t *testing.T) {
	src := hugeConfig()
	if len(src) < 10e6 {
		t.Fatalf("the attack's file has %d bytes, want 10 MB", len(src))
	}
	fsys := fstest.MapFS{DefaultFile: &fstest.MapFile{Data: []byte(src)}}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"from a git tree", Options{FS: fsys}},
		{"from disk", Options{Dir: dir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = Load(context.Background(), c.opts) })
			wantLoadError(t, err, DefaultFile, fmt.Sprintf("the file has %d bytes, more than the limit of %d", len(src), DefaultMaxFileSize))
			if n > 64<<10 {
				t.Errorf("refusing it allocated %d bytes, want under 64 KiB", n)
			}
		})
	}
	t.Run("2 MiB of jobs", func(t *testing.T) {
		cut := strings.LastIndex(src[:DefaultMaxFileSize], "job_")
		fsys := fstest.MapFS{DefaultFile: &fstest.MapFile{Data: []byte(src[:cut])}}
		var err error
		n := allocated(func() { _, err = Load(context.Background(), Options{FS: fsys}) })
		wantLoadError(t, err, ".gitlab-ci.yml:14001:1", "more than 2000 jobs (the limit) are defined")
		// Parsing is all it costs: about 40 bytes per byte of YAML, most of it in the YAML
		// library's own tree.
		if n > 120<<20 {
			t.Errorf("refusing it allocated %d MiB, want under 120 MiB", n>>20)
		}
		t.Logf("refusing 2 MiB of %d jobs allocated %d MiB", strings.Count(src[:cut], "job_"), n>>20)
	})
}
