package server

import (
	"context"
	"net/http"
	"time"

	"github.com/slipway/slipway/internal/pipeline"
)

// Limits bound what clients, runners and the pipelines of projects may make the server hold
// or do. A zero field means its default: GitLab's where GitLab has one. Going past a limit is
// an error that says which limit (413 for a size, 400 for a configuration), never a 500.
type Limits struct {
	// ConfigSize bounds each file of a pipeline's configuration, in bytes; a larger one is
	// refused before it is read. Zero means pipeline.DefaultMaxFileSize (2 MiB, GitLab's
	// max_yaml_size_bytes).
	ConfigSize int64
	// ConfigDepth bounds how deeply a configuration file nests collections; zero means
	// pipeline.DefaultMaxDepth (100, GitLab's max_yaml_depth).
	ConfigDepth int
	// Includes bounds the files one configuration includes; zero means
	// pipeline.DefaultMaxIncludes (150, GitLab's ci_max_includes).
	Includes int
	// Jobs bounds the jobs of a pipeline, parallel instances and child pipelines counted;
	// zero means pipeline.DefaultMaxJobs (2,000).
	Jobs int
	// VariableSize bounds a variable's value, in bytes: in configurations, set through the
	// API (project, pipeline and schedule variables), and once its $references are expanded
	// in a plan. Zero means pipeline.DefaultMaxVariableSize (128 KiB, GitLab.com's
	// ci_variable_value_size).
	VariableSize int
	// LogSize bounds a job's log, in bytes: the bytes past it are dropped, the log says it
	// was cut there and the runner stops sending (the job goes on). Zero means 100 MiB
	// (GitLab's default maximum job log size).
	LogSize int64
	// Pipelines bounds the pipeline-wide work done at once: pipelines being created
	// (configurations read and planned, jobs stored and started) or canceled through the
	// API; more wait their turn. Zero means 1: each writes every job of its pipeline, and
	// heartbeats and claims of every project wait for the store meanwhile.
	Pipelines int
	// Deliveries is how many webhook deliveries are kept per project, and DeliveryAge how
	// long; zero means 1,000 and 30 days. Deliveries refused before they are authenticated
	// (a bad signature, a body too large) are only counted.
	Deliveries  int
	DeliveryAge time.Duration
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout the whole request
	// and WriteTimeout writing the answer; IdleTimeout is how long a keep-alive connection
	// waits for its next request. Zero means 10 s, 1 min, 1 min and 2 min. Authenticated
	// transfers (logs, artifacts, caches, git) and streams (long polls, SSE) get their
	// deadlines moved forward while they make progress.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Connections bounds the client connections open at once; more wait to be accepted.
	// Zero means 1,024.
	Connections int
	// CacheQuota bounds the bytes of a project's cache archives on the server, protected
	// and unprotected ones together, each key counted with CacheKeyOverhead more (so that a
	// flood of tiny keys fills it too). An upload that would go past it evicts the project's
	// least recently used keys first; one larger than the quota alone is refused (413). Zero
	// means 5 GiB.
	CacheQuota int64
	// CacheAge is how long a cache archive is kept unused (neither written nor read); zero
	// means 14 days.
	CacheAge time.Duration
	// PipelineDepth bounds chains of pipelines made by job tokens: a pipeline made with a
	// job token is one deeper than the job's (a pipeline made otherwise is at depth 0), and
	// the job token of a pipeline at PipelineDepth makes none (400). Zero means 2, GitLab's
	// depth of nested child pipelines.
	PipelineDepth int
	// PipelineRate bounds the pipelines a project's API triggers make per minute (with API
	// and job tokens and the "Run pipeline" form together; webhooks and schedules are not
	// counted): a token bucket per
	// project holding a minute's worth, refilled evenly. Past it the API answers 429 with
	// Retry-After. Zero means 60.
	PipelineRate int
	// LoginRate bounds the sign-in attempts (POST /login) from one client address per
	// minute, and LoginUserRate those naming one username, whatever the address: token
	// buckets holding a minute's worth, refilled evenly; an attempt that succeeds is not
	// counted. Past either, the server answers 429 with Retry-After. Zero means 10 each
	// (GitLab locks an account after 10 failed attempts). Behind a reverse proxy the proxy's
	// address is the client's.
	LoginRate, LoginUserRate int
	// SessionIdle ends a session unused for that long, and SessionLifetime any session that
	// old, used or not. Zero means 7 days and 30 days.
	SessionIdle, SessionLifetime time.Duration
	// LogStates is how many jobs the job page keeps the log rendering States of (a few
	// small values each, least recently viewed dropped first), so that the first response
	// of a long log's page reads only its tail from the store. Zero means 1,000.
	LogStates int
	// LogStreams bounds the live streams of pages (a job's log and summary, a pipeline, the
	// pipelines list) open at once on this server; past it a page's stream is answered 429 with Retry-After (the browser
	// tries again). Zero means 512.
	LogStreams int
	// ArtifactEntries bounds the entries of an artifacts archive the job page reads to list
	// its files or find one to download; an archive with more is listed up to there and
	// says so. Zero means 10,000.
	ArtifactEntries int
}

// CacheKeyOverhead is what each cache key counts for in Limits.CacheQuota beyond its
// archive's size: a file's block and inode.
const CacheKeyOverhead = 4 << 10

// DefaultLogSize is Limits.LogSize's default.
const DefaultLogSize = 100 << 20

// DefaultLimits are the limits a server with zero Limits has.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

// withDefaults fills in the zero fields.
func (l Limits) withDefaults() Limits {
	orDefault(&l.ConfigSize, pipeline.DefaultMaxFileSize)
	orDefault(&l.ConfigDepth, pipeline.DefaultMaxDepth)
	orDefault(&l.Includes, pipeline.DefaultMaxIncludes)
	orDefault(&l.Jobs, pipeline.DefaultMaxJobs)
	orDefault(&l.VariableSize, pipeline.DefaultMaxVariableSize)
	orDefault(&l.LogSize, DefaultLogSize)
	orDefault(&l.Pipelines, 1)
	orDefault(&l.Deliveries, 1000)
	orDefault(&l.DeliveryAge, 30*24*time.Hour)
	orDefault(&l.ReadHeaderTimeout, 10*time.Second)
	orDefault(&l.ReadTimeout, time.Minute)
	orDefault(&l.WriteTimeout, time.Minute)
	orDefault(&l.IdleTimeout, 2*time.Minute)
	orDefault(&l.Connections, 1024)
	orDefault(&l.CacheQuota, 5<<30)
	orDefault(&l.CacheAge, 14*24*time.Hour)
	orDefault(&l.PipelineDepth, 2)
	orDefault(&l.PipelineRate, 60)
	orDefault(&l.LoginRate, 10)
	orDefault(&l.LoginUserRate, 10)
	orDefault(&l.SessionIdle, 7*24*time.Hour)
	orDefault(&l.SessionLifetime, 30*24*time.Hour)
	orDefault(&l.LogStates, 1000)
	orDefault(&l.LogStreams, 512)
	orDefault(&l.ArtifactEntries, 10000)
	return l
}

// orDefault sets *v to def when it is zero or negative.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// checkVariables refuses (413) variables given through the API whose values are over
// Limits.VariableSize.
func (s *Server) checkVariables(vars map[string]string) error {
	for k, v := range vars {
		if len(v) > s.o.Limits.VariableSize {
			return errStatus(http.StatusRequestEntityTooLarge, "variable %s: the value has %d bytes, more than the limit of %d", k, len(v), s.o.Limits.VariableSize)
		}
	}
	return nil
}

// heavy waits for a turn at pipeline-wide work (Limits.Pipelines at once): creating a
// pipeline (planning it, storing, starting and auto-canceling) or canceling one writes every
// job of it, and a burst of them must leave the store room for heartbeats and claims. The
// caller calls release when done.
func (s *Server) heavy(ctx context.Context) (release func(), err error) {
	select {
	case s.heavyWork <- struct{}{}:
		return func() { <-s.heavyWork }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
