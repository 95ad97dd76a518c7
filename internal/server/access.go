package server

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/slipway/slipway/internal/gitmirror"
	"github.com/slipway/slipway/internal/store"
)

// wildcardMatch reports whether s matches pattern, where * stands for any characters (slashes
// too) and everything else for itself: GitLab's wildcards of protected branches.
func wildcardMatch(pattern, s string) bool {
	first, rest, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	parts := strings.Split(rest, "*")
	last := parts[len(parts)-1]
	for _, p := range parts[:len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// protectedBranch reports whether branch is one of p's protected branches (by default its
// default branch alone).
func protectedBranch(p *store.Project, branch string) bool {
	patterns := p.ProtectedBranches
	if len(patterns) == 0 {
		patterns = []string{p.DefaultBranch}
	}
	return matchAny(patterns, branch)
}

// matchAny reports whether s matches one of patterns (see wildcardMatch).
func matchAny(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return wildcardMatch(p, s) })
}

// protectedRef decides whether a pipeline of t running commit sha gets protected variables:
// t is a protected branch of p whose head in the mirror is sha or has it as an ancestor, or
// a tag of the mirror that points at sha when sha is on a protected branch (anybody who can
// push a branch can push a tag, on any commit: GitLab protects no tag unless told). Merge
// request pipelines never do (they run a ref of the merge request, from a branch anybody who
// can push may have made), nor those made by the job token of a pipeline that had no
// protected variables to give (t.Parent). The mirror is the one createPipeline just synced.
func (s *Server) protectedRef(ctx context.Context, p *store.Project, t trigger, sha string) (bool, error) {
	if t.MR != nil || t.Parent != nil && !t.Parent.Protected {
		return false, nil
	}
	if t.Tag {
		tip, err := s.mirrors.Resolve(ctx, p.ID, "refs/tags/"+t.Ref)
		if errors.Is(err, gitmirror.ErrUnknownRevision) || err == nil && tip != sha {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		branches, err := s.mirrors.BranchesContaining(ctx, p.ID, sha)
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(branches, func(b string) bool { return protectedBranch(p, b) }), nil
	}
	if !protectedBranch(p, t.Ref) {
		return false, nil
	}
	head, err := s.mirrors.Resolve(ctx, p.ID, "refs/heads/"+t.Ref)
	switch {
	case errors.Is(err, gitmirror.ErrUnknownRevision):
		return false, nil
	case err != nil:
		return false, err
	case head == sha:
		return true, nil
	}
	return s.mirrors.IsAncestor(ctx, p.ID, sha, head)
}

// namespace is the namespace of a project path.
func namespace(projectPath string) string { return path.Dir(projectPath) }

// allows reports whether project p lets project from in: from's job tokens, and from's
// pipelines including p's files. A project allows itself, and the projects its
// JobTokenAllowlist names (by default those of its namespace).
func allows(p, from *store.Project) bool {
	if p.ID == from.ID {
		return true
	}
	patterns := p.JobTokenAllowlist
	if len(patterns) == 0 {
		patterns = []string{namespace(p.Path) + "/*"}
	}
	return matchAny(patterns, from.Path)
}

// errHidden is what a caller learns about a project it may not reach: the same as about one
// that does not exist.
var errHidden = fmt.Errorf("project: %w", store.ErrNotFound)

// jobReaches checks that the job token of j may reach project p: errHidden when p does not
// allow j's project.
func (s *Server) jobReaches(ctx context.Context, j *store.Job, p *store.Project) error {
	if j.ProjectID == p.ID {
		return nil
	}
	from, err := s.store.Project(ctx, j.ProjectID)
	if err != nil {
		return err
	}
	if !allows(p, from) {
		return errHidden
	}
	return nil
}
