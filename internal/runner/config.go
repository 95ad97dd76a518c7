package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/jobapi"
)

// Config is a registered runner's configuration, as `slipway runner register` writes it and
// `slipway runner run` reads it. It holds the runner's token: keep the file private (SaveConfig
// writes it with mode 0600).
type Config struct {
	// URL is the server's base URL (scheme, host, optional path prefix).
	URL string `yaml:"url"`
	// ID and Token identify the runner to the server (Token authenticates job requests).
	ID    int64  `yaml:"id"`
	Token string `yaml:"token"`
	Name  string `yaml:"name,omitempty"`
	// Tags and RunUntagged say which jobs the server gives this runner.
	Tags        []string `yaml:"tags,omitempty"`
	RunUntagged bool     `yaml:"run_untagged"`
	// Executor says where jobs run: ExecutorShell (the default when empty), ExecutorDocker,
	// or ExecutorAuto (Docker for jobs with image:, the shell for the others).
	Executor string `yaml:"executor"`
	// Concurrency is how many jobs run at once; zero means 1.
	Concurrency int `yaml:"concurrency"`
	// BuildsDir holds the jobs' checkouts; empty means $HOME/.slipway/builds, or
	// /var/lib/slipway/builds for a runner that runs as root (its shell jobs run as another
	// user, who cannot search root's home). Shell jobs that run as another user need every
	// directory above their build directory searchable by that user.
	BuildsDir string `yaml:"builds_dir,omitempty"`
	// CacheDir holds the local copies of the server's caches; empty means
	// $HOME/.slipway/cache. It belongs to one runner process.
	CacheDir string `yaml:"cache_dir,omitempty"`
	// MaxArtifactsSize bounds, in MB, the files of one job's artifacts (before compression:
	// GitLab measures the compressed archive, so this is stricter) and what an artifacts
	// archive downloaded for a job may unpack to; zero means DefaultMaxArtifactsSize.
	MaxArtifactsSize int64 `yaml:"max_artifacts_size,omitempty"`
	// MaxCacheSize bounds one cache the same way, in MB; zero means DefaultMaxCacheSize.
	MaxCacheSize int64 `yaml:"max_cache_size,omitempty"`
	// MaxDotenvSize bounds a reports:dotenv file, in bytes; zero means artifact.MaxDotenvSize
	// (5120, GitLab's dotenv_size).
	MaxDotenvSize int64 `yaml:"max_dotenv_size,omitempty"`
	// MaxDotenvVariables bounds the variables of a reports:dotenv file; zero means
	// artifact.MaxDotenvVars (150, GitLab's dotenv_variables).
	MaxDotenvVariables int `yaml:"max_dotenv_variables,omitempty"`
	// MaxJUnitSize bounds the bytes of a job's reports:junit files, all together; zero means
	// artifact.MaxJUnitSize (30 MiB). Past it the summary counts the files read before.
	MaxJUnitSize int64 `yaml:"max_junit_size,omitempty"`
	// OutputLimit bounds a job's log, in KiB (GitLab Runner's output_limit, in its unit): past
	// it the log says it was cut, and the job's further output is neither kept on the runner
	// nor sent; the job goes on. Zero means DefaultOutputLimit (the server's default log
	// limit; GitLab Runner's default is 4096 KiB). The built-in runner's default is the
	// server's --max-log-size.
	OutputLimit int64 `yaml:"output_limit,omitempty"`
	// MaxArchiveEntries bounds the entries (files, directories, links) of an artifacts or
	// cache archive the runner unpacks, so that an archive of millions of empty files does not
	// use up the runner's inodes; zero means DefaultMaxArchiveEntries.
	MaxArchiveEntries int `yaml:"max_archive_entries,omitempty"`
	// Docker configures the Docker executor.
	Docker DockerConfig `yaml:"docker,omitempty"`
	// Shell configures the shell executor.
	Shell ShellConfig `yaml:"shell,omitempty"`
}

// ShellConfig tunes the shell executor.
//
// A runner that runs as root runs each shell job as a uid of its own, taken from UIDBase …
// UIDBase+UIDCount-1, so that jobs cannot read what the runner can (its configuration and
// token, a server's data directory and environment) nor each other's files and environments,
// and nothing of a job outlives it (every process of its uid is killed when it ends). User,
// when set, runs every shell job as that one user instead; a runner that does not run as
// root runs them as itself.
type ShellConfig struct {
	// User runs every shell job as this user (a name or uid), instead of uids of their own;
	// jobs that run at once share it, and what a job leaves running goes on. Name the
	// runner's own user (root) to run jobs as it. It excludes UIDBase and UIDCount.
	User string `yaml:"user,omitempty"`
	// UIDBase is the first uid of the range shell jobs of a root runner take theirs from; zero
	// means shell.DefaultUIDBase (70000). The range must belong to Slipway's jobs alone on
	// this host: no user, service or container may use its uids (their processes would be
	// killed). The runners of a host may share it: a uid is held by one job at a time.
	UIDBase int `yaml:"uid_base,omitempty"`
	// UIDCount is how many uids the range has, and so how many shell jobs may run at once on
	// this host over the runners that share it; zero means shell.DefaultUIDCount (1000).
	UIDCount int `yaml:"uid_count,omitempty"`
	// InheritEnv names the variables of the runner's environment that shell jobs get besides
	// PATH, HOME, LANG, LANGUAGE, LC_*, TZ, TMPDIR, USER, LOGNAME and SHELL: NAME, or PREFIX*
	// (HTTP_PROXY, NO_PROXY, JAVA_*). No SLIPWAY_ variable is ever inherited.
	InheritEnv []string `yaml:"inherit_env,omitempty"`
}

// Options are the shell executor's options for c: every job as User when it is set; else a
// uid of its own for each job when this process runs as root or the range is set (which then
// needs root); else as this process's user.
func (c ShellConfig) Options() shell.Options {
	o := shell.Options{User: c.User, Inherit: c.InheritEnv}
	if c.User == "" && (os.Geteuid() == 0 || c.UIDBase != 0 || c.UIDCount != 0) {
		o.UIDs = &shell.UIDRange{Base: c.UIDBase, Count: c.UIDCount}
	}
	return o
}

// Executors a runner runs jobs on (Config.Executor).
const (
	ExecutorShell  = "shell"
	ExecutorDocker = "docker"
	// ExecutorAuto runs jobs with image: on Docker and the others in the shell, as
	// `slipway run` does; the built-in runner's mode when a Docker engine answers.
	ExecutorAuto = "auto"
)

// Default limits of a runner (see Config).
const (
	// DefaultMaxArtifactsSize is GitLab's default maximum artifacts size, in MB.
	DefaultMaxArtifactsSize = 100
	// DefaultMaxCacheSize is the largest archive the server takes, in MB.
	DefaultMaxCacheSize = 1024
	// DefaultOutputLimit is 100 MiB in KiB: the server's default log limit, so that a log is
	// cut once, where the runner stops writing it.
	DefaultOutputLimit = 100 << 10
	// DefaultMaxArchiveEntries is a million entries: a large node_modules has a few hundred
	// thousand.
	DefaultMaxArchiveEntries = 1_000_000
)

// DockerConfig tunes the Docker executor.
type DockerConfig struct {
	// Image is the image of jobs that name none (`slipway runner register --docker-image`, as
	// `gitlab-runner register --docker-image`); empty means such jobs fail, saying so.
	Image string `yaml:"image,omitempty"`
	// Privileged runs job containers privileged (off unless set).
	Privileged bool `yaml:"privileged"`
	// Volumes are mounted into every job container: SRC:DST or SRC:DST:ro.
	Volumes []string `yaml:"volumes,omitempty"`
	// PullPolicy is always, if-not-present or never; empty means if-not-present.
	PullPolicy string `yaml:"pull_policy,omitempty"`
}

// DefaultConfigPath is $HOME/.slipway/runner.yml.
func DefaultConfigPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory: %w", err)
	}
	return filepath.Join(home, ".slipway", "runner.yml"), nil
}

// RegisterOptions describe a runner to register.
type RegisterOptions struct {
	// URL is the server's base URL; Token its registration token.
	URL, Token  string
	Name        string
	Tags        []string
	RunUntagged bool
	// Executor is ExecutorShell or ExecutorDocker; empty means ExecutorShell.
	Executor string
	// DockerImage is the default image of a docker runner (Config.Docker.Image).
	DockerImage string
	// HTTPClient makes the request; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Register registers a runner with the server and returns its configuration, with defaults
// (concurrency 1, default directories) filled in. The runner token is in the result only.
func Register(ctx context.Context, o RegisterOptions) (*Config, error) {
	if o.URL == "" || o.Token == "" {
		return nil, errors.New("register: the server URL and registration token are required")
	}
	if o.Executor == "" {
		o.Executor = ExecutorShell
	}
	if o.Executor != ExecutorShell && o.Executor != ExecutorDocker {
		return nil, fmt.Errorf("register: executor must be shell or docker, not %q", o.Executor)
	}
	if o.DockerImage != "" && o.Executor != ExecutorDocker {
		return nil, errors.New("register: a default docker image is for a docker runner (executor docker)")
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := json.Marshal(jobapi.RegisterRequest{
		Version: jobapi.Version, Token: o.Token, Name: o.Name, Tags: o.Tags, RunUntagged: o.RunUntagged, Executor: o.Executor,
		RunnerVersion: jobapi.ProgramVersion(),
	})
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	base := strings.TrimRight(o.URL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+jobapi.PathRegister, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("register: %w", statusError(resp))
	}
	var rr jobapi.RegisterResponse
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil {
		return nil, fmt.Errorf("register: read answer: %w", err)
	}
	if rr.Token == "" {
		return nil, errors.New("register: the server's answer has no runner token")
	}
	return &Config{
		URL: base, ID: rr.ID, Token: rr.Token, Name: o.Name, Tags: o.Tags,
		RunUntagged: o.RunUntagged, Executor: o.Executor, Concurrency: 1,
		Docker: DockerConfig{Image: o.DockerImage},
	}, nil
}

// SaveConfig writes c to path as YAML with mode 0600 (it holds the runner token), creating
// the directory (0700) if needed. The file is replaced atomically.
func SaveConfig(path string, c *Config) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("save runner config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save runner config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".runner-*.yml")
	if err != nil {
		return fmt.Errorf("save runner config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename it is gone already
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("save runner config: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save runner config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save runner config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save runner config: %w", err)
	}
	return nil
}

// LoadConfig reads a configuration SaveConfig wrote. A value that cannot be used is an error
// naming path:line:col.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load runner config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("load runner config %s: %w", path, err)
	}
	var c Config
	if err := doc.Decode(&c); err != nil {
		return nil, fmt.Errorf("load runner config %s: %w", path, err)
	}
	if c.URL == "" || c.Token == "" {
		return nil, fmt.Errorf("load runner config %s: url and token are required (run `slipway runner register`)", path)
	}
	// at is an error about the value of key (a dotted path) found at n (nil: 0:0).
	at := func(n *yaml.Node, key, format string, args ...any) error {
		line, col := 0, 0
		if n != nil {
			line, col = n.Line, n.Column
		}
		return fmt.Errorf("%s:%d:%d: %s: %w", path, line, col, key, fmt.Errorf(format, args...))
	}
	bad := func(key, format string, args ...any) error {
		return at(find(&doc, strings.Split(key, ".")...), key, format, args...)
	}
	var inherit []*yaml.Node
	if n := find(&doc, "shell", "inherit_env"); n != nil && n.Kind == yaml.SequenceNode {
		inherit = n.Content
	}
	for _, n := range inherit {
		if err := shell.CheckInherit(n.Value); err != nil {
			return nil, at(n, "shell.inherit_env", "%w", err)
		}
	}
	for key, v := range map[string]int{"shell.uid_base": c.Shell.UIDBase, "shell.uid_count": c.Shell.UIDCount} {
		switch {
		case v < 0:
			return nil, bad(key, "must not be negative (0 means the default)")
		case c.Shell.User != "" && v != 0:
			return nil, bad(key, "shell.user runs every job as one user: set one or the other")
		}
	}
	switch c.Executor {
	case "", ExecutorShell, ExecutorDocker, ExecutorAuto:
	default:
		return nil, bad("executor", "want shell, docker or auto, not %q", c.Executor)
	}
	for key, v := range map[string]int64{
		"max_artifacts_size": c.MaxArtifactsSize, "max_cache_size": c.MaxCacheSize,
		"max_dotenv_size": c.MaxDotenvSize, "max_dotenv_variables": int64(c.MaxDotenvVariables), "max_junit_size": c.MaxJUnitSize,
		"concurrency": int64(c.Concurrency), "output_limit": c.OutputLimit, "max_archive_entries": int64(c.MaxArchiveEntries),
	} {
		if v < 0 {
			return nil, bad(key, "must not be negative (0 means the default)")
		}
	}
	for key, v := range map[string]int64{"max_artifacts_size": c.MaxArtifactsSize, "max_cache_size": c.MaxCacheSize} {
		if v > 1<<20 {
			return nil, bad(key, "%d MB is more than 1 TB", v)
		}
	}
	if c.OutputLimit > 1<<30 {
		return nil, bad("output_limit", "%d KiB is more than 1 TiB", c.OutputLimit)
	}
	return &c, nil
}

// limits are a Config's limits with the defaults filled in, in bytes.
func (c *Config) limits() (artifacts, cache int64, dotenv artifact.DotenvLimits) {
	mb := func(v, def int64) int64 {
		if v <= 0 {
			v = def
		}
		return v << 20
	}
	return mb(c.MaxArtifactsSize, DefaultMaxArtifactsSize), mb(c.MaxCacheSize, DefaultMaxCacheSize),
		artifact.DotenvLimits{Size: c.MaxDotenvSize, Vars: c.MaxDotenvVariables}
}

// outputLimit is the limit of a job's log, in bytes.
func (c *Config) outputLimit() int64 {
	if c.OutputLimit <= 0 {
		return DefaultOutputLimit << 10
	}
	return c.OutputLimit << 10
}

// archiveEntries is the limit of an archive's entries.
func (c *Config) archiveEntries() int {
	if c.MaxArchiveEntries <= 0 {
		return DefaultMaxArchiveEntries
	}
	return c.MaxArchiveEntries
}

// find returns the node at the path of keys in the document doc, or nil.
func find(doc *yaml.Node, keys ...string) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
