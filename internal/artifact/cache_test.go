package artifact

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/internal/pipeline"
)

func TestCacheKey(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mkTree(t, root, map[string]string{
		"package-lock.json": `{"lockfileVersion": 3}`,
		"Gemfile.lock":      "GEM\n",
		"locks/a.lock":      "a",
	})
	vars := lookup(map[string]string{"CI_COMMIT_REF_SLUG": "main", "REF": "feature/x", "LOCK": "package-lock.json", "EMPTY": ""})
	lockKey, err := CacheKey(pipeline.Cache{KeyFiles: []string{"package-lock.json"}}, root, vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(lockKey) != 16 || strings.Trim(lockKey, "0123456789abcdef") != "" {
		t.Fatalf("key:files key = %q, want 16 hex digits", lockKey)
	}
	tests := []struct {
		name    string
		c       pipeline.Cache
		want    string
		wantErr error
	}{
		{name: "no key", c: pipeline.Cache{}, want: "default"},
		{name: "plain", c: pipeline.Cache{Key: "gems"}, want: "gems"},
		{name: "variable", c: pipeline.Cache{Key: "$CI_COMMIT_REF_SLUG-npm"}, want: "main-npm"},
		{name: "slash in a variable", c: pipeline.Cache{Key: "${REF}"}, want: "feature%2Fx"},
		{name: "empty after expansion", c: pipeline.Cache{Key: "$EMPTY"}, wantErr: ErrEmptyKey},
		{name: "only dots", c: pipeline.Cache{Key: ".."}, wantErr: ErrEmptyKey},
		{name: "files", c: pipeline.Cache{KeyFiles: []string{"package-lock.json"}}, want: lockKey},
		{name: "files through a variable", c: pipeline.Cache{KeyFiles: []string{"$LOCK"}}, want: lockKey},
		{name: "missing files do not count", c: pipeline.Cache{KeyFiles: []string{"package-lock.json", "yarn.lock"}}, want: lockKey},
		{name: "prefix", c: pipeline.Cache{KeyFiles: []string{"package-lock.json"}, KeyPrefix: "$CI_COMMIT_REF_SLUG"}, want: "main-" + lockKey},
		{name: "no file", c: pipeline.Cache{KeyFiles: []string{"yarn.lock"}}, want: "default"},
		{name: "no file, prefix", c: pipeline.Cache{KeyFiles: []string{"yarn.lock"}, KeyPrefix: "node"}, want: "node-default"},
		{name: "file outside", c: pipeline.Cache{KeyFiles: []string{"../x.lock"}}, want: "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := CacheKey(tt.c, root, vars)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CacheKey = %q, %v, want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("CacheKey = %q, %v, want %q", got, err, tt.want)
			}
		})
	}

	t.Run("files change the key", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mkTree(t, dir, map[string]string{"a.lock": "1", "b.lock": "2", "locks/x": "x"})
		c := pipeline.Cache{KeyFiles: []string{"a.lock", "b.lock"}}
		key := func() string {
			t.Helper()
			k, err := CacheKey(c, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		k1 := key()
		if key() != k1 {
			t.Fatal("key is not stable")
		}
		mkTree(t, dir, map[string]string{"c.lock": "unrelated"})
		if key() != k1 {
			t.Error("an unrelated file changed the key")
		}
		if err := os.WriteFile(filepath.Join(dir, "b.lock"), []byte("3"), 0o644); err != nil {
			t.Fatal(err)
		}
		k2 := key()
		if k2 == k1 {
			t.Error("changing b.lock kept the key")
		}
		if err := os.Rename(filepath.Join(dir, "a.lock"), filepath.Join(dir, "b2.lock")); err != nil {
			t.Fatal(err)
		}
		if key() == k2 {
			t.Error("removing a.lock kept the key")
		}
		c.KeyFiles = []string{"locks/"}
		k3 := key()
		mkTree(t, dir, map[string]string{"locks/y": "y"})
		if key() == k3 {
			t.Error("a new file in a key:files directory kept the key")
		}
	})
}

func TestSanitizeKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "default", want: "default"},
		{in: "feature/x", want: "feature%2Fx"},
		{in: "feature%2fx", want: "feature%2Fx"},
		{in: `a\b`, want: "a%2Fb"},
		{in: "../../etc/passwd", want: "etc%2Fpasswd"},
		{in: "%2E%2E/%2e%2e/x", want: "x"},
		{in: "a//b/./c/", want: "a%2Fb%2Fc"},
		{in: "key  ", want: "key"},
		{in: "a/ ", want: "a"},
		{in: " lead", want: " lead"},
		{in: "...", want: "..."},
		{in: ".hidden", want: ".hidden"},
		{in: "100%", want: "100%"},
		{in: "", err: true},
		{in: ".", err: true},
		{in: "..", err: true},
		{in: "%2F", err: true},
		{in: "%2e", err: true},
		{in: "/ /", err: true},
		{in: "a\x00b", err: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			got, err := SanitizeKey(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("SanitizeKey(%q) = %q, %v, want %q (error %v)", tt.in, got, err, tt.want, tt.err)
			}
			if err == nil {
				if again, _ := SanitizeKey(got); again != got {
					t.Errorf("SanitizeKey(%q) = %q, not idempotent", got, again)
				}
			}
		})
	}
	long := strings.Repeat("é/", 300)
	k, err := SanitizeKey(long)
	if err != nil || len(k) > maxKeyLen {
		t.Fatalf("long key = %q (%d bytes), %v", k, len(k), err)
	}
	if again, _ := SanitizeKey(k); again != k {
		t.Errorf("long key not idempotent: %q → %q", k, again)
	}
	if k2, _ := SanitizeKey(long + "x"); k2 == k {
		t.Error("two long keys collide")
	}
}

func TestPushPull(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	store := filepath.Join(base, "cache")
	job := filepath.Join(base, "job1")
	mkTree(t, job, map[string]string{
		"vendor/a.rb": "a", "vendor/b/c.rb": "c", "node_modules/x.js": "x", "tmp/junk": "j", "untracked.log": "log",
	})
	c := pipeline.Cache{Paths: []string{"vendor/", "$MODULES/"}, Untracked: true}
	vars := lookup(map[string]string{"MODULES": "node_modules"})

	// A miss is not an error.
	if hit, err := Pull(store, "gems", nil, filepath.Join(base, "job0")); err != nil || hit != "" {
		t.Fatalf("Pull on an empty store = %q, %v", hit, err)
	}

	rep, err := Push(store, "gems", c, job, vars, []string{"untracked.log"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 4 || len(rep.Warnings) != 0 {
		t.Errorf("Push report = %+v", rep)
	}

	next := filepath.Join(base, "job2")
	mkTree(t, next, map[string]string{"vendor/a.rb": "stale", "own.txt": "mine"})
	hit, err := Pull(store, "gems", nil, next)
	if err != nil || hit != "gems" {
		t.Fatalf("Pull = %q, %v", hit, err)
	}
	diffTrees(t, listTree(t, next), map[string]string{
		"vendor/": "", "vendor/a.rb": "a", "vendor/b/": "", "vendor/b/c.rb": "c",
		"node_modules/": "", "node_modules/x.js": "x", "untracked.log": "log", "own.txt": "mine",
	})

	// A new push replaces the whole cache: files gone from the job are gone from the cache.
	if err := os.RemoveAll(filepath.Join(next, "vendor/b")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(next, "vendor/a.rb"), []byte("a2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(store, "gems", c, next, vars, nil); err != nil {
		t.Fatal(err)
	}
	third := filepath.Join(base, "job3")
	if hit, err := Pull(store, "gems", nil, third); err != nil || hit != "gems" {
		t.Fatalf("Pull = %q, %v", hit, err)
	}
	diffTrees(t, listTree(t, third), map[string]string{
		"vendor/": "", "vendor/a.rb": "a2", "node_modules/": "", "node_modules/x.js": "x",
	})
	// Nobody was reading: the old version is gone.
	versions, _ := filepath.Glob(filepath.Join(store, "gems", versionPrefix+"*"))
	if len(versions) != 1 {
		t.Errorf("versions left: %q", versions)
	}

	// Nothing matched: the cache stays.
	empty := filepath.Join(base, "empty")
	mkTree(t, empty, map[string]string{"other/": ""})
	rep, err = Push(store, "gems", pipeline.Cache{Paths: []string{"vendor/"}}, empty, nil, nil)
	if err != nil || !strings.Contains(strings.Join(rep.Warnings, "\n"), "left as it was") {
		t.Errorf("Push of nothing = %+v, %v", rep, err)
	}
	fourth := filepath.Join(base, "job4")
	if hit, _ := Pull(store, "gems", nil, fourth); hit != "gems" || len(listTree(t, fourth)) != 4 {
		t.Errorf("the cache changed after an empty push: %v", listTree(t, fourth))
	}

	// No paths at all: nothing is pushed.
	if rep, err := Push(store, "none", pipeline.Cache{}, job, nil, nil); err != nil || len(rep.Warnings) != 1 {
		t.Errorf("Push without paths = %+v, %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(store, "none")); !os.IsNotExist(err) {
		t.Errorf("Push without paths created the key: %v", err)
	}
}

func TestPullFallback(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	store := filepath.Join(base, "cache")
	job := filepath.Join(base, "job")
	mkTree(t, job, map[string]string{"deps/x": "main"})
	if _, err := Push(store, "main", pipeline.Cache{Paths: []string{"deps"}}, job, nil, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      string
		fallback []string
		want     string
		err      bool
	}{
		{name: "key wins", key: "main", fallback: []string{"other"}, want: "main"},
		{name: "first existing fallback", key: "feature", fallback: []string{"missing", "main"}, want: "main"},
		{name: "fallback that needs sanitizing", key: "feature", fallback: []string{"./main"}, want: "./main"},
		{name: "miss", key: "feature", fallback: []string{"missing"}, want: ""},
		{name: "bad key", key: "..", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			hit, err := Pull(store, tt.key, tt.fallback, dir)
			if (err != nil) != tt.err || hit != tt.want {
				t.Fatalf("Pull = %q, %v, want %q", hit, err, tt.want)
			}
			if hit != "" {
				if b, _ := os.ReadFile(filepath.Join(dir, "deps/x")); string(b) != "main" {
					t.Errorf("restored %q", b)
				}
			}
		})
	}
}

// TestPushPullConcurrent has pushers replace a cache while pullers read it: every pull must
// see one complete version, never a mix or a half-written one.
func TestPushPullConcurrent(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	store := filepath.Join(base, "cache")
	const files, pushers, pushes, pullers = 50, 3, 5, 4
	c := pipeline.Cache{Paths: []string{"deps/"}}
	job := func(p, n int) string { return filepath.Join(base, fmt.Sprintf("push-%d-%d", p, n)) }
	for p := range pushers {
		for n := range pushes {
			tree := map[string]string{}
			for i := range files {
				tree[fmt.Sprintf("deps/%02d", i)] = fmt.Sprintf("version %d.%d", p, n)
			}
			mkTree(t, job(p, n), tree)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, pushers*pushes+pullers*pushes*2)
	for p := range pushers {
		wg.Go(func() {
			for n := range pushes {
				if _, err := Push(store, "shared", c, job(p, n), nil, nil); err != nil {
					errs <- err
				}
			}
		})
	}
	for r := range pullers {
		wg.Go(func() {
			for n := range pushes * 2 {
				dir := filepath.Join(base, fmt.Sprintf("pull-%d-%d", r, n))
				hit, err := Pull(store, "shared", nil, dir)
				if err != nil {
					errs <- err
					continue
				}
				if hit == "" {
					continue // before the first push
				}
				got, err := readTree(dir)
				if err != nil {
					errs <- err
					continue
				}
				if len(got) != files+1 {
					errs <- fmt.Errorf("pull saw %d entries", len(got))
					continue
				}
				version := got["deps/00"]
				for k, v := range got {
					if v != version && k != "deps/" {
						errs <- fmt.Errorf("pull mixed %q and %q", version, v)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Once everyone is done, one more push leaves a single version.
	last := filepath.Join(base, "last")
	mkTree(t, last, map[string]string{"deps/x": "x"})
	if _, err := Push(store, "shared", c, last, nil, nil); err != nil {
		t.Fatal(err)
	}
	versions, _ := filepath.Glob(filepath.Join(store, "shared", versionPrefix+"*"))
	links, _ := filepath.Glob(filepath.Join(store, "shared", linkPrefix+"*"))
	if len(versions) != 1 || len(links) != 0 {
		t.Errorf("left behind: %q %q", versions, links)
	}
}

// TestReadOnlyTrees caches what Go's module cache looks like: read-only files in read-only
// directories. Collecting, restoring over an earlier restore, and replacing old versions
// must all work.
func TestReadOnlyTrees(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	t.Cleanup(func() {
		if err := RemoveTree(base); err != nil {
			t.Error(err)
		}
	})
	job := filepath.Join(base, "job")
	mkTree(t, job, map[string]string{"gomod/example.com/m@v1/go.mod": "module m", "gomod/cache/x": "x"})
	for _, p := range []string{"gomod/example.com/m@v1/go.mod", "gomod/cache/x"} {
		if err := os.Chmod(filepath.Join(job, p), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"gomod/example.com/m@v1", "gomod/example.com", "gomod/cache"} {
		if err := os.Chmod(filepath.Join(job, p), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	store := filepath.Join(base, "cache")
	c := pipeline.Cache{Paths: []string{"gomod/"}}
	for range 2 {
		if _, err := Push(store, "go", c, job, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	versions, _ := filepath.Glob(filepath.Join(store, "go", versionPrefix+"*"))
	if len(versions) != 1 {
		t.Errorf("versions = %q, want the old one removed", versions)
	}
	next := filepath.Join(base, "next")
	for range 2 {
		if hit, err := Pull(store, "go", nil, next); err != nil || hit != "go" {
			t.Fatalf("Pull = %q, %v", hit, err)
		}
	}
	if got := mode(t, filepath.Join(next, "gomod/example.com/m@v1")); got != os.ModeDir|0o555 {
		t.Errorf("mode = %v, want dr-xr-xr-x", got)
	}
	if b, err := os.ReadFile(filepath.Join(next, "gomod/example.com/m@v1/go.mod")); err != nil || string(b) != "module m" {
		t.Errorf("go.mod = %q, %v", b, err)
	}
}
