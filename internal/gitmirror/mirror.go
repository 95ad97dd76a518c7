// Package gitmirror keeps the server's bare mirrors of project repositories, one per project,
// and reads them: refs to commits, commit metadata, the tree of a commit as an fs.FS, the files
// changed between two commits. It also serves them read-only over git's smart HTTP protocol, so
// runners clone from the server instead of the forge.
//
// Everything runs the real git binary. Each call costs one or two git processes, whose start is
// most of its time; nothing is kept open between calls.
//
// It does not know forges, webhooks or pipelines: which URL a project clones from, when to
// sync and who may read a mirror are the caller's decisions.
package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrUnknownRevision means a branch, tag or commit is not in the mirror.
var ErrUnknownRevision = errors.New("unknown revision")

// ErrNoMirror means a project has no mirror yet: it was never synced.
var ErrNoMirror = errors.New("no mirror")

// Mirrors are the bare mirrors under one directory: Dir/<projectID>.git. Its methods are safe
// for concurrent use; reads run alongside a Sync of the same project and see the refs before or
// after its fetch.
type Mirrors struct {
	dir string
	// Logger receives what `git http-backend` prints on stderr and failures to run it; nil
	// means discard. Set it before calling Handler.
	Logger *slog.Logger

	mu       sync.Mutex
	projects map[int64]*project
}

// New returns the mirrors kept in dir, creating dir when missing.
func New(dir string) (*Mirrors, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create mirror dir: %w", err)
	}
	return &Mirrors{dir: abs, projects: map[int64]*project{}}, nil
}

// Dir is the directory holding the mirrors.
func (m *Mirrors) Dir() string { return m.dir }

// path is the git directory of a project's mirror.
func (m *Mirrors) path(projectID int64) string {
	return filepath.Join(m.dir, strconv.FormatInt(projectID, 10)+".git")
}

// project serialises the fetches of one project's mirror.
type project struct {
	// turn is held by the fetch that runs.
	turn chan struct{}

	mu sync.Mutex
	// next is the fetch that starts after the running one; callers with the same URL join it.
	next *fetch
	// fetches counts the fetches run, to let one in gcEvery check whether the mirror needs
	// packing.
	fetches int
}

// gcEvery is how often (in fetches of a project) a fetch runs `git maintenance run --auto`:
// it is a process more per Sync, and rarely has anything to do.
const gcEvery = 20

// fetch is one run of git fetch, shared by the callers that joined it before it started.
type fetch struct {
	url  string
	done chan struct{}
	// err and canceled (the leader's context ended) are set before done is closed.
	err      error
	canceled bool
}

func (m *Mirrors) project(projectID int64) *project {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.projects[projectID]
	if p == nil {
		p = &project{turn: make(chan struct{}, 1)}
		m.projects[projectID] = p
	}
	return p
}

// Sync creates the project's mirror if missing and fetches every branch and tag of cloneURL
// (any URL git fetches from: https, ssh, file://, a local path) into it, deleting the branches
// and tags cloneURL no longer has. The URL is given to each fetch rather than stored, so it may
// change between calls.
//
// Syncs of one project run one at a time. A caller that arrives while a fetch is running waits
// for the next one, which starts after the running one and serves every caller that arrived
// meanwhile: each caller sees the refs as they were at some time after its call.
//
// One fetch in gcEvery (the first included) runs `git maintenance run --auto` in the
// foreground, so once in a while a Sync also packs the mirror.
func (m *Mirrors) Sync(ctx context.Context, projectID int64, cloneURL string) error {
	if cloneURL == "" || strings.HasPrefix(cloneURL, "-") {
		return fmt.Errorf("sync project %d: invalid clone URL (empty or starting with '-')", projectID)
	}
	p := m.project(projectID)
	for {
		p.mu.Lock()
		f := p.next
		lead := f == nil || f.url != cloneURL
		if lead {
			f = &fetch{url: cloneURL, done: make(chan struct{})}
			p.next = f
		}
		p.mu.Unlock()
		if lead {
			return m.lead(ctx, p, f, projectID)
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return fmt.Errorf("sync project %d: %w", projectID, context.Cause(ctx))
		}
		if f.canceled && ctx.Err() == nil {
			continue // its leader gave up or was canceled; this caller has not
		}
		return f.err
	}
}

// lead waits for the project's turn and runs f for the callers that joined it.
func (m *Mirrors) lead(ctx context.Context, p *project, f *fetch, projectID int64) error {
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		p.mu.Lock()
		if p.next == f {
			p.next = nil
		}
		p.mu.Unlock()
		f.err, f.canceled = context.Cause(ctx), true
		close(f.done)
		return fmt.Errorf("sync project %d: %w", projectID, context.Cause(ctx))
	}
	p.mu.Lock()
	if p.next == f {
		p.next = nil // started: later callers need a later fetch
	}
	p.mu.Unlock()
	p.mu.Lock()
	p.fetches++
	gc := p.fetches%gcEvery == 1
	p.mu.Unlock()
	err := m.sync(ctx, projectID, f.url, gc)
	<-p.turn
	if err != nil {
		err = fmt.Errorf("sync project %d: %w", projectID, err)
	}
	f.err, f.canceled = err, err != nil && ctx.Err() != nil
	close(f.done)
	return err
}

// sync creates the mirror when missing, fetches, and points HEAD at the remote's default
// branch when it names no branch of the mirror.
func (m *Mirrors) sync(ctx context.Context, projectID int64, cloneURL string, gc bool) error {
	dir := m.path(projectID)
	created := false
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := m.create(ctx, dir); err != nil {
			return err
		}
		created = true
	} else if err != nil {
		return err
	}
	// The refspecs name heads and tags only: the mirror keeps no remote-tracking refs, and
	// --prune deletes what the remote no longer has in those namespaces.
	args := []string{"fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules"}
	if !gc {
		args = append(args, "--no-auto-gc")
	}
	args = append(args, "--end-of-options", cloneURL, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	if _, err := git(ctx, dir, args...); err != nil {
		return err
	}
	if created || !headResolves(dir) {
		return setHead(ctx, dir, cloneURL)
	}
	return nil
}

// mirrorConfig is the configuration of every mirror.
var mirrorConfig = [][2]string{
	// Runners fetch the commit of their job by SHA, also once a branch has moved on.
	{"uploadpack.allowAnySHA1InWant", "true"},
	{"uploadpack.allowFilter", "true"},
	{"http.receivepack", "false"},
	{"core.logAllRefUpdates", "false"},
	// A Sync waits for the gc it triggers instead of leaving a process behind.
	{"gc.autoDetach", "false"},
	{"maintenance.autoDetach", "false"},
}

// create makes a configured, empty bare repository at dir; it appears there complete or not at
// all.
func (m *Mirrors) create(ctx context.Context, dir string) error {
	tmp, err := os.MkdirTemp(m.dir, ".new-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful rename it no longer exists
	// MkdirTemp makes it private; the mirrors are as readable as their directory.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if _, err := git(ctx, "", "init", "--quiet", "--bare", "--", tmp); err != nil {
		return err
	}
	cfg := filepath.Join(tmp, "config")
	for _, kv := range mirrorConfig {
		if _, err := git(ctx, "", "config", "--file", cfg, kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("create mirror: %w", err)
	}
	return nil
}

// headResolves reports whether the mirror's HEAD names a branch that exists, reading the files
// git keeps refs in rather than starting git.
func headResolves(dir string) bool {
	head, err := os.ReadFile(filepath.Join(dir, "HEAD"))
	if err != nil {
		return false
	}
	ref, ok := strings.CutPrefix(strings.TrimSpace(string(head)), "ref: ")
	if !ok {
		return true // detached: it names a commit
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ref))); err == nil {
		return true
	}
	packed, err := os.ReadFile(filepath.Join(dir, "packed-refs"))
	return err == nil && strings.Contains(string(packed), " "+ref+"\n")
}

// setHead points HEAD at the remote's default branch, as clone does, so clones of the mirror
// check it out.
func setHead(ctx context.Context, dir, cloneURL string) error {
	out, err := git(ctx, dir, "ls-remote", "--symref", "--end-of-options", cloneURL, "HEAD")
	if err != nil {
		return err
	}
	// "ref: refs/heads/main\tHEAD" comes first when the remote's HEAD is a branch.
	for l := range strings.Lines(string(out)) {
		target, ok := strings.CutPrefix(l, "ref: ")
		if !ok {
			continue
		}
		target, _, _ = strings.Cut(target, "\t")
		if strings.HasPrefix(target, "refs/heads/") {
			_, err := git(ctx, dir, "symbolic-ref", "HEAD", target)
			return err
		}
	}
	return nil
}
