package pipeline

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeKeywords keeps README.md's compatibility table true: every keyword the loader
// accepts (job keys, top-level keys) has a row, and every row names a keyword the loader knows.
func TestReadmeKeywords(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (supported|partial|not yet) \\|")
	listed := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		listed[m[1]] = true
	}
	if len(listed) == 0 {
		t.Fatal("README.md has no compatibility table rows")
	}
	known := map[string]bool{"!reference": true}
	for k := range jobKeys {
		known[k] = true
	}
	for k := range globalKeys {
		known[k] = true
	}
	for k := range known {
		if !listed[k] {
			t.Errorf("README.md: keyword %q is accepted by the loader but has no row in the compatibility table", k)
		}
	}
	for k := range listed {
		if !known[k] && !strings.HasPrefix(k, "!") {
			t.Errorf("README.md: the compatibility table lists %q, which the loader does not know", k)
		}
	}
}
