package artifact

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Bounds of a Summary.
const (
	// MaxFailed is how many failed test cases a Summary keeps.
	MaxFailed = 20
	// MaxFailureName bounds the name and the class of a failed case, and MaxFailureMessage
	// its message, in bytes; longer ones are cut (with "…").
	MaxFailureName    = 512
	MaxFailureMessage = 2048
	// MaxJUnitSize is the default bound of the bytes of a job's JUnit reports, all files
	// together.
	MaxJUnitSize = 30 << 20
)

// Summary counts the test cases of JUnit reports.
type Summary struct {
	// Tests counts all test cases; Failures, Errors and Skipped those with that status.
	Tests, Failures, Errors, Skipped int
	// Failed are the first MaxFailed failed or errored cases.
	Failed []Failure
}

// Failure is a failed or errored test case.
type Failure struct {
	// Name is "suite.case" (the class name stands in for a suite without a name); Class is
	// the case's classname.
	Name, Class string
	// Message is the failure's (or error's) message attribute, else its text.
	Message string
}

// JUnitFiles returns the regular files that the artifacts:reports:junit patterns match in
// buildDir, sorted, with the path rules of Collect: patterns are already expanded, a
// directory gives all the files below it, nothing outside buildDir is taken (symbolic links
// are not followed out of it) and a report that is itself a symbolic link is skipped. The
// paths returned are relative to buildDir, with slashes. A pattern that matches nothing is
// skipped.
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
			files = append(files, e.host)
		}
	}
	sort.Strings(files)
	return files
}

// JUnit reads the JUnit XML reports names (relative to buildDir, as JUnitFiles returns them)
// and adds up their test cases as GitLab does (Gitlab::Ci::Parsers::Test::Junit): a
// <testcase> counts inside a <testsuites> root or any depth of <testsuite>; it failed if it
// has a <failure> child, else errored with an <error>, else was skipped with <skipped>, else
// passed. Suite attributes (tests="…") are ignored.
//
// Each file is opened beneath an os.Root of buildDir, as ReadDotenv opens a dotenv report (a
// name that leaves buildDir, or anything but a regular file, is an error; jobUID, when not
// zero, refuses a hard link another uid owns), and the files together are read up to maxSize
// bytes (zero means MaxJUnitSize): a file past it is an error. A file that cannot be read or
// parsed is reported in the joined error; the Summary still counts the other files.
func JUnit(buildDir string, names []string, jobUID int, maxSize int64) (Summary, error) {
	var s Summary
	if len(names) == 0 {
		return s, nil
	}
	if maxSize <= 0 {
		maxSize = MaxJUnitSize
	}
	root, err := os.OpenRoot(buildDir)
	if err != nil {
		return s, fmt.Errorf("junit reports: %w", err)
	}
	defer root.Close()
	var errs []error
	for _, name := range names {
		n, err := junitFile(root, name, jobUID, maxSize, &s)
		maxSize -= n
		if err != nil {
			errs = append(errs, fmt.Errorf("junit report %s: %w", name, err))
		}
	}
	return s, errors.Join(errs...)
}

// junitFile adds the cases of the report name to s, reading at most budget bytes, and
// returns how many it read.
func junitFile(root *os.Root, name string, jobUID int, budget int64, s *Summary) (int64, error) {
	f, err := openIn(root, filepath.FromSlash(name))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if jobUID != 0 {
		if fi, err := f.Stat(); err != nil {
			return 0, err
		} else if foreignLink(fi, jobUID) {
			return 0, fmt.Errorf("a hard link to a file that the job's user (uid %d) does not own", jobUID)
		}
	}
	lr := &io.LimitedReader{R: f, N: budget + 1}
	var part Summary
	err = parseJUnit(lr, &part)
	read := budget + 1 - lr.N
	if lr.N <= 0 {
		return budget, fmt.Errorf("the JUnit reports are larger than the limit of %d bytes", budget)
	}
	if err != nil {
		return read, err
	}
	s.Tests += part.Tests
	s.Failures += part.Failures
	s.Errors += part.Errors
	s.Skipped += part.Skipped
	for _, c := range part.Failed {
		if len(s.Failed) < MaxFailed {
			s.Failed = append(s.Failed, c)
		}
	}
	return read, nil
}

// junitCase is what a <testcase> says about its outcome.
type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitOutcome `xml:"failure"`
	Error     *junitOutcome `xml:"error"`
	Skipped   *struct{}     `xml:"skipped"`
}

// junitOutcome is a <failure> or <error>.
type junitOutcome struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
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
	var out *junitOutcome
	switch {
	case tc.Failure != nil:
		s.Failures++
		out = tc.Failure
	case tc.Error != nil:
		s.Errors++
		out = tc.Error
	case tc.Skipped != nil:
		s.Skipped++
	}
	if out == nil || len(s.Failed) >= MaxFailed {
		return
	}
	if suite == "" {
		suite = tc.Classname
	}
	name := tc.Name
	if suite != "" {
		name = suite + "." + name
	}
	msg := out.Message
	if msg == "" {
		msg = strings.TrimSpace(out.Text)
	}
	s.Failed = append(s.Failed, Failure{Name: Cut(name, MaxFailureName), Class: Cut(tc.Classname, MaxFailureName),
		Message: Cut(msg, MaxFailureMessage)})
}

// Cut bounds s to max bytes, cut at a character's start and ended with "…" when it was cut.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
