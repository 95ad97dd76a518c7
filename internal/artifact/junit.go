package artifact

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// MaxFailed is how many failed test names a Summary keeps.
const MaxFailed = 20

// Summary counts the test cases of JUnit reports.
type Summary struct {
	// Tests counts all test cases; Failures, Errors and Skipped those with that status.
	Tests, Failures, Errors, Skipped int
	// Failed names the first MaxFailed failed or errored cases, "suite.case" (the class name
	// stands in for a suite without a name).
	Failed []string
}

// JUnitFiles returns the regular files that the artifacts:reports:junit patterns match in
// buildDir, sorted, with the path rules of Collect: patterns are already expanded, a
// directory gives all the files below it, nothing outside buildDir is taken (symbolic links
// are not followed out of it) and a report that is itself a symbolic link is skipped. The
// paths returned are absolute. A pattern that matches nothing is skipped.
func JUnitFiles(buildDir string, patterns []string) []string {
	c, err := newCollector(buildDir)
	if err != nil {
		return nil
	}
	defer c.close()
	for _, p := range patterns {
		c.addPath(p)
	}
	var files []string
	for _, e := range c.sorted() {
		if e.mode.IsRegular() {
			files = append(files, filepath.Join(c.realRoot, filepath.FromSlash(e.host)))
		}
	}
	sort.Strings(files)
	return files
}

// JUnit reads JUnit XML reports and adds up their test cases as GitLab does
// (Gitlab::Ci::Parsers::Test::Junit): a <testcase> counts inside a <testsuites> root or any
// depth of <testsuite>; it failed if it has a <failure> child, else errored with an <error>,
// else was skipped with <skipped>, else passed. Suite attributes (tests="…") are ignored.
//
// A file that cannot be read or parsed is reported in the joined error; the Summary still
// counts the other files.
func JUnit(paths []string) (Summary, error) {
	var s Summary
	var errs []error
	for _, p := range paths {
		if err := junitFile(p, &s); err != nil {
			errs = append(errs, fmt.Errorf("junit report %s: %w", p, err))
		}
	}
	return s, errors.Join(errs...)
}

func junitFile(p string, s *Summary) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var part Summary
	if err := parseJUnit(f, &part); err != nil {
		return err
	}
	s.Tests += part.Tests
	s.Failures += part.Failures
	s.Errors += part.Errors
	s.Skipped += part.Skipped
	for _, name := range part.Failed {
		if len(s.Failed) < MaxFailed {
			s.Failed = append(s.Failed, name)
		}
	}
	return nil
}

// junitCase is what a <testcase> says about its outcome.
type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Failure   *struct{} `xml:"failure"`
	Error     *struct{} `xml:"error"`
	Skipped   *struct{} `xml:"skipped"`
}

// parseJUnit adds the cases of one report to s. A file is all or nothing, so a syntax error
// late in a file does not leave half its counts.
func parseJUnit(r io.Reader, s *Summary) error {
	d := xml.NewDecoder(r)
	// suites holds the name of each open <testsuite> or <testsuites>.
	var suites []string
	seen := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !seen {
				return errors.New("no XML element")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			seen = true
			switch t.Name.Local {
			case "testsuites", "testsuite":
				name := ""
				for _, a := range t.Attr {
					if a.Name.Local == "name" {
						name = a.Value
					}
				}
				suites = append(suites, name)
			case "testcase":
				var tc junitCase
				if err := d.DecodeElement(&tc, &t); err != nil {
					return err
				}
				if len(suites) > 0 {
					s.add(tc, suites[len(suites)-1])
				}
			}
		case xml.EndElement:
			if (t.Name.Local == "testsuites" || t.Name.Local == "testsuite") && len(suites) > 0 {
				suites = suites[:len(suites)-1]
			}
		}
	}
}

func (s *Summary) add(tc junitCase, suite string) {
	s.Tests++
	failed := false
	switch {
	case tc.Failure != nil:
		s.Failures++
		failed = true
	case tc.Error != nil:
		s.Errors++
		failed = true
	case tc.Skipped != nil:
		s.Skipped++
	}
	if !failed || len(s.Failed) >= MaxFailed {
		return
	}
	if suite == "" {
		suite = tc.Classname
	}
	name := tc.Name
	if suite != "" {
		name = suite + "." + name
	}
	s.Failed = append(s.Failed, name)
}
