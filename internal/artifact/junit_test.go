package artifact

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestJUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   []string
		want    Summary
		wantErr string
	}{
		{
			name:  "two suites and a nested one",
			files: []string{"testdata/junit/report.xml"},
			want: Summary{
				Tests: 6, Failures: 1, Errors: 1, Skipped: 1,
				Failed: []string{"api.TestDelete", "db.TestDown"},
			},
		},
		{
			name:  "testsuite root without a name",
			files: []string{"testdata/junit/single.xml"},
			want:  Summary{Tests: 2, Failures: 2, Failed: []string{"pkg.Single.TestA", "pkg.Single.TestB"}},
		},
		{
			name:  "several files add up",
			files: []string{"testdata/junit/report.xml", "testdata/junit/single.xml"},
			want: Summary{
				Tests: 8, Failures: 3, Errors: 1, Skipped: 1,
				Failed: []string{"api.TestDelete", "db.TestDown", "pkg.Single.TestA", "pkg.Single.TestB"},
			},
		},
		{
			name:    "a broken file is an error, the others still count",
			files:   []string{"testdata/junit/broken.xml", "testdata/junit/single.xml", "testdata/junit/missing.xml"},
			want:    Summary{Tests: 2, Failures: 2, Failed: []string{"pkg.Single.TestA", "pkg.Single.TestB"}},
			wantErr: "broken.xml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := JUnit(tt.files)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one about %s", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestJUnitFailedIsBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`<testsuites><testsuite name="s">`)
	for i := range 30 {
		fmt.Fprintf(&b, `<testcase name="t%d"><failure/></testcase>`, i)
	}
	b.WriteString(`</testsuite></testsuites>`)
	p := filepath.Join(t.TempDir(), "r.xml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := JUnit([]string{p, p})
	if err != nil {
		t.Fatal(err)
	}
	if got.Tests != 60 || got.Failures != 60 || len(got.Failed) != MaxFailed || got.Failed[19] != "s.t19" {
		t.Errorf("got %d tests, %d failures, %d names (last %q)", got.Tests, got.Failures, len(got.Failed), got.Failed[len(got.Failed)-1])
	}
}

func TestJUnitEmpty(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "empty.xml")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := JUnit([]string{p}); err == nil {
		t.Error("an empty report parsed")
	}
	if got, err := JUnit(nil); err != nil || !reflect.DeepEqual(got, Summary{}) {
		t.Errorf("JUnit(nil) = %+v, %v", got, err)
	}
	if _, err := JUnit([]string{filepath.Join(t.TempDir(), "missing.xml")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestJUnitFiles(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "build")
	mkTree(t, root, map[string]string{
		"reports/a.xml":        "a",
		"reports/b.xml":        "b",
		"reports/notes.txt":    "n",
		"reports/sub/c.xml":    "c",
		"reports/link.xml":     "-> ../../secret.xml",
		"rspec.xml":            "r",
		"out/junit/x/deep.xml": "d",
	})
	mkTree(t, base, map[string]string{"secret.xml": "s"})
	got := JUnitFiles(root, []string{"reports/*.xml", "rspec.xml", "out/junit", "missing/*.xml", "../secret.xml", "rspec.xml"})
	var rel []string
	for _, p := range got {
		if !filepath.IsAbs(p) {
			t.Errorf("%s is not absolute", p)
		}
		r, _ := filepath.Rel(root, p)
		rel = append(rel, filepath.ToSlash(r))
	}
	want := []string{"out/junit/x/deep.xml", "reports/a.xml", "reports/b.xml", "rspec.xml"}
	if !reflect.DeepEqual(rel, want) {
		t.Errorf("JUnitFiles = %q, want %q", rel, want)
	}
	if got := JUnitFiles(filepath.Join(base, "none"), []string{"*.xml"}); got != nil {
		t.Errorf("missing build dir: %q", got)
	}
}
