package gitmirror

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// HTTPPrefix is the path under which Handler serves the mirrors: /git/<projectID>.git/….
const HTTPPrefix = "/git/"

// retryAfter is the Retry-After (seconds) of a 503.
const retryAfter = "5"

// Handler serves the mirrors read-only over git's smart HTTP protocol at
// /git/<projectID>.git/… (mount it at HTTPPrefix without stripping the prefix): clones and
// fetches, including fetches of a commit by SHA and shallow ones. It runs `git http-backend`
// for each request.
//
// allow authorises each request for a project (the server checks the job token a runner sends
// as its basic-auth password); when it returns false the answer is 401 with a Basic challenge,
// and when it fails (it could not check: its store is down) 503 with Retry-After, which git
// clients report as a server error rather than as bad credentials. Pushes are refused (403),
// as is git's dumb protocol; a path naming no mirror is 404.
func (m *Mirrors) Handler(allow func(r *http.Request, projectID int64) (bool, error)) http.Handler {
	logger := m.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		gitPath = "git" // each request then fails (500), and says why in the log
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Root: strings.TrimSuffix(HTTPPrefix, "/"),
		Dir:  m.dir,
		Env: []string{
			"GIT_PROJECT_ROOT=" + m.dir,
			"GIT_HTTP_EXPORT_ALL=1",
			"LC_ALL=C",
		},
		// Where git looks for its global configuration, like the other git commands run here.
		InheritEnv: []string{"HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_EXEC_PATH"},
		Logger:     slog.NewLogLogger(logger.Handler(), slog.LevelError),
		Stderr:     logWriter{logger},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, rest, ok := parseGitPath(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		ok, err := allow(r, id)
		if err != nil {
			logger.Warn("git over HTTP: cannot check credentials", "project_id", id, "err", err)
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, "the server cannot check credentials now; try again later", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="slipway", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if !uploadPack(r, rest) {
			http.Error(w, "this server only serves fetches (git-upload-pack)", http.StatusForbidden)
			return
		}
		if fi, err := os.Stat(m.path(id)); err != nil || !fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

// parseGitPath splits /git/<id>.git/<rest> into the project ID and rest.
func parseGitPath(p string) (id int64, rest string, ok bool) {
	p, ok = strings.CutPrefix(p, HTTPPrefix)
	if !ok {
		return 0, "", false
	}
	repo, rest, _ := strings.Cut(p, "/")
	num, ok := strings.CutSuffix(repo, ".git")
	if !ok || num == "" || num[0] == '+' || num[0] == '-' || (len(num) > 1 && num[0] == '0') {
		return 0, "", false // one spelling per project: the decimal ID
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 {
		return 0, "", false
	}
	return id, rest, true
}

// uploadPack reports whether r is one of the two requests of a smart-protocol fetch: the ref
// advertisement and the pack negotiation.
func uploadPack(r *http.Request, rest string) bool {
	switch rest {
	case "info/refs":
		return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			r.URL.Query().Get("service") == "git-upload-pack"
	case "git-upload-pack":
		return r.Method == http.MethodPost
	}
	return false
}

// logWriter logs each write (a chunk of git's stderr) as an error.
type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	if s := strings.TrimSpace(string(p)); s != "" {
		w.l.Error("git http-backend", "stderr", s)
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}
