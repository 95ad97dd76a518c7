package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/store"
)

// MaxArtifactSize bounds one artifacts or cache archive.
const MaxArtifactSize = 1 << 30

// DefaultArtifactExpiry is how long artifacts are kept when the job sets no expire_in.
const DefaultArtifactExpiry = 30 * 24 * time.Hour

// saveFile streams a request body of at most MaxArtifactSize into rel (under the data dir)
// through a temporary file, so a cut upload leaves nothing behind, and returns the file's info
// and SHA-256.
func (s *Server) saveFile(w http.ResponseWriter, r *http.Request, rel string) (os.FileInfo, string, error) {
	dst := filepath.Join(s.o.Data, rel)
	tmp, fi, sum, err := s.receive(w, r, filepath.Dir(dst), MaxArtifactSize)
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, dst); err != nil {
		return nil, "", fmt.Errorf("keep upload: %w", err)
	}
	return fi, sum, nil
}

// receive streams a request body of at most max bytes into a new temporary file in dir (made
// if need be) and returns its path, its info and its SHA-256. The caller renames the file
// into place or removes it; an upload that failed leaves nothing behind.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, dir string, max int64) (string, os.FileInfo, string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", nil, "", fmt.Errorf("make upload dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return "", nil, "", fmt.Errorf("create upload file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(w, r.Body, max))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, "", err
		}
		return "", nil, "", errStatus(http.StatusBadRequest, "read upload: %v", err)
	}
	// Taken before the rename, which keeps it: the info of this upload, whatever replaces it.
	fi, err := os.Stat(tmp.Name())
	if err != nil {
		return "", nil, "", fmt.Errorf("keep upload: %w", err)
	}
	ok = true
	return tmp.Name(), fi, hex.EncodeToString(h.Sum(nil)), nil
}

// uploadArtifacts is POST /api/v1/jobs/{id}/artifacts?kind=archive: the job's artifacts as a
// tar.gz.
func (s *Server) uploadArtifacts(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := jobOfToken(r, c)
	if err != nil {
		return err
	}
	kind := r.URL.Query().Get("kind")
	if kind == "" {
		kind = "archive"
	}
	if kind != "archive" && kind != "junit" && kind != "dotenv" {
		return errStatus(http.StatusBadRequest, "kind %q: want archive, junit or dotenv", kind)
	}
	rel := filepath.Join("artifacts", itoa(j.ProjectID), itoa(j.PipelineID), itoa(j.ID), kind+".tar.gz")
	fi, sum, err := s.saveFile(w, r, rel)
	if err != nil {
		return err
	}
	spec := s.sched.Spec(j)
	a := &store.Artifact{JobID: j.ID, Kind: kind, Name: "artifacts", Size: fi.Size(), SHA256: sum, Path: rel,
		ExpireAt: s.now().Add(expiry(spec.Artifacts))}
	if spec.Artifacts != nil && spec.Artifacts.Name != "" {
		a.Name = spec.Artifacts.Name
	}
	if err := s.store.AddArtifact(r.Context(), a); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

// expiry is how long a job's artifacts are kept: expire_in, else DefaultArtifactExpiry;
// "never" keeps them until the pipeline is deleted.
func expiry(a *pipeline.Artifacts) time.Duration {
	if a == nil || a.ExpireIn == "" {
		return DefaultArtifactExpiry
	}
	if a.ExpireIn == "never" {
		return 100 * 365 * 24 * time.Hour
	}
	d, err := pipeline.ParseDuration(a.ExpireIn)
	if err != nil || d <= 0 {
		return DefaultArtifactExpiry
	}
	return d
}

// downloadArtifacts is GET /api/v1/jobs/{id}/artifacts: the archive, to an API token or a
// job token of a project the job's project allows (see allows); to other job tokens the job
// does not exist.
func (s *Server) downloadArtifacts(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	if c.job != nil && c.job.ProjectID != j.ProjectID {
		p, err := s.store.Project(r.Context(), j.ProjectID)
		if err != nil {
			return err
		}
		if err := s.jobReaches(r.Context(), c.job, p); err != nil {
			return err
		}
	}
	kind := r.URL.Query().Get("kind")
	if kind == "" {
		kind = "archive"
	}
	// Artifacts a reporter may not have (artifacts: public: false) need the caller's role;
	// job tokens fetch them for the jobs that need them, public or not.
	if arts := s.sched.Spec(j).Artifacts; c.job == nil && artifactsHidden(arts, store.RoleReporter) {
		p, err := s.store.Project(r.Context(), j.ProjectID)
		if err != nil {
			return err
		}
		role, err := s.callerRole(r.Context(), c, p)
		if err != nil {
			return err
		}
		if artifactsHidden(arts, role) {
			return errStatus(http.StatusNotFound, "job %d has no %s artifacts", j.ID, kind)
		}
	}
	arts, err := s.store.ListArtifacts(r.Context(), j.ID)
	if err != nil {
		return err
	}
	for _, a := range arts {
		if a.Kind == kind {
			return s.serveArchive(w, r, a)
		}
	}
	return errStatus(http.StatusNotFound, "job %d has no %s artifacts", j.ID, kind)
}

// serveArchive answers with an artifacts archive (a tar.gz), as an attachment; Range
// requests are served.
func (s *Server) serveArchive(w http.ResponseWriter, r *http.Request, a *store.Artifact) error {
	f, err := os.Open(filepath.Join(s.o.Data, a.Path))
	if err != nil {
		return fmt.Errorf("open artifacts: %w", err)
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name + ".tar.gz"}))
	http.ServeContent(w, r, a.Name+".tar.gz", a.Created, f)
	return nil
}

// cacheOf is the cache record of the key in a request's path for the caller's job: of its
// project, and protected when its pipeline is. As on GitLab, pipelines with protected
// variables and those without have caches of their own: a feature branch job that wrote a
// cache main's pipeline restores would run its code there, next to the protected variables
// (and read what main's jobs cache).
func (s *Server) cacheOf(r *http.Request, c *caller) (*store.Cache, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if c.job == nil || c.job.ProjectID != id {
		return nil, errStatus(http.StatusForbidden, "a job token reads and writes its own project's cache only")
	}
	key, err := artifact.SanitizeKey(r.PathValue("key"))
	if err != nil {
		return nil, errStatus(http.StatusBadRequest, "cache key: %v", err)
	}
	pl, err := s.store.Pipeline(r.Context(), c.job.PipelineID)
	if err != nil {
		return nil, fmt.Errorf("pipeline of the job token: %w", err)
	}
	return &store.Cache{ProjectID: id, Protected: pl.Protected, Key: key}, nil
}

// cacheFile is where a cache's archive is kept, under the data dir.
func cacheFile(c *store.Cache) string {
	return filepath.Join(cacheDir(c.ProjectID, c.Protected), c.Key+".tar.gz")
}

// cacheDir holds a project's protected or unprotected cache archives, under the data dir.
func cacheDir(projectID int64, protected bool) string {
	if protected {
		return filepath.Join("cache", itoa(projectID), "protected")
	}
	return filepath.Join("cache", itoa(projectID))
}

// getCache is GET /api/v1/projects/{id}/cache/{key}: the cache's archive. Reading it counts
// as a use (for Limits.CacheAge and the quota's eviction order).
func (s *Server) getCache(w http.ResponseWriter, r *http.Request, c *caller) error {
	rec, err := s.cacheOf(r, c)
	if err != nil {
		return err
	}
	f, st, err := s.useCache(r.Context(), rec)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("ETag", cacheETag(st, rec.Protected))
	// ServeContent answers 304 to an If-None-Match with that ETag: a runner's copy is current.
	http.ServeContent(w, r, "cache.tar.gz", st.ModTime(), f)
	return nil
}

// putCache is PUT /api/v1/projects/{id}/cache/{key}: the cache's archive, within the
// project's quota (see keepCache). The answer's ETag is the one a GET gives while this upload
// is the key's current version.
func (s *Server) putCache(w http.ResponseWriter, r *http.Request, c *caller) error {
	rec, err := s.cacheOf(r, c)
	if err != nil {
		return err
	}
	dst := filepath.Join(s.o.Data, cacheFile(rec))
	max := min(MaxArtifactSize, s.o.Limits.CacheQuota-CacheKeyOverhead)
	tmp, fi, _, err := s.receive(w, r, filepath.Dir(dst), max)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errStatus(http.StatusRequestEntityTooLarge, "a cache archive may have at most %d bytes (the server's limit, or the project's cache quota, --cache-quota, of %d bytes less %d)",
			max, s.o.Limits.CacheQuota, CacheKeyOverhead)
	}
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	rec.Size = fi.Size()
	if err := s.keepCache(r.Context(), rec, tmp); err != nil {
		return err
	}
	w.Header().Set("ETag", cacheETag(fi, rec.Protected))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// cacheETag identifies a stored cache archive: each upload is a new file, written and renamed
// into place, with its own size and modification time (to the nanosecond). Those of protected
// caches differ in form, so a runner's local copy of one never passes for the other's.
func cacheETag(fi os.FileInfo, protected bool) string {
	p := ""
	if protected {
		p = "p-"
	}
	return fmt.Sprintf(`"%s%x-%x"`, p, fi.Size(), fi.ModTime().UnixNano())
}
