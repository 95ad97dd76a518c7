package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slipway/slipway/internal/pipeline"
)

// DefaultCacheKey is the key of a cache without key:, and of a key:files cache whose files
// do not exist (after key:prefix and "-"), as on GitLab.
const DefaultCacheKey = "default"

// ErrEmptyKey is returned when a cache key expands to nothing. GitLab Runner then skips the
// cache with a warning; so should the caller.
var ErrEmptyKey = errors.New("empty cache key")

// maxKeyLen bounds a sanitized key, which names a directory: longer keys are shortened and
// suffixed with a hash of the whole key so that they stay distinct.
const maxKeyLen = 200

// Names inside a key's directory in the store.
const (
	currentLink   = "current" // symbolic link to the current version
	lockFile      = "lock"    // flock(2)ed by readers and writers
	versionPrefix = "v-"      // one directory per pushed version
	linkPrefix    = "link-"   // a new current link before it is renamed into place
)

// CacheKey computes the key of cache c as GitLab does, for a job whose checkout is buildDir:
//
//   - key: is expanded with vars; unset, it is "default". A key that expands to nothing is
//     ErrEmptyKey.
//   - key:files (expanded; files, directories or globs, relative to buildDir) make the key a
//     hash of those files. GitLab uses the SHA of the last commit that changed them; a local
//     run has uncommitted changes that matter, so here it is the first 16 hex digits of the
//     SHA-256 of the matched files' paths and contents (a symbolic link counts by its
//     target). Any change to the files changes the key; the key is "default" when none of
//     them exists. key:prefix (expanded) is prepended with a "-".
//
// The result is sanitized with SanitizeKey.
func CacheKey(c pipeline.Cache, buildDir string, vars func(string) (string, bool)) (string, error) {
	var key string
	if len(c.KeyFiles) == 0 {
		key = DefaultCacheKey
		if c.Key != "" {
			key = expand(c.Key, vars)
		}
	} else {
		sum, err := hashFiles(buildDir, c.KeyFiles, vars)
		if err != nil {
			return "", err
		}
		key = DefaultCacheKey
		if sum != "" {
			key = sum
		}
		if prefix := expand(c.KeyPrefix, vars); prefix != "" {
			key = prefix + "-" + key
		}
	}
	if key == "" {
		return "", fmt.Errorf("cache key %q: %w", c.Key, ErrEmptyKey)
	}
	return SanitizeKey(key)
}

// hashFiles hashes the files that patterns match in buildDir, or returns "" when none exists.
// Each file is read beneath the build directory's os.Root, at most the size it had when found.
func hashFiles(buildDir string, patterns []string, vars func(string) (string, bool)) (string, error) {
	c, err := newCollector(buildDir)
	if err != nil {
		return "", err
	}
	defer c.close()
	for _, p := range patterns {
		c.addPath(expand(p, vars))
	}
	h := sha256.New()
	n := 0
	for _, e := range c.sorted() {
		switch {
		case e.mode.IsRegular():
			f, err := openIn(e.from, e.host)
			if err != nil {
				return "", fmt.Errorf("cache key:files: %w", err)
			}
			fmt.Fprintf(h, "f %q %d\n", e.rel, e.size)
			_, err = io.Copy(h, io.LimitReader(f, e.size))
			f.Close()
			if err != nil {
				return "", fmt.Errorf("cache key:files: %w", err)
			}
		case e.mode&fs.ModeSymlink != 0:
			fmt.Fprintf(h, "l %q %q\n", e.rel, e.target)
		default:
			continue
		}
		n++
	}
	if n == 0 {
		return "", nil
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// SanitizeKey turns a cache key into the name of one directory of the store, with GitLab
// Runner's rules for keys that look like paths: %2F and %2E (any case) stand for "/" and ".",
// a backslash is a slash, "." and ".." elements are resolved without leaving the root, and
// trailing white space of the last element and empty elements are dropped. The slashes left
// are then written %2F, so "feature/x" is stored as "feature%2Fx". A key with nothing left
// ("", ".", "../..", "%2E") is an error. SanitizeKey is idempotent.
func SanitizeKey(key string) (string, error) {
	if strings.IndexByte(key, 0) >= 0 || !utf8.ValidString(key) {
		return "", fmt.Errorf("cache key %q: not valid text", key)
	}
	k := key
	for _, enc := range []string{"%2f", "%2F"} {
		k = strings.ReplaceAll(k, enc, "/")
	}
	for _, enc := range []string{"%2e", "%2E"} {
		k = strings.ReplaceAll(k, enc, ".")
	}
	// Rooted, so that ".." never leaves; then trailing space is cut from the last element
	// until none is left (cutting may expose "." or an element that ends in space).
	k = path.Join("/", strings.ReplaceAll(k, `\`, "/"))
	for {
		dir, file := path.Split(k)
		trimmed := strings.TrimRightFunc(file, unicode.IsSpace)
		if trimmed == file {
			break
		}
		k = path.Join(dir, trimmed)
	}
	k = strings.TrimPrefix(k, "/")
	if k == "" {
		return "", fmt.Errorf("cache key %q: %w", key, ErrEmptyKey)
	}
	k = strings.ReplaceAll(k, "/", "%2F")
	if len(k) > maxKeyLen {
		sum := sha256.Sum256([]byte(k))
		cut := maxKeyLen - 17
		for cut > 0 && !utf8.RuneStart(k[cut]) {
			cut--
		}
		k = k[:cut] + "-" + hex.EncodeToString(sum[:8])
	}
	return k, nil
}

// Pull restores the cache stored under key in store into buildDir, or, when there is none,
// the first of the fallback keys that exists (cache:fallback_keys, then CACHE_FALLBACK_KEY,
// expanded by the caller). It returns the key restored, as given, or "" on a miss, which is
// not an error. Keys are sanitized with SanitizeKey; one that cannot be is an error.
//
// Pull holds a shared lock on the key while it copies, so a concurrent Push never removes the
// version being read, and it always sees a complete version: the one current when it started.
func Pull(store, key string, fallback []string, buildDir string) (hitKey string, err error) {
	seen := map[string]bool{}
	for _, k := range append([]string{key}, fallback...) {
		s, err := SanitizeKey(k)
		if err != nil {
			return "", err
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		hit, err := pullKey(filepath.Join(store, s), buildDir)
		if err != nil {
			return "", fmt.Errorf("pull cache %q: %w", k, err)
		}
		if hit {
			return k, nil
		}
	}
	return "", nil
}

func pullKey(dir, buildDir string) (bool, error) {
	unlock, err := lockShared(filepath.Join(dir, lockFile), false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	target, err := os.Readlink(filepath.Join(dir, currentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !strings.HasPrefix(target, versionPrefix) || strings.ContainsAny(target, `/\`) {
		return false, fmt.Errorf("%s: unexpected link to %q", filepath.Join(dir, currentLink), target)
	}
	return true, Restore(filepath.Join(dir, target), buildDir)
}

// Push stores cache c of the job in buildDir under key in store, replacing what was there.
// cache:paths and cache:untracked select files as artifacts do in Collect (vars expands the
// paths; untracked lists the untracked files), and files are hard-linked when the store is on
// the same file system. When nothing matches, the cache is left as it was and Report says so;
// a cache without paths or untracked stores nothing. The policy and when: are the caller's.
//
// Each key is a directory of the store: every Push writes a new version directory beside the
// current one, then renames a new "current" symbolic link over the old, so a concurrent Pull
// sees either the old version or the new one, never a partial one. Old versions are removed
// by the next Push that finds no reader or writer of the key (flock(2); where that is not
// available they are kept). Concurrent Pushes of one key are safe: the last rename wins.
func Push(store, key string, c pipeline.Cache, buildDir string, vars func(string) (string, bool), untracked []string) (Report, error) {
	s, err := SanitizeKey(key)
	if err != nil {
		return Report{}, err
	}
	if len(c.Paths) == 0 && !c.Untracked {
		return Report{Warnings: []string{"cache: no paths and no untracked files: nothing to push"}}, nil
	}
	dir := filepath.Join(store, s)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return Report{}, fmt.Errorf("push cache %q: %w", key, err)
	}
	lock := filepath.Join(dir, lockFile)
	unlock, err := lockShared(lock, true)
	if err != nil {
		return Report{}, fmt.Errorf("push cache %q: %w", key, err)
	}
	rep, pushed, err := pushVersion(dir, c, buildDir, vars, untracked)
	unlock()
	if err != nil {
		return rep, fmt.Errorf("push cache %q: %w", key, err)
	}
	if !pushed {
		rep.Warnings = append(rep.Warnings, "cache: no files matched: the cache is left as it was")
		return rep, nil
	}
	removeOldVersions(dir, lock)
	return rep, nil
}

// pushVersion writes a new version of the cache in dir and makes it current.
func pushVersion(dir string, c pipeline.Cache, buildDir string, vars func(string) (string, bool), untracked []string) (Report, bool, error) {
	tmp, err := os.MkdirTemp(dir, versionPrefix)
	if err != nil {
		return Report{}, false, err
	}
	rep, err := Collect(buildDir, tmp, &pipeline.Artifacts{Paths: c.Paths, Untracked: c.Untracked}, vars, untracked)
	if err == nil {
		var list []os.DirEntry
		if list, err = os.ReadDir(tmp); err == nil && len(list) == 0 {
			return rep, false, os.Remove(tmp)
		}
	}
	if err == nil {
		link := filepath.Join(dir, linkPrefix+filepath.Base(tmp))
		if err = os.Symlink(filepath.Base(tmp), link); err == nil {
			if err = os.Rename(link, filepath.Join(dir, currentLink)); err != nil {
				os.Remove(link)
			}
		}
	}
	if err != nil {
		RemoveTree(tmp)
		return rep, false, err
	}
	return rep, true, nil
}

// removeOldVersions removes the versions of a key other than the current one, when nobody
// reads or writes the key. It is best effort: what it cannot remove now, a later Push will.
func removeOldVersions(dir, lock string) {
	unlock, ok := tryLockExclusive(lock)
	if !ok {
		return
	}
	defer unlock()
	current, err := os.Readlink(filepath.Join(dir, currentLink))
	if err != nil {
		return
	}
	list, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, d := range list {
		name := d.Name()
		switch {
		case strings.HasPrefix(name, versionPrefix) && name != current:
			RemoveTree(filepath.Join(dir, name))
		case strings.HasPrefix(name, linkPrefix):
			os.Remove(filepath.Join(dir, name))
		}
	}
}
