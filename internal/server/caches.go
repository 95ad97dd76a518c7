package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/store"
)

// The server's cache archives are files under DATA/cache; the store keeps a record of each
// (its size and last use), from which Limits.CacheQuota and Limits.CacheAge are applied.
// s.cacheMu orders what changes a file with its record: a read that records its use, an
// upload that evicts and replaces, retention that deletes. A record therefore never outlives
// its file for long, nor a file its record.

// useCache opens a cache's archive and records the use (it adopts, so, an archive that has no
// record). No archive is a 404.
func (s *Server) useCache(ctx context.Context, c *store.Cache) (*os.File, os.FileInfo, error) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	f, err := os.Open(filepath.Join(s.o.Data, cacheFile(c)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, errStatus(http.StatusNotFound, "no cache for this key")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open cache: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		c.Size, c.Used = st.Size(), s.now()
		err = s.store.PutCache(ctx, c)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("use cache: %w", err)
	}
	return f, st, nil
}

// keepCache makes the uploaded archive tmp the current version of c (c.Size set), within the
// project's quota: the project's least recently used other keys are evicted until its caches,
// c included, fit in Limits.CacheQuota. putCache refused an archive that alone does not.
func (s *Server) keepCache(ctx context.Context, c *store.Cache, tmp string) error {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	c.Used = s.now()
	if err := s.store.PutCache(ctx, c); err != nil {
		return fmt.Errorf("record cache: %w", err)
	}
	if err := s.evictCaches(ctx, c); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.o.Data, cacheFile(c))); err != nil {
		return fmt.Errorf("keep cache: %w", err)
	}
	return nil
}

// evictCaches deletes the least recently used caches of keep's project, keep excepted, until
// the project's caches fit in its quota; s.cacheMu is held.
func (s *Server) evictCaches(ctx context.Context, keep *store.Cache) error {
	quota := s.o.Limits.CacheQuota
	for {
		n, size, err := s.store.CacheUsage(ctx, keep.ProjectID)
		if err != nil {
			return fmt.Errorf("cache quota: %w", err)
		}
		over := size + int64(n)*CacheKeyOverhead - quota
		if over <= 0 {
			return nil
		}
		lru, err := s.store.LeastUsedCaches(ctx, keep.ProjectID, 100)
		if err != nil {
			return fmt.Errorf("cache quota: %w", err)
		}
		evicted := 0
		for _, c := range lru {
			if over <= 0 {
				break
			}
			if c.Protected == keep.Protected && c.Key == keep.Key {
				continue
			}
			if err := s.deleteCache(ctx, c); err != nil {
				return fmt.Errorf("cache quota: %w", err)
			}
			over -= c.Size + CacheKeyOverhead
			evicted++
			s.log.Info("cache evicted: the project's caches are over their quota", "project_id", c.ProjectID,
				"key", c.Key, "protected", c.Protected, "size", c.Size, "last_used", c.Used)
		}
		if evicted == 0 {
			return nil // keep alone is left, and fits (putCache saw to it)
		}
	}
}

// deleteCache removes a cache's archive, then its record.
func (s *Server) deleteCache(ctx context.Context, c *store.Cache) error {
	if err := os.Remove(filepath.Join(s.o.Data, cacheFile(c))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove cache: %w", err)
	}
	if err := s.store.DeleteCache(ctx, c); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// expireCaches deletes the caches unused for Limits.CacheAge and returns how many. When the
// store has no cache records at all (a data directory from before they were kept, or every
// record lost), the archives found on disk are adopted first, with their modification time as
// their last use.
func (s *Server) expireCaches(ctx context.Context, now time.Time) (int, error) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if n, _, err := s.store.CacheUsage(ctx, 0); err != nil {
		return 0, err
	} else if n == 0 {
		if err := s.adoptCaches(ctx); err != nil {
			return 0, err
		}
	}
	old, err := s.store.ExpireCaches(ctx, now.Add(-s.o.Limits.CacheAge))
	if err != nil {
		return 0, err
	}
	for _, c := range old {
		if err := os.Remove(filepath.Join(s.o.Data, cacheFile(c))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove cache file", "project_id", c.ProjectID, "key", c.Key, "err", err)
		}
	}
	return len(old), nil
}

// adoptCaches records the archives under DATA/cache: DATA/cache/PROJECT_ID/KEY.tar.gz and
// DATA/cache/PROJECT_ID/protected/KEY.tar.gz. s.cacheMu is held.
func (s *Server) adoptCaches(ctx context.Context) error {
	projects, err := os.ReadDir(filepath.Join(s.o.Data, "cache"))
	if err != nil {
		return fmt.Errorf("adopt caches: %w", err)
	}
	for _, p := range projects {
		id, err := strconv.ParseInt(p.Name(), 10, 64)
		if err != nil || !p.IsDir() {
			continue
		}
		for _, protected := range []bool{false, true} {
			files, err := os.ReadDir(filepath.Join(s.o.Data, cacheDir(id, protected)))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("adopt caches: %w", err)
			}
			for _, f := range files {
				key, ok := strings.CutSuffix(f.Name(), ".tar.gz")
				if !ok || !f.Type().IsRegular() {
					continue
				}
				info, err := f.Info()
				if err != nil {
					continue // gone meanwhile
				}
				rec := &store.Cache{ProjectID: id, Protected: protected, Key: key, Size: info.Size(), Used: info.ModTime()}
				if err := s.store.PutCache(ctx, rec); err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("adopt caches: %w", err)
				}
			}
		}
	}
	return nil
}
