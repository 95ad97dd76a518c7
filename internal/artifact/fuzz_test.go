package artifact

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzJUnit checks that parsing any report neither panics nor miscounts: failures, errors
// and skipped cases are test cases, and Failed names at most MaxFailed of the failing ones.
func FuzzJUnit(f *testing.F) {
	for _, p := range []string{"testdata/junit/report.xml", "testdata/junit/single.xml", "testdata/junit/broken.xml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<testsuites><testcase name="loose"/><testsuite><testsuite name="n"><testcase><error/><failure/></testcase></testsuite></testsuite></testsuites>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Summary
		if err := parseJUnit(bytes.NewReader(data), &s); err != nil {
			return
		}
		if s.Failures+s.Errors+s.Skipped > s.Tests || s.Failures < 0 || s.Errors < 0 || s.Skipped < 0 {
			t.Fatalf("inconsistent counts %+v", s)
		}
		if len(s.Failed) > MaxFailed || len(s.Failed) > s.Failures+s.Errors {
			t.Fatalf("%d failed names for %+v", len(s.Failed), s)
		}
	})
}

// FuzzSanitizeKey checks that every key becomes one harmless directory name, or an error,
// and that sanitizing is idempotent.
func FuzzSanitizeKey(f *testing.F) {
	for _, k := range []string{"default", "feature/x", "../..", "%2e%2E/%2F", `a\b`, "a/ ", strings.Repeat("é/", 150)} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := SanitizeKey(key)
		if err != nil {
			return
		}
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\\\x00") || len(k) > maxKeyLen {
			t.Fatalf("SanitizeKey(%q) = %q", key, k)
		}
		if again, err := SanitizeKey(k); err != nil || again != k {
			t.Fatalf("SanitizeKey(%q) = %q, then %q, %v", key, k, again, err)
		}
	})
}
