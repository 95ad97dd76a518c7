package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Slug is GitLab's Gitlab::Utils.slugify, the rule behind CI_COMMIT_REF_SLUG, CI_JOB_NAME_SLUG
// and CI_PROJECT_PATH_SLUG: lowercase, every character outside [a-z0-9] becomes '-', cut to 63
// bytes, then leading and trailing '-' removed. Runs of '-' are kept ("a--b" stays "a--b").
func Slug(s string) string {
	b := slugChars(s)
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.Trim(string(b), "-")
}

// PathSlug is CI_PROJECT_PATH_SLUG (and CI_PROJECT_NAMESPACE_SLUG) for a full project path.
// GitLab uses the same rule as Slug.
func PathSlug(path string) string { return Slug(path) }

// EnvironmentSlug is GitLab's Gitlab::Slug::Environment, the value of CI_ENVIRONMENT_SLUG: at most
// 24 bytes of [a-z0-9-], starting with a letter and not ending with '-'. A name that needed no
// change (and is short enough) is its own slug; any other gets its first 17 characters, '-' and a
// 6-character suffix taken from the SHA-256 of the name, so "Review/Foo" and "review-foo"
// still get different slugs.
//
// GitLab computes the slug once, when it creates the environment, and keeps it when the
// environment is renamed; Slipway has no environment records, so it always derives it.
func EnvironmentSlug(name string) string {
	s := string(slugChars(name))
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "env-" + s
	}
	s = squeezeDashes(s)
	if len(s) <= 24 && s == name {
		return strings.TrimSuffix(s, "-")
	}
	if len(s) > 17 {
		s = s[:17]
	}
	if !strings.HasSuffix(s, "-") {
		s += "-"
	}
	sum := sha256.Sum256([]byte(name))
	return s + envSlugSuffix(hex.EncodeToString(sum[:]))
}

// envSlugSuffix is Ruby's hexdigest.to_i(16).to_s(36).last(6).
func envSlugSuffix(hexDigest string) string {
	n, ok := new(big.Int).SetString(hexDigest, 16)
	if !ok {
		return ""
	}
	s := n.Text(36)
	if len(s) > 6 {
		s = s[len(s)-6:]
	}
	return s
}

// slugChars lowercases s as Ruby's String#downcase does and replaces each character outside
// [a-z0-9] by '-'. Only the characters whose lowercase form is ASCII need Ruby's full case
// mapping: KELVIN SIGN becomes 'k' (Go agrees) and 'İ' becomes "i̇", that is 'i' and a combining
// dot, hence "i-". Invalid UTF-8 bytes each become '-'.
func slugChars(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r == 'İ':
			b = append(b, 'i', '-')
			continue
		case r >= utf8.RuneSelf:
			r = unicode.ToLower(r)
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		}
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b = append(b, byte(r))
		} else {
			b = append(b, '-')
		}
	}
	return b
}

func squeezeDashes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && i > 0 && s[i-1] == '-' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// jobGroupSuffix matches what Gitlab::Utils::Job.group_name strips from a job name: up to three
// trailing " 1/3" (parallel) or " [a, b]" (matrix) markers. Ruby's [\b] is a backspace and its
// \s includes \v, which Go's does not. It is anchored: JobGroupName tries it only where a
// marker can start.
var jobGroupSuffix = regexp.MustCompile(`^([\x08\s\v:]+((\[.*\])|(\d+[\s\v:/\\]+\d+))){1,3}[\s\v]*\z`)

// JobGroupName is CI_JOB_GROUP_NAME: the name shared by the instances of a parallel or matrix
// job ("build 1/3" and "build [linux]" both give "build").
func JobGroupName(name string) string {
	// A suffix ends, but for trailing space, with "]" or a digit, and starts with one of
	// [\x08\s\v:]: the leftmost place where one starts and matches is where the suffix
	// begins, as an unanchored search finds it (every match runs to the end).
	end := strings.TrimRight(name, groupSpace)
	if end != "" && (end[len(end)-1] == ']' || '0' <= end[len(end)-1] && end[len(end)-1] <= '9') {
		for i := 0; i < len(name); i++ {
			if (name[i] == '\b' || name[i] == ':' || strings.IndexByte(groupSpace, name[i]) >= 0) && jobGroupSuffix.MatchString(name[i:]) {
				name = name[:i]
				break
			}
		}
	}
	return strings.Trim(name, rubyStripSet)
}

// groupSpace is [\s\v] of jobGroupSuffix.
const groupSpace = " \t\n\v\f\r"

// rubyStripSet is what Ruby's String#strip removes.
const rubyStripSet = " \t\n\v\f\r\x00"

// EnvironmentTier is the tier GitLab guesses for an environment without deployment_tier
// (Environment#guess_tier): the first of development, testing, staging and production whose
// pattern occurs in the name, case-insensitively, else "other".
func EnvironmentTier(name string) string {
	contains := containsFold
	if isASCII(name) {
		// In ASCII only ASCII letters fold, and only to each other.
		name = strings.ToLower(name)
		contains = strings.Contains
	}
	for _, t := range envTiers {
		for _, w := range t.words {
			if contains(name, w) {
				return t.tier
			}
		}
	}
	return "other"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// envTiers are GitLab's patterns, /(dev|review|trunk)/i and so on, with each alternative
// spelt out.
var envTiers = []struct {
	tier  string
	words []string
}{
	{"development", []string{"dev", "review", "trunk"}},
	{"testing", []string{"test", "tst", "int", "accept", "acpt", "qa", "qc", "control", "quality"}},
	{"staging", []string{"stag", "stg", "model", "modl", "pre", "demo", "non"}},
	{"production", []string{"prod", "prd", "live"}},
}

// containsFold reports whether s contains word, lower-case ASCII letters, under Unicode simple
// case folding, as a case-insensitive regexp finds it: besides upper case, k matches the
// Kelvin sign U+212A and s the long s U+017F, the only other runes that fold to ASCII.
func containsFold(s, word string) bool {
	for i := 0; i < len(s); {
		if hasFoldPrefix(s[i:], word) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return false
}

func hasFoldPrefix(s, word string) bool {
	for k := 0; k < len(word); k++ {
		r, size := utf8.DecodeRuneInString(s)
		c := rune(word[k])
		if size == 0 || r != c && r != c-'a'+'A' && !(c == 'k' && r == '\u212A') && !(c == 's' && r == '\u017F') {
			return false
		}
		s = s[size:]
	}
	return true
}
