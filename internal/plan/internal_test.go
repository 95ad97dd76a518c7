package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

// TestCompilePanicIsAnInternalError injects a panic where Compile calls code it was given
// (rules:changes, a child pipeline's loader) and checks that it returns an
// *pipeline.InternalError at the job being planned, not a crash.
func TestCompilePanicIsAnInternalError(t *testing.T) {
	t.Parallel()
	src := "build:\n  script: make\n  rules:\n    - changes: [go.mod]\nchild:\n  trigger:\n    include: child.yml\n"
	tests := []struct {
		name    string
		ctx     func(*Context)
		wantPos string
	}{
		{
			name:    "rules:changes",
			ctx:     func(c *Context) { c.Changed = func(string) []string { panic("injected panic") } },
			wantPos: ".gitlab-ci.yml:1:1",
		},
		{
			name: "a child pipeline's loader",
			ctx: func(c *Context) {
				c.LoadChild = func([]string) (*pipeline.Config, error) { panic("injected panic") }
			},
			wantPos: ".gitlab-ci.yml:5:1",
		},
		{
			name: "a child pipeline that breaks",
			ctx: func(c *Context) {
				c.LoadChild = func([]string) (*pipeline.Config, error) {
					return nil, pipeline.Recovered(pipeline.Pos{File: "child.yml", Line: 2, Col: 3}, "injected panic")
				}
			},
			wantPos: "child.yml:2:3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := goldenContext()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, pipeline.DefaultFile), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := load(t, dir, pipeline.DefaultFile, &ctx)
			if err != nil {
				t.Fatal(err)
			}
			tt.ctx(&ctx)
			p, err := Compile(cfg, ctx)
			var ie *pipeline.InternalError
			if !errors.As(err, &ie) || p != nil {
				t.Fatalf("Compile = %v, %v; want an InternalError", p, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPos+": internal error") || !strings.HasSuffix(err.Error(), "injected panic") {
				t.Errorf("error %q, want it at %s", err, tt.wantPos)
			}
		})
	}
}
