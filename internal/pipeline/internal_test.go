package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// panicFS panics when the file named broken is opened, as a buggy fs.FS given in Options
// would.
type panicFS struct {
	fstest.MapFS
	broken string
}

func (f panicFS) Open(name string) (fs.File, error) {
	if name == f.broken {
		panic("injected panic")
	}
	return f.MapFS.Open(name)
}

// TestLoadPanicIsAnInternalError injects a panic at each place where Load calls code it was
// given (the repository's files, include:rules, include:project) and checks that Load
// returns an *InternalError naming the file and position it was reading, with the stack kept
// apart from the message.
func TestLoadPanicIsAnInternalError(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		DefaultFile: {Data: []byte("include:\n  - local: ci/a.yml\n  - local: ci/b.yml\n    rules:\n      - exists: [Makefile]\n  - project: group/lib\n    file: lib.yml\njob:\n  script: x\n")},
		"ci/a.yml":  {Data: []byte("a:\n  script: a\n")},
		"ci/b.yml":  {Data: []byte("b:\n  script: b\n")},
	}
	ok := func(context.Context, string, string, string) ([]byte, error) {
		return []byte("lib:\n  script: l\n"), nil
	}
	tests := []struct {
		name    string
		opts    Options
		wantPos string
	}{
		{
			name:    "the root file",
			opts:    Options{FS: panicFS{files, DefaultFile}, ProjectFile: ok},
			wantPos: ".gitlab-ci.yml: ",
		},
		{
			name:    "an included file",
			opts:    Options{FS: panicFS{files, "ci/a.yml"}, ProjectFile: ok},
			wantPos: ".gitlab-ci.yml:2:5: ",
		},
		{
			name: "include:rules:exists",
			opts: Options{FS: files, ProjectFile: ok, Rules: &RuleEnv{
				Vars:   func(string) (string, bool) { return "", false },
				Exists: func(string) bool { panic("injected panic") },
			}},
			wantPos: ".gitlab-ci.yml:5:9: ",
		},
		{
			name: "include:project",
			opts: Options{FS: files, ProjectFile: func(_ context.Context, project, _, _ string) ([]byte, error) {
				return []byte{}[len(project):], nil // a runtime error, as a bug would make
			}},
			wantPos: ".gitlab-ci.yml:6:5: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(context.Background(), tt.opts)
			var ie *InternalError
			if !errors.As(err, &ie) || cfg != nil {
				t.Fatalf("Load = %v, %v; want an *InternalError", cfg, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantPos+"internal error while reading this") {
				t.Errorf("error %q, want it at %q", msg, tt.wantPos)
			}
			if !strings.HasSuffix(msg, fmt.Sprint(ie.Value)) || strings.Contains(msg, "goroutine") {
				t.Errorf("error %q: want the panic's value and no stack", msg)
			}
			if !strings.Contains(string(ie.Stack), "goroutine") {
				t.Errorf("no stack kept: %q", ie.Stack)
			}
		})
	}
}

// TestReadFilePanicIsAnInternalError: ReadFile runs beside other work (the CLI reads git
// meanwhile); a panic in it is kept in File.Err, and Load returns it.
func TestReadFilePanicIsAnInternalError(t *testing.T) {
	t.Parallel()
	f := &File{Name: DefaultFile, Err: Recovered(Pos{File: DefaultFile}, "injected panic"), opts: withDefaults(Options{})}
	_, err := Load(context.Background(), Options{Dir: t.TempDir(), Parsed: f})
	var ie *InternalError
	if !errors.As(err, &ie) || ie.Pos.File != DefaultFile {
		t.Fatalf("Load = %v, want the parser's InternalError", err)
	}
}

// TestRecoveredKeepsTheInnerPosition: an InternalError that panics again (through a caller
// that recovers too) keeps the position it was made with.
func TestRecoveredKeepsTheInnerPosition(t *testing.T) {
	t.Parallel()
	inner := Recovered(Pos{File: "a.yml", Line: 3, Col: 1}, "boom")
	if got := Recovered(Pos{}, inner); got != inner {
		t.Fatalf("Recovered = %v, want the inner error", got)
	}
	if got := Recovered(Pos{}, "boom").Error(); got != "internal error (a bug in Slipway): boom" {
		t.Errorf("without a position: %q", got)
	}
}
