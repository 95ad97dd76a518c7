package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/pipeline"
)

// The runner's local caches: CacheDir/PROJECT_ID/keys is an artifact store of the server's
// caches of that project, and CacheDir/PROJECT_ID/etags/KEY the server's ETag of the version
// the store holds for KEY. The server is the source of truth: a local version is restored
// only when the server answers 304 Not Modified to that ETag, and is replaced by what the
// server sends otherwise. Versions are stored only as the server has them (downloaded, or
// uploaded and acknowledged with their ETag), always with the ETag of their very content, so
// one project never sees another's caches and a cache that failed to upload is never used.

// cacheDirs returns the local store and the ETag directory of the job's project.
func (t *task) cacheDirs() (store, etags string) {
	dir := filepath.Join(t.r.cache, strconv.FormatInt(t.job.Project.ID, 10))
	return filepath.Join(dir, "keys"), filepath.Join(dir, "etags")
}

// lockKey serializes, within this runner, what touches the local version of a key of the
// job's project (s is the sanitized key): its ETag must always describe its content.
func (t *task) lockKey(ctx context.Context, s string) (unlock func(), err error) {
	name := strconv.FormatInt(t.job.Project.ID, 10) + "/" + s
	t.r.cacheMu.Lock()
	l, ok := t.r.cacheLocks[name]
	if !ok {
		l = make(chan struct{}, 1)
		t.r.cacheLocks[name] = l
	}
	t.r.cacheMu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// pullCaches restores the job's caches whose policy pulls and returns each cache's key.
func (t *task) pullCaches(ctx context.Context, buildDir string) []string {
	p := t.plan
	keys := make([]string, len(p.Cache))
	for i, c := range p.Cache {
		key, err := artifact.CacheKey(c, buildDir, t.lookup)
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: cache key: %v\n", err)
			continue
		}
		keys[i] = key
		if expr.Expand(c.Policy, t.lookup) == "push" {
			continue
		}
		hit := ""
		for _, k := range append([]string{key}, c.FallbackKeys...) {
			k = expr.Expand(k, t.lookup)
			found, err := t.restoreCache(ctx, k, buildDir)
			if err != nil {
				fmt.Fprintf(t.out, "WARNING: cache %s: %v\n", k, err)
				continue
			}
			if found {
				hit = k
				break
			}
		}
		if hit == "" {
			fmt.Fprintf(t.out, "No cache %s yet\n", key)
		} else {
			fmt.Fprintf(t.out, "Restored cache %s\n", hit)
		}
	}
	return keys
}

// restoreCache restores the server's current version of cache key into buildDir, from the
// local store when the server says it holds that version, and reports whether the server has
// one.
func (t *task) restoreCache(ctx context.Context, key, buildDir string) (bool, error) {
	s, err := artifact.SanitizeKey(key)
	if err != nil {
		return false, err
	}
	unlock, err := t.lockKey(ctx, s)
	if err != nil {
		return false, err
	}
	defer unlock()
	store, etags := t.cacheDirs()
	etag := readETag(etags, s)
	dir := filepath.Join(t.tmp, "cache-pull")
	defer artifact.RemoveTree(dir)
	path := cachePath(t.job.Project.ID, s)
	status, newTag, err := t.download(ctx, path, etag, dir, t.r.maxCache)
	if err == nil && status == http.StatusNotModified {
		if hit, err := artifact.Pull(store, s, nil, buildDir); err == nil && hit != "" {
			return true, nil
		}
		// The local copy is unusable: get the server's.
		status, newTag, err = t.download(ctx, path, "", dir, t.r.maxCache)
	}
	switch {
	case err != nil:
		return false, tooLarge(err, "max_cache_size")
	case status == http.StatusNotFound:
		return false, nil
	case status != http.StatusOK:
		return false, fmt.Errorf("the server answered %d", status)
	}
	fmt.Fprintf(t.out, "Downloaded cache %s\n", key)
	if err := artifact.Restore(dir, buildDir); err != nil {
		return false, err
	}
	if newTag != "" {
		if err := storeLocal(store, etags, s, dir, newTag); err != nil {
			fmt.Fprintf(t.out, "WARNING: keep cache %s: %v\n", key, err)
		}
	}
	return true, nil
}

// pushCaches sends the job's caches whose policy pushes (per cache:when) to the server, and
// keeps each one the server took in the local store. A cache is "saved" only once the server
// has it.
func (t *task) pushCaches(ctx context.Context, ok bool, untracked []string) {
	for i, c := range t.plan.Cache {
		key := t.keys[i]
		if key == "" || expr.Expand(c.Policy, t.lookup) == "pull" || !when(c.When, ok) {
			continue
		}
		if len(c.Paths) == 0 && !c.Untracked {
			fmt.Fprintf(t.out, "WARNING: cache %s: no paths and no untracked files: nothing to save\n", key)
			continue
		}
		files, err := t.pushCache(ctx, key, c, untracked, i)
		switch {
		case err != nil:
			fmt.Fprintf(t.out, "WARNING: cache %s not saved: %v\n", key, err)
		case files == 0:
			fmt.Fprintf(t.out, "WARNING: cache %s: no files matched: the cache is left as it was\n", key)
		default:
			fmt.Fprintf(t.out, "Saved cache %s: %d files\n", key, files)
		}
	}
}

// pushCache collects cache c into the temp dir, uploads it and keeps it locally; it returns
// how many files it saved.
func (t *task) pushCache(ctx context.Context, key string, c pipeline.Cache, untracked []string, i int) (int, error) {
	s, err := artifact.SanitizeKey(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Join(t.tmp, fmt.Sprintf("cache-push-%d", i))
	defer artifact.RemoveTree(dir)
	rep, err := artifact.CollectMax(t.buildDir, dir, &pipeline.Artifacts{Paths: c.Paths, Untracked: c.Untracked}, t.lookup, untracked, t.r.maxCache, t.jobUID)
	for _, w := range rep.Warnings {
		fmt.Fprintf(t.out, "WARNING: cache %s: %s\n", key, w)
	}
	if err != nil || rep.Files == 0 {
		return 0, tooLarge(err, "max_cache_size")
	}
	etag, err := t.upload(ctx, http.MethodPut, cachePath(t.job.Project.ID, s), dir)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if etag != "" {
		unlock, err := t.lockKey(ctx, s)
		if err == nil {
			store, etags := t.cacheDirs()
			err = storeLocal(store, etags, s, dir, etag)
			unlock()
		}
		if err != nil {
			fmt.Fprintf(t.out, "WARNING: keep cache %s: %v\n", key, err)
		}
	}
	return rep.Files, nil
}

// storeLocal makes the tree at dir the local version of key s, with the server's etag. The
// old ETag goes first: a version without one is never used.
func storeLocal(store, etags, s, dir, etag string) error {
	tagFile := filepath.Join(etags, s)
	if err := os.Remove(tagFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, err := artifact.Push(store, s, pipeline.Cache{Paths: []string{"."}}, dir, nil, nil); err != nil {
		return err
	}
	if err := os.MkdirAll(etags, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(etags, ".etag-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(etag)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), tagFile)
}

// readETag returns the ETag of the local version of key s, or "" when there is none.
func readETag(etags, s string) string {
	b, err := os.ReadFile(filepath.Join(etags, s))
	if err != nil {
		return ""
	}
	return string(b)
}
