package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/gitcmd"
)

// Commit describes a commit.
type Commit struct {
	SHA                     string
	Message                 string // in full (subject, blank line, body), without final newlines
	AuthorName, AuthorEmail string
	// Time is the committer date, in the committer's time zone: what GitLab puts in
	// CI_COMMIT_TIMESTAMP.
	Time time.Time
}

// Resolve returns the commit SHA of rev: a branch, a tag (peeled to its commit), a full ref
// name (refs/heads/x, which tells a branch from a tag of the same name; a short name means the
// tag then), or a commit SHA. A rev the mirror does not have gives an error wrapping
// ErrUnknownRevision.
func (m *Mirrors) Resolve(ctx context.Context, projectID int64, rev string) (string, error) {
	sha, err := m.resolve(ctx, projectID, rev)
	if err != nil {
		return "", fmt.Errorf("resolve %q in project %d: %w", rev, projectID, err)
	}
	return sha, nil
}

func (m *Mirrors) resolve(ctx context.Context, projectID int64, rev string) (string, error) {
	if !plainRev(rev) {
		return "", ErrUnknownRevision
	}
	out, err := git(ctx, m.path(projectID), "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		if gitcmd.ExitCode(err) == 1 { // -q --verify: not a commit
			return "", fmt.Errorf("%w: %w", ErrUnknownRevision, err)
		}
		return "", m.failure(ctx, projectID, err, rev)
	}
	sha := strings.TrimSpace(string(out))
	if !gitcmd.IsOID(sha) {
		return "", fmt.Errorf("git rev-parse printed %q", sha)
	}
	return sha, nil
}

// plainRev reports whether rev names a ref or an object by itself, without git's revision
// syntax (rev~1, rev^2, :/text, @{-1}, a..b): callers pass names from webhooks and users.
func plainRev(rev string) bool {
	return rev != "" && !strings.HasPrefix(rev, "-") && !strings.ContainsAny(rev, "~^:@{}\\ \t\n?*[") &&
		!strings.Contains(rev, "..")
}

// failure explains the error of a git command that read projectID's mirror and failed: it
// wraps ErrNoMirror when the mirror is missing, or ErrUnknownRevision when one of revs does
// not name a commit. Git says either only in words, so this asks again, by exit code; it
// costs a git command per rev, on the error path only.
func (m *Mirrors) failure(ctx context.Context, projectID int64, err error, revs ...string) error {
	if ctx.Err() != nil || gitcmd.ExitCode(err) != 128 {
		return err
	}
	dir := m.path(projectID)
	if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
		return ErrNoMirror
	}
	for _, rev := range revs {
		_, verr := git(ctx, dir, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
		if gitcmd.ExitCode(verr) == 1 {
			return fmt.Errorf("%q: %w", rev, ErrUnknownRevision)
		}
	}
	return err
}

// Commit describes the commit rev names (see Resolve; usually a SHA).
func (m *Mirrors) Commit(ctx context.Context, projectID int64, rev string) (Commit, error) {
	c, err := m.commit(ctx, projectID, rev)
	if err != nil {
		return Commit{}, fmt.Errorf("read commit %q of project %d: %w", rev, projectID, err)
	}
	return c, nil
}

func (m *Mirrors) commit(ctx context.Context, projectID int64, rev string) (Commit, error) {
	if !plainRev(rev) {
		return Commit{}, ErrUnknownRevision
	}
	// The message comes last: the other fields hold no NUL, so the first four separate them.
	out, err := git(ctx, m.path(projectID), "show", "-s", "--no-show-signature", "--no-notes",
		"--format=%H%x00%an%x00%ae%x00%cI%x00%B", "--end-of-options", rev+"^{commit}", "--")
	if err != nil {
		return Commit{}, m.failure(ctx, projectID, err, rev)
	}
	f := bytes.SplitN(out, []byte{0}, 5)
	if len(f) != 5 || !gitcmd.IsOID(string(f[0])) {
		return Commit{}, fmt.Errorf("git show printed %q", out)
	}
	t, err := time.Parse(time.RFC3339, string(f[3]))
	if err != nil {
		return Commit{}, fmt.Errorf("commit date: %w", err)
	}
	// %B ends with the message's final newline, and show adds one.
	msg := strings.TrimRight(string(f[4]), "\n")
	return Commit{SHA: string(f[0]), AuthorName: string(f[1]), AuthorEmail: string(f[2]), Time: t, Message: msg}, nil
}

// IsAncestor reports whether commit ancestor is commit descendant or one of its ancestors
// (git merge-base --is-ancestor). A rev the mirror does not have gives an error wrapping
// ErrUnknownRevision.
func (m *Mirrors) IsAncestor(ctx context.Context, projectID int64, ancestor, descendant string) (bool, error) {
	ok, err := m.isAncestor(ctx, projectID, ancestor, descendant)
	if err != nil {
		return false, fmt.Errorf("is %q an ancestor of %q in project %d: %w", ancestor, descendant, projectID, err)
	}
	return ok, nil
}

func (m *Mirrors) isAncestor(ctx context.Context, projectID int64, ancestor, descendant string) (bool, error) {
	if !plainRev(ancestor) || !plainRev(descendant) {
		return false, ErrUnknownRevision
	}
	_, err := git(ctx, m.path(projectID), "merge-base", "--is-ancestor", "--end-of-options", ancestor+"^{commit}", descendant+"^{commit}")
	switch gitcmd.ExitCode(err) {
	case -1:
		if err == nil {
			return true, nil
		}
	case 1: // not an ancestor
		return false, nil
	}
	return false, m.failure(ctx, projectID, err, ancestor, descendant)
}

// BranchesContaining lists the branches whose head is commit sha or has it as an ancestor
// (git for-each-ref --contains), by name without refs/heads/. A sha the mirror does not have
// gives an error wrapping ErrUnknownRevision.
func (m *Mirrors) BranchesContaining(ctx context.Context, projectID int64, sha string) ([]string, error) {
	if !gitcmd.IsOID(sha) {
		return nil, fmt.Errorf("branches containing %q in project %d: %w", sha, projectID, ErrUnknownRevision)
	}
	// for-each-ref says that it does not have the commit only in words: ask first.
	if _, err := m.resolve(ctx, projectID, sha); err != nil {
		return nil, fmt.Errorf("branches containing %q in project %d: %w", sha, projectID, err)
	}
	out, err := git(ctx, m.path(projectID), "for-each-ref", "--format=%(refname:strip=2)", "--contains", sha, "refs/heads/")
	if err != nil {
		return nil, fmt.Errorf("branches containing %q in project %d: %w", sha, projectID, err)
	}
	return strings.Fields(string(out)), nil
}

// Changed lists the files that differ between the trees of commits base and sha (slash paths,
// sorted; a rename lists both names, a deletion the removed path), as rules:changes sees a
// push. A base of "" or all zeros (a new branch: there is nothing to compare with) gives nil
// and no error, which rules read as "unknown".
func (m *Mirrors) Changed(ctx context.Context, projectID int64, base, sha string) ([]string, error) {
	if base == "" || isZero(base) {
		return nil, nil
	}
	files, err := m.changed(ctx, projectID, base, sha)
	if err != nil {
		return nil, fmt.Errorf("files changed between %q and %q in project %d: %w", base, sha, projectID, err)
	}
	return files, nil
}

func (m *Mirrors) changed(ctx context.Context, projectID int64, base, sha string) ([]string, error) {
	if !plainRev(base) || !plainRev(sha) {
		return nil, ErrUnknownRevision
	}
	out, err := git(ctx, m.path(projectID), "diff-tree", "-r", "-z", "--name-only", "--no-renames",
		"--no-commit-id", "--end-of-options", base+"^{commit}", sha+"^{commit}", "--")
	if err != nil {
		return nil, m.failure(ctx, projectID, err, base, sha)
	}
	files := []string{}
	for _, p := range bytes.Split(out, []byte{0}) {
		if len(p) > 0 {
			files = append(files, string(p))
		}
	}
	return files, nil
}
