// Package docker is the Docker executor: it runs a job's scripts in containers of the job's
// image through the Docker Engine API, with the job's services beside them, as GitLab Runner's
// docker executor does. It owns the containers, network, volumes and temporary files it makes
// for a job and removes them in Cleanup; it does not decide which scripts run (package run),
// fill the build directory, or build images.
//
// One job's Env is: the job image (pulled per pull_policy), a user-defined bridge network and
// the service containers when the job has services, and a temporary host directory holding the
// step scripts. Each Run is one container from the job image with the build directory mounted
// at the project directory and the script mounted read-only at /slipway; it is removed when the
// step ends. Everything carries the labels LabelJobID, LabelJobName, LabelProject, LabelEnv
// and LabelRole, plus Options.Labels, which name the owner (a runner) for Reap: the removal of
// what a process that died left behind.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/pipeline"
)

// Labels set on every container, network and volume the executor makes.
const (
	LabelJobID   = "slipway.job.id"
	LabelJobName = "slipway.job.name"
	LabelProject = "slipway.project"
	// LabelEnv is unique to one Prepare: Cleanup finds what it must remove by it.
	LabelEnv = "slipway.env"
	// LabelRole is what the object is for: "build" (a step), "service", "chown", "shell",
	// "network" or "volume".
	LabelRole = "slipway.role"
	// LabelService is a service container's image as written in services:.
	LabelService = "slipway.service"
)

// Pull policies, as GitLab names them.
const (
	PullAlways       = "always"
	PullIfNotPresent = "if-not-present"
	PullNever        = "never"
)

// Options configures an Executor.
type Options struct {
	// Client talks to the Engine; nil means one from the environment (DOCKER_HOST, …, else
	// the local socket) with the API version negotiated down to the engine's, closed by Close.
	Client client.APIClient
	// Logger receives the executor's own diagnostics; nil discards them. Job output goes to
	// the writers given to Prepare and Run, never here.
	Logger *slog.Logger
	// Privileged runs every container of every job privileged; a Job can also ask for it.
	Privileged bool
	// DockerSocket mounts /var/run/docker.sock into the job and service containers.
	DockerSocket bool
	// Volumes are mounted into the job and service containers of every job, after the job's
	// own Mounts. A Source that is an absolute path is a bind mount, another non-empty Source
	// names a volume, and an empty one makes an anonymous volume removed with the job.
	Volumes []executor.Mount
	// PullPolicy applies when neither the image nor the job names one; "" means
	// if-not-present.
	PullPolicy string
	// ServiceTimeout bounds the wait for a service's ports to accept connections; 0 means
	// 30 s. A service that is not ready in time gets a warning with its logs, as in GitLab,
	// and the job goes on.
	ServiceTimeout time.Duration
	// DefaultImage is the image of jobs that name none; "" means such jobs fail to prepare.
	DefaultImage string
	// Owner is who must own the files jobs create in their build directories; nil means the
	// invoking user (os.Getuid, os.Getgid). When it is not root, Run and Cleanup give such
	// files back to it (see Env.Run).
	Owner *Owner
	// Labels are set on every container, network and volume the executor makes, beside its
	// own; they say whose objects these are (a runner sets its identity), and Reap removes
	// the objects that carry all of them. Keys and values must not be empty, and keys must
	// not be the executor's own (LabelJobID, …). None: objects carry only the executor's
	// labels, and Reap fails.
	Labels map[string]string
}

// Owner is a numeric user and group on the host.
type Owner struct {
	UID, GID int
}

// Executor runs jobs in Docker containers. It is safe for concurrent use.
type Executor struct {
	cli       client.APIClient
	ownClient bool
	log       *slog.Logger
	opts      Options
	owner     Owner
}

var (
	_ executor.Executor    = (*Executor)(nil)
	_ executor.Env         = (*env)(nil)
	_ executor.Interactive = (*env)(nil)
	_ ServiceLogger        = (*env)(nil)
)

// ServiceLogger is an Env that can write the logs of its job's services, for the run layer to
// show when a job fails. ServiceLogs may be called any time before Cleanup.
type ServiceLogger interface {
	ServiceLogs(ctx context.Context, w io.Writer) error
}

// New returns an Executor. It does not contact the Engine: the first Prepare does.
func New(opts Options) (*Executor, error) {
	switch opts.PullPolicy {
	case "", PullAlways, PullIfNotPresent, PullNever:
	default:
		return nil, fmt.Errorf("pull policy %q: want %s, %s or %s", opts.PullPolicy, PullAlways, PullIfNotPresent, PullNever)
	}
	for k, v := range opts.Labels {
		switch k {
		case LabelJobID, LabelJobName, LabelProject, LabelEnv, LabelRole, LabelService:
			return nil, fmt.Errorf("label %q: the docker executor sets it itself", k)
		}
		if k == "" || v == "" {
			return nil, fmt.Errorf("label %q=%q: key and value must not be empty", k, v)
		}
	}
	x := &Executor{cli: opts.Client, log: opts.Logger, opts: opts}
	x.opts.Labels = maps.Clone(opts.Labels)
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.opts.ServiceTimeout <= 0 {
		x.opts.ServiceTimeout = 30 * time.Second
	}
	x.owner = Owner{UID: os.Getuid(), GID: os.Getgid()}
	if opts.Owner != nil {
		x.owner = *opts.Owner
	}
	if x.cli == nil {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return nil, fmt.Errorf("docker client: %w", err)
		}
		x.cli, x.ownClient = cli, true
	}
	return x, nil
}

// Name is "docker".
func (x *Executor) Name() string { return "docker" }

// Close closes the Engine client if New made it. Envs must be cleaned up first.
func (x *Executor) Close() error {
	if x.ownClient {
		return x.cli.Close()
	}
	return nil
}

// Prepare pulls the job's image per its pull policy and, when the job has services, makes a
// network for the job and starts the services on it, waiting up to Options.ServiceTimeout for
// their ports. Pull progress and service warnings go to log. An image that cannot be had
// fails with an error wrapping executor.ErrPull.
func (x *Executor) Prepare(ctx context.Context, job *executor.Job, log io.Writer) (_ executor.Env, err error) {
	if log == nil {
		log = io.Discard
	}
	img := job.Image
	if img == nil || img.Name == "" {
		if x.opts.DefaultImage == "" {
			return nil, fmt.Errorf("job %q has no image and the docker executor has no default image", job.Name)
		}
		img = &pipeline.Image{Name: x.opts.DefaultImage}
	}
	e, err := x.newEnv(job, img)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			err = errors.Join(err, e.Cleanup(cctx))
		}
	}()
	fmt.Fprintf(log, "Using Docker executor with image %s ...\n", img.Name)
	if e.image, err = x.ensureImage(ctx, img.Name, x.policies(img.PullPolicy, job), log); err != nil {
		return nil, err
	}
	e.rootSteps = isRoot(e.user())
	if len(job.Services) > 0 {
		if err := e.startServices(ctx, log); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// cleanupTimeout bounds a Cleanup the executor starts itself, after a failed Prepare.
const cleanupTimeout = time.Minute

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// labels are the labels of everything made for e: Options.Labels, the job's, and role.
func (e *env) labels(role string) map[string]string {
	l := maps.Clone(e.x.opts.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelJobID] = strconv.FormatInt(e.job.ID, 10)
	l[LabelJobName] = e.job.Name
	l[LabelProject] = e.job.Project
	l[LabelEnv] = e.id
	l[LabelRole] = role
	return l
}
