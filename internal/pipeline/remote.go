package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// includeComponent reads a component: SERVER/PROJECT/NAME@VERSION is the file
// templates/NAME.yml or templates/NAME/template.yml of PROJECT at VERSION. A component of this
// repository is read from it; one of another project of Server through Options.ComponentFile.
// Components of another instance are an error, as on GitLab.
func (l *loader) includeComponent(r includeRef, target string, chain []string) *Node {
	path, version, _ := strings.Cut(target, "@")
	server := l.opts.Server + "/"
	self := server + l.opts.Project + "/"
	switch {
	case l.opts.Project != "" && strings.HasPrefix(path, self):
		return l.includeOwnComponent(r, target, strings.TrimPrefix(path, self), version, chain)
	case l.opts.ComponentFile != nil && l.opts.Server != "" && strings.HasPrefix(path, server):
		return l.includeOtherComponent(r, target, strings.TrimPrefix(path, server), version, chain)
	}
	l.d.errorf(r.node.Pos, "include:component %q: only components of this project (%s…) can be read offline; the CI/CD catalog is not reachable", target, self)
	return nil
}

// componentFiles are where a component NAME may be, in the order GitLab looks.
func componentFiles(name string) []string {
	return []string{"templates/" + name + ".yml", "templates/" + name + "/template.yml"}
}

func (l *loader) includeOwnComponent(r includeRef, target, name, version string, chain []string) *Node {
	if name == "" || strings.Contains("/"+name+"/", "/../") || strings.HasPrefix(name, "/") {
		l.d.errorf(r.node.Pos, "include:component %q: invalid component name %q", target, name)
		return nil
	}
	for _, file := range componentFiles(name) {
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

// includeOtherComponent reads component PROJECT/NAME (path) of another project of Server,
// through Options.ComponentFile.
func (l *loader) includeOtherComponent(r includeRef, target, path, version string, chain []string) *Node {
	i := strings.LastIndex(path, "/")
	if i <= 0 || strings.HasPrefix(path, "/") || strings.Contains("/"+path+"/", "/../") || strings.Contains("/"+path+"/", "/./") || i == len(path)-1 {
		l.d.errorf(r.node.Pos, "include:component %q: not a component address (SERVER/PROJECT/NAME@VERSION)", target)
		return nil
	}
	if version == "" {
		l.d.errorf(r.node.Pos, "include:component %q: the version is missing (NAME@VERSION)", target)
		return nil
	}
	project, name := path[:i], path[i+1:]
	for _, file := range componentFiles(name) {
		data, sha, err := l.opts.ComponentFile(l.ctx, project, version, file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			l.d.errorf(r.node.Pos, "include:component %q: %s", target, readMsg(err))
			return nil
		}
		ref := sha
		if ref == "" {
			ref = version
		}
		comp := map[string]string{"name": name, "sha": sha, "version": version, "reference": version}
		src := &projectSource{project: project, ref: ref}
		return l.readFrom(src, r, src.fileName(file), data, chain, comp)
	}
	l.d.errorf(r.node.Pos, "include:component %q: project %q has neither templates/%s.yml nor templates/%s/template.yml at %s", target, project, name, name, version)
	return nil
}
