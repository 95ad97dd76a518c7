package server

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/store"
	"github.com/slipway/slipway/internal/web"
)

// The job page's artifacts browser. An artifacts archive is a tar.gz the runner uploaded
// (artifacts.go): its files are listed by reading its headers, never by extracting it, and a
// file is served from the archive as it is read. Only regular files whose names are plain
// relative paths (fs.ValidPath: no "..", no leading "/", no empty element) are listed or
// served, and a request names one exactly: a name is a key, never a path to resolve, and a
// symbolic link entry is neither listed nor followed. Reading stops after
// Limits.ArtifactEntries entries, or once maxArchiveRead bytes were unpacked (a compression
// bomb is read no further than a real archive could be).

// maxArchiveRead bounds the bytes read from an archive once unpacked to list it or reach one
// of its files: four times the largest archive (artifacts compress, a bomb far more).
const maxArchiveRead = 4 * MaxArtifactSize

// maxEntryName bounds an entry's name; a longer one is not listed (PATH_MAX).
const maxEntryName = 4096

// errArchiveLimit: the archive has more entries, or more bytes, than are read.
var errArchiveLimit = errors.New("archive read up to its limit")

// artifactsHidden reports whether a job's artifacts (its spec's) are kept from a caller of role: those of
// a job with `artifacts: public: false` are for developers and above, as on GitLab (the job
// page and the API's download alike).
func artifactsHidden(a *pipeline.Artifacts, role store.Role) bool {
	return a != nil && a.Public != nil && !*a.Public && role < store.RoleDeveloper
}

// jobArchive is the job's artifacts archive record as the viewer of pc may see it: nil when
// it has none, and whether its artifacts expired (the record is gone or past its ExpireAt).
// As on GitLab, a job's `artifacts: public: false` keeps them from viewers below the
// developer role: for them the job has none.
func (s *Server) jobArchive(ctx context.Context, pc *pageCtx, j *store.Job) (*store.Artifact, bool, error) {
	spec := s.sched.Spec(j)
	if artifactsHidden(spec.Artifacts, pc.role) {
		return nil, false, nil
	}
	arts, err := s.store.ListArtifacts(ctx, j.ID)
	if err != nil {
		return nil, false, err
	}
	for _, a := range arts {
		if a.Kind == "archive" {
			if !a.ExpireAt.IsZero() && a.ExpireAt.Before(s.now()) {
				return nil, true, nil
			}
			return a, false, nil
		}
	}
	// Deleted by retention: the job made artifacts and their time is over.
	expired := spec.Artifacts != nil && !j.Finished.IsZero() && j.Finished.Add(expiry(spec.Artifacts)).Before(s.now())
	return nil, expired, nil
}

// walkArchive calls fn with each entry of the archive a that is a regular file with a valid
// name (and tr positioned at its content), until fn returns false or an error, the archive
// ends, or a limit is reached (errArchiveLimit).
func (s *Server) walkArchive(a *store.Artifact, fn func(name string, hdr *tar.Header, tr *tar.Reader) (bool, error)) error {
	f, err := os.Open(filepath.Join(s.o.Data, a.Path))
	if err != nil {
		return fmt.Errorf("open artifacts: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read artifacts: %w", err)
	}
	unpacked := &io.LimitedReader{R: gz, N: maxArchiveRead}
	tr := tar.NewReader(unpacked)
	for n := 0; ; n++ {
		if n >= s.o.Limits.ArtifactEntries {
			return errArchiveLimit
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if unpacked.N <= 0 {
				return errArchiveLimit
			}
			return nil
		}
		if err != nil {
			if unpacked.N <= 0 {
				return errArchiveLimit
			}
			return fmt.Errorf("read artifacts: %w", err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if hdr.Typeflag != tar.TypeReg || len(name) > maxEntryName || !fs.ValidPath(name) || name == "." {
			continue
		}
		more, err := fn(name, hdr, tr)
		if err != nil || !more {
			return err
		}
	}
}

// archiveFiles lists the files of an archive; more says it has more than were read.
func (s *Server) archiveFiles(a *store.Artifact) (files []web.ArtifactFile, more bool, err error) {
	err = s.walkArchive(a, func(name string, hdr *tar.Header, _ *tar.Reader) (bool, error) {
		files = append(files, web.ArtifactFile{Path: name, Size: hdr.Size})
		return true, nil
	})
	if errors.Is(err, errArchiveLimit) {
		return files, true, nil
	}
	return files, false, err
}

// jobArtifactFile is GET …/-/jobs/{id}/artifacts/file/{path...}: one file of the archive,
// as an attachment, read from the archive as it is sent.
func (s *Server) jobArtifactFile(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	a, err := s.pageArchive(r, pc)
	if err != nil {
		return err
	}
	want := r.PathValue("path")
	if !fs.ValidPath(want) || want == "." {
		return errStatus(http.StatusNotFound, "The artifacts have no file %q.", want)
	}
	found := false
	err = s.walkArchive(a, func(name string, hdr *tar.Header, tr *tar.Reader) (bool, error) {
		if name != want {
			return true, nil
		}
		found = true
		w, _ = s.progress(w, r)
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
		h.Set("Content-Length", itoa(hdr.Size))
		if r.Method != http.MethodHead {
			_, _ = io.Copy(w, tr) // a client that leaves ends it
		}
		return false, nil
	})
	if found {
		return nil
	}
	if err != nil && !errors.Is(err, errArchiveLimit) {
		return err
	}
	return errStatus(http.StatusNotFound, "The artifacts have no file %q.", want)
}

// jobArtifactsDownload is GET …/-/jobs/{id}/artifacts/download: the archive.
func (s *Server) jobArtifactsDownload(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	a, err := s.pageArchive(r, pc)
	if err != nil {
		return err
	}
	w, r = s.progress(w, r)
	return s.serveArchive(w, r, a)
}

// pageArchive is the artifacts archive of the job of a page's path, as its viewer may see
// it; an error (404, or 410 once expired) when there is none.
func (s *Server) pageArchive(r *http.Request, pc *pageCtx) (*store.Artifact, error) {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return nil, err
	}
	a, expired, err := s.jobArchive(r.Context(), pc, j)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, noArtifacts(expired)
	}
	return a, nil
}

// noArtifacts is the answer for a job without (or past) its artifacts.
func noArtifacts(expired bool) error {
	if expired {
		return errStatus(http.StatusGone, "The job's artifacts expired and were deleted.")
	}
	return errStatus(http.StatusNotFound, "The job has no artifacts.")
}
