package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// AssetPrefix is the URL path the assets are served under.
const AssetPrefix = "/-/assets/"

// asset is one embedded file, with its content hash.
type asset struct {
	name   string // e.g. app.css
	hashed string // e.g. app.1a2b3c4d5e6f.css
	etag   string
	ctype  string
	data   []byte
}

// assets are the embedded files by plain and by hashed name.
type assets struct {
	byName map[string]*asset
	byPath map[string]*asset // either name → asset
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{byName: map[string]*asset{}, byPath: map[string]*asset{}}
	err := fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		ext := path.Ext(name)
		ctype, ok := contentTypes[ext]
		if !ok {
			return fmt.Errorf("asset %s: no content type for %q", name, ext)
		}
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:6])
		x := &asset{name: name, hashed: strings.TrimSuffix(name, ext) + "." + h + ext,
			etag: `"` + h + `"`, ctype: ctype, data: data}
		a.byName[name] = x
		a.byPath[name] = x
		a.byPath[x.hashed] = x
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load assets: %w", err)
	}
	return a, nil
}

// assetURL is the content-hashed URL of the named asset. Templates name only assets that
// exist; a missing one yields a path that answers 404, which the asset test catches.
func (s *Site) assetURL(name string) string {
	if a := s.assets.byName[name]; a != nil {
		return AssetPrefix + a.hashed
	}
	return AssetPrefix + name
}

// Assets serves the stylesheet, scripts and icons under AssetPrefix (it expects the full
// request path). A content-hashed name ("app.1a2b3c4d5e6f.css", what pages link to) is cached
// for a year as immutable; a plain name ("app.css") is revalidated with its ETag.
func (s *Site) Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a := s.assets.byPath[strings.TrimPrefix(r.URL.Path, AssetPrefix)]
		if a == nil || !strings.HasPrefix(r.URL.Path, AssetPrefix) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", a.etag)
		if path.Base(r.URL.Path) == a.hashed {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		// ServeContent answers If-None-Match with 304 and handles ranges and HEAD.
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
	})
}
