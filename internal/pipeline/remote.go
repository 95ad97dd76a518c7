package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Remote fetches include:remote files over HTTP(S).
type Remote struct {
	// Client does the requests; nil means http.DefaultClient.
	Client *http.Client
	// Timeout bounds one fetch; zero means 10 s.
	Timeout time.Duration
	// MaxBytes bounds a file's size; zero means 1 MiB (GitLab's limit for an included file).
	MaxBytes int64
	// CacheDir keeps fetched files; a cached file is used when a fetch fails, so pipelines keep
	// planning offline. Empty means no cache.
	CacheDir string
}

// ErrTooLarge is returned for a remote file over Remote.MaxBytes.
var ErrTooLarge = errors.New("file too large")

// Fetch returns the body of url.
func (r *Remote) Fetch(ctx context.Context, url string) ([]byte, error) {
	data, err := r.get(ctx, url)
	cache := r.cachePath(url)
	if err == nil {
		if cache != "" {
			if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
				_ = os.WriteFile(cache, data, 0o644) // a cache that cannot be written only costs a refetch
			}
		}
		return data, nil
	}
	if cache != "" && !errors.Is(err, ErrTooLarge) {
		if cached, cerr := os.ReadFile(cache); cerr == nil {
			return cached, nil
		}
	}
	return nil, err
}

func (r *Remote) cachePath(url string) string {
	if r.CacheDir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(r.CacheDir, hex.EncodeToString(sum[:])+".yml")
}

func (r *Remote) get(ctx context.Context, url string) ([]byte, error) {
	timeout, limit, client := r.Timeout, r.MaxBytes, r.Client
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if limit == 0 {
		limit = 1 << 20
	}
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}

func (l *loader) includeRemote(r includeRef, url string, chain []string) *Node {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		l.d.errorf(r.node.Pos, "include:remote %q: the URL must start with http:// or https://", url)
		return nil
	}
	if l.opts.Remote == nil {
		l.d.errorf(r.node.Pos, "include:remote %q: remote includes are disabled", url)
		return nil
	}
	data, err := l.opts.Remote.Fetch(l.ctx, url)
	if err != nil {
		l.d.errorf(r.node.Pos, "include:remote %q: %v", url, err)
		return nil
	}
	return l.readFrom(nil, r, url, data, chain, nil)
}

// includeComponent reads a component of this repository: SERVER/PROJECT/NAME@VERSION is
// templates/NAME.yml or templates/NAME/template.yml. Other components live in a catalog, which
// a local run cannot reach.
func (l *loader) includeComponent(r includeRef, target string, chain []string) *Node {
	path, version, _ := strings.Cut(target, "@")
	prefix := l.opts.Server + "/" + l.opts.Project + "/"
	if l.opts.Project == "" || !strings.HasPrefix(path, prefix) {
		l.d.errorf(r.node.Pos, "include:component %q: only components of this project (%s…) can be read offline; the CI/CD catalog is not reachable", target, prefix)
		return nil
	}
	name := strings.TrimPrefix(path, prefix)
	if name == "" || strings.Contains("/"+name+"/", "/../") || strings.HasPrefix(name, "/") {
		l.d.errorf(r.node.Pos, "include:component %q: invalid component name %q", target, name)
		return nil
	}
	for _, file := range []string{"templates/" + name + ".yml", "templates/" + name + "/template.yml"} {
		data, err := l.readFile(file)
		if err != nil {
			continue
		}
		comp := map[string]string{"name": baseName(name), "sha": l.opts.SHA, "version": version, "reference": version}
		return l.readFrom(nil, r, file, data, chain, comp)
	}
	l.d.errorf(r.node.Pos, "include:component %q: neither templates/%s.yml nor templates/%s/template.yml exists", target, name, name)
	return nil
}
