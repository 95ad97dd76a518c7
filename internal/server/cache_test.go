package server

import (
	"net/http"
	"testing"

	"github.com/slipway/slipway/internal/jobapi"
)

// TestCacheETag: a cache's GET carries the ETag its PUT answered with, and answers 304 to a
// runner whose copy has that ETag; a new upload changes it.
func TestCacheETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [make]\n")
	pid := e.project("app", "")
	e.trigger(pid, "main", nil)
	j := e.claim(e.mustRegister("r"), "build")
	path := jobapi.PathCache(pid, "deps")
	put := func(body string) string {
		r := e.do(http.MethodPut, path, j.Token, body, http.Header{"Content-Type": {"application/gzip"}})
		if r.status != http.StatusCreated || r.header.Get("ETag") == "" {
			t.Fatalf("PUT: %s, ETag %q", r, r.header.Get("ETag"))
		}
		return r.header.Get("ETag")
	}
	get := func(etag string) *reply {
		var h http.Header
		if etag != "" {
			h = http.Header{"If-None-Match": {etag}}
		}
		return e.do(http.MethodGet, path, j.Token, nil, h)
	}
	tag := put("version one")
	if r := get(""); r.status != http.StatusOK || string(r.body) != "version one" || r.header.Get("ETag") != tag {
		t.Errorf("GET: %s, ETag %q, want %q", r, r.header.Get("ETag"), tag)
	}
	if r := get(tag); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("GET with the current ETag: %s, want 304", r)
	}
	tag2 := put("version two!")
	if tag2 == tag {
		t.Fatalf("a new upload kept the ETag %s", tag)
	}
	if r := get(tag); r.status != http.StatusOK || string(r.body) != "version two!" {
		t.Errorf("GET with the old ETag: %s, want 200 and the new version", r)
	}
	if r := e.do(http.MethodGet, jobapi.PathCache(pid+1, "deps"), j.Token, nil, nil); r.status != http.StatusForbidden {
		t.Errorf("another project's cache: %s", r)
	}
}

// TestAttackCachePoisonFromFeatureBranch: a feature branch job writes the cache key main's
// pipeline uses (its runner would, or the job itself with its token and curl); main's
// protected pipeline must not restore it, nor may the feature job read main's cache.
func TestAttackCachePoisonFromFeatureBranch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [make]\n")
	pid := e.project("app", "")
	e.git("checkout", "-q", "-b", "feature")
	e.commit(map[string]string{"evil.sh": "env"}, "feature")
	e.git("checkout", "-q", "main")
	runner := e.mustRegister("r")
	e.trigger(pid, "main", nil)
	mainJob := e.claim(runner, "build")
	e.trigger(pid, "feature", nil)
	feature := e.claim(runner, "build")
	path := jobapi.PathCache(pid, "deps")
	gz := http.Header{"Content-Type": {"application/gzip"}}
	if r := e.do(http.MethodPut, path, mainJob.Token, "main's cache", gz); r.status != http.StatusCreated {
		t.Fatalf("PUT from main: %s", r)
	}
	if r := e.do(http.MethodGet, path, feature.Token, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("the feature branch job read main's cache: %s", r)
	}
	if r := e.do(http.MethodPut, path, feature.Token, "poison", gz); r.status != http.StatusCreated {
		t.Fatalf("PUT from the feature branch: %s", r)
	}
	if r := e.do(http.MethodGet, path, mainJob.Token, nil, nil); r.status != http.StatusOK || string(r.body) != "main's cache" {
		t.Errorf("main's pipeline got the feature branch's cache: %s", r)
	}
	if r := e.do(http.MethodGet, path, feature.Token, nil, nil); r.status != http.StatusOK || string(r.body) != "poison" {
		t.Errorf("the feature branch's own cache: %s", r)
	}
}
