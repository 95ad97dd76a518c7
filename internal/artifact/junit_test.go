package artifact

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var (
	deleteFailed = Failure{Name: "api.TestDelete", Class: "api.UsersTest", Message: "expected 204, got 500"}
	downFailed   = Failure{Name: "db.TestDown", Class: "db.MigrateTest", Message: "connection refused"}
	singleA      = Failure{Name: "pkg.Single.TestA", Class: "pkg.Single"}
	singleB      = Failure{Name: "pkg.Single.TestB", Class: "pkg.Single"}
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
			files: []string{"report.xml"},
			want: Summary{
				Tests: 6, Failures: 1, Errors: 1, Skipped: 1,
				Failed: []Failure{deleteFailed, downFailed},
			},
		},
		{
			name:  "testsuite root without a name",
			files: []string{"single.xml"},
			want:  Summary{Tests: 2, Failures: 2, Failed: []Failure{singleA, singleB}},
		},
		{
			name:  "several files add up",
			files: []string{"report.xml", "single.xml"},
			want: Summary{
				Tests: 8, Failures: 3, Errors: 1, Skipped: 1,
				Failed: []Failure{deleteFailed, downFailed, singleA, singleB},
			},
		},
		{
			name:    "a broken file is an error, the others still count",
			files:   []string{"broken.xml", "single.xml", "missing.xml"},
			want:    Summary{Tests: 2, Failures: 2, Failed: []Failure{singleA, singleB}},
			wantErr: "broken.xml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := JUnit("testdata/junit", tt.files, 0, 0)
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
	long := strings.Repeat("é", MaxFailureMessage)
	for i := range 30 {
		fmt.Fprintf(&b, `<testcase name="t%d%s"><failure message="%s"/></testcase>`, i, long, long)
	}
	b.WriteString(`</testsuite></testsuites>`)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.xml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := JUnit(dir, []string{"r.xml", "r.xml"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tests != 60 || got.Failures != 60 || len(got.Failed) != MaxFailed || !strings.HasPrefix(got.Failed[19].Name, "s.t19") {
		t.Fatalf("got %d tests, %d failures, %d names (last %q)", got.Tests, got.Failures, len(got.Failed), got.Failed[len(got.Failed)-1].Name)
	}
	for _, f := range got.Failed {
		if len(f.Name) > MaxFailureName || len(f.Message) > MaxFailureMessage || !utf8.ValidString(f.Message) || !strings.HasSuffix(f.Message, "é…") {
			t.Fatalf("a failure is not bounded: name %d bytes, message %d bytes", len(f.Name), len(f.Message))
		}
	}
}

func TestAttackJUnitReportSizeAndEscape(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "build")
	mkTree(t, dir, map[string]string{
		"big.xml":  `<testsuite name="s"><testcase name="a"/>` + strings.Repeat("<!-- padding -->", 100) + `</testsuite>`,
		"link.xml": "-> ../secret.xml",
	})
	mkTree(t, base, map[string]string{"secret.xml": `<testsuite name="host"><testcase name="x"><failure message="host secret"/></testcase></testsuite>`})
	if _, err := JUnit(dir, []string{"big.xml"}, 0, 1000); err == nil || !strings.Contains(err.Error(), "limit of 1000 bytes") {
		t.Errorf("a report over the size limit: %v", err)
	}
	if got, err := JUnit(dir, []string{"big.xml"}, 0, 0); err != nil || got.Tests != 1 {
		t.Errorf("within the limit: %+v %v", got, err)
	}
	for _, name := range []string{"../secret.xml", "link.xml", "/etc/passwd"} {
		got, err := JUnit(dir, []string{name}, 0, 0)
		if err == nil || got.Tests != 0 {
			t.Errorf("%s was read: %+v %v", name, got, err)
		}
	}
}

func TestJUnitEmpty(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "empty.xml")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := JUnit(filepath.Dir(p), []string{"empty.xml"}, 0, 0); err == nil {
		t.Error("an empty report parsed")
	}
	if got, err := JUnit(filepath.Dir(p), nil, 0, 0); err != nil || !reflect.DeepEqual(got, Summary{}) {
		t.Errorf("JUnit(nil) = %+v, %v", got, err)
	}
	if _, err := JUnit(filepath.Dir(p), []string{"missing.xml"}, 0, 0); !errors.Is(err, os.ErrNotExist) {
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
	rel := got
	want := []string{"out/junit/x/deep.xml", "reports/a.xml", "reports/b.xml", "rspec.xml"}
	if !reflect.DeepEqual(rel, want) {
		t.Errorf("JUnitFiles = %q, want %q", rel, want)
	}
	if got := JUnitFiles(filepath.Join(base, "none"), []string{"*.xml"}); got != nil {
		t.Errorf("missing build dir: %q", got)
	}
}
