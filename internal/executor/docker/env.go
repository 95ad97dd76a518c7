package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/pipeline"
)

// scriptDir is where the step scripts are mounted in build containers.
const scriptDir = "/slipway"

// dockerSocket is the Engine's socket, on the host and in containers.
const dockerSocket = "/var/run/docker.sock"

// env is one job's Env.
type env struct {
	x    *Executor
	cli  client.APIClient
	job  *executor.Job
	img  *pipeline.Image
	id   string // random, in LabelEnv and names
	name string // prefix of container and network names
	tmp  string // private host directory (0700): the step scripts and file variables below

	// Set by Prepare, read-only after.
	image     image.InspectResponse
	rootSteps bool   // build containers run as root: a trap in the script fixes ownership
	network   string // the job's network, "" when there are no services
	services  []*service

	mu         sync.Mutex
	containers map[string]bool // created and not yet removed
	steps      int             // containers run so far, for names
	dirty      bool            // the build dir may hold files not given back to the owner
	cleaned    bool
}

func (x *Executor) newEnv(job *executor.Job, img *pipeline.Image) (*env, error) {
	e := &env{
		x:          x,
		cli:        x.cli,
		job:        job,
		img:        img,
		id:         randomID(6),
		containers: map[string]bool{},
	}
	e.name = "slipway-" + slug(job.Project, 24) + "-" + strconv.FormatInt(job.ID, 10) + "-" + slug(job.Name, 40) + "-" + e.id
	e.name = strings.ReplaceAll(e.name, "--", "-")
	tmp, err := os.MkdirTemp("", "slipway-docker-")
	if err != nil {
		return nil, fmt.Errorf("make script directory: %w", err)
	}
	e.tmp = tmp
	// Below the private tmp, open to the job's user whoever it is in its container (a bind
	// mount's own modes are all a container sees of the host's).
	if err := os.Mkdir(e.scripts(), 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("make script directory: %w", err)
	}
	if job.FileDir != "" {
		if err := copyFiles(job.FileDir, e.files()); err != nil {
			_ = os.RemoveAll(tmp)
			return nil, fmt.Errorf("file variables: %w", err)
		}
	}
	return e, nil
}

// scripts is the host directory of the step scripts, mounted at scriptDir.
func (e *env) scripts() string { return filepath.Join(e.tmp, "scripts") }

// files is the host directory of the file variables' copy, mounted read-only at
// executor.TmpDir of the project directory, where the variables point.
func (e *env) files() string { return filepath.Join(e.tmp, "files") }

// copyFiles copies the regular files of src into dst, a new directory, readable by every user
// (0755, files 0644): the job container's user may be any uid. dst's parent keeps them from
// the host's other users.
func copyFiles(src, dst string) error {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dst, 0o755); err != nil { // whatever the umask
		return err
	}
	list, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, d := range list {
		if !d.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, d.Name()))
		if err != nil {
			return err
		}
		p := filepath.Join(dst, d.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return err
		}
	}
	return nil
}

var nonName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// slug makes s fit in a container name, at most n bytes.
func slug(s string, n int) string {
	s = strings.Trim(nonName.ReplaceAllString(s, "-"), "-.")
	if len(s) > n {
		s = strings.TrimRight(s[:n], "-.")
	}
	if s == "" {
		s = "x"
	}
	return s
}

// user is who the build containers run as: docker.user, else the image's USER.
func (e *env) user() string {
	switch {
	case e.job.User != "":
		return e.job.User
	case e.img.User != "":
		return e.img.User
	case e.image.Config != nil:
		return e.image.Config.User
	}
	return ""
}

// isRoot reports whether a container USER (name or uid, with an optional group) is root.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "" || u == "root" || u == "0"
}

// entrypoint is the entrypoint for an image entry: nil keeps the image's, and a list of empty
// strings (GitLab's `entrypoint: [""]`) clears it.
func entrypoint(ep []string) []string {
	if ep == nil {
		return nil
	}
	for _, s := range ep {
		if s != "" {
			return ep
		}
	}
	return []string{}
}

// mounts are the mounts of job and service containers: the build directory at the project
// directory, the job's and the executor's volumes, the Docker socket, and a labelled volume
// for each VOLUME of img not already covered (so Cleanup finds it even if a container
// removal failed).
func (e *env) mounts(img image.InspectResponse) []mount.Mount {
	var ms []mount.Mount
	if e.job.BuildDir != "" {
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: e.job.BuildDir, Target: e.projectDir()})
	}
	for _, m := range append(append([]executor.Mount(nil), e.job.Mounts...), e.x.opts.Volumes...) {
		switch {
		case filepath.IsAbs(m.Source):
			ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case m.Source != "":
			ms = append(ms, mount.Mount{Type: mount.TypeVolume, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		default:
			ms = append(ms, e.anonymousVolume(m.Target))
		}
	}
	if e.x.opts.DockerSocket {
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: dockerSocket, Target: dockerSocket})
	}
	if img.Config != nil {
		for target := range img.Config.Volumes {
			covered := false
			for _, m := range ms {
				covered = covered || path.Clean(m.Target) == path.Clean(target)
			}
			if !covered {
				ms = append(ms, e.anonymousVolume(target))
			}
		}
	}
	return ms
}

// anonymousVolume is a volume at target made for one container, labelled, and removed with
// that container.
func (e *env) anonymousVolume(target string) mount.Mount {
	return mount.Mount{Type: mount.TypeVolume, Target: target, VolumeOptions: &mount.VolumeOptions{Labels: e.labels("volume")}}
}

// projectDir is where the build directory is mounted and the scripts start.
func (e *env) projectDir() string {
	if e.job.ProjectDir != "" {
		return e.job.ProjectDir
	}
	return e.job.BuildDir
}

// hostConfig is the host config of job and service containers.
func (e *env) hostConfig(img image.InspectResponse) *container.HostConfig {
	hc := &container.HostConfig{
		Mounts:     e.mounts(img),
		Privileged: e.x.opts.Privileged || e.job.Privileged,
	}
	if e.network != "" {
		hc.NetworkMode = container.NetworkMode(e.network)
	}
	return hc
}

// buildConfig is the config of a build container (a step or the interactive shell) running
// cmd.
func (e *env) buildConfig(role string, cmd []string) client.ContainerCreateOptions {
	n := e.nextStep()
	hc := e.hostConfig(e.image)
	hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: e.scripts(), Target: scriptDir, ReadOnly: true})
	if e.job.FileDir != "" {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: e.files(), Target: executor.TmpDir(e.projectDir()), ReadOnly: true})
	}
	opts := client.ContainerCreateOptions{
		Name: fmt.Sprintf("%s-%s-%d", e.name, role, n),
		Config: &container.Config{
			Image:        e.image.ID,
			Entrypoint:   entrypoint(e.img.Entrypoint),
			Cmd:          cmd,
			Env:          e.job.Env,
			WorkingDir:   e.projectDir(),
			User:         e.user(),
			Labels:       e.labels(role),
			AttachStdout: true,
			AttachStderr: true,
		},
		HostConfig: hc,
	}
	if e.network != "" {
		opts.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{e.network: {}}}
	}
	return opts
}

// Run runs script in a new container of the job's image, started with
// `sh -c executor.ShellDetect /slipway/<step>.sh`, and removes the container when it ends.
// Script.Timeout counts from the container's start: making the container is not the script's
// time. A timed-out step returns an error wrapping context.DeadlineExceeded that says
// "timed out after"; a canceled one returns ctx.Err().
//
// Ownership: when the owner (Options.Owner) is not root, files the step creates in the build
// directory are given back to it. If the step's container runs as root, a trap on EXIT in the
// script runs `chown -R` as the step ends (no extra container); otherwise a short-lived root
// container from the job image does it after the step. A step that is killed (cancel,
// timeout) skips both, and Cleanup does it.
func (e *env) Run(ctx context.Context, script executor.Script, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	cleaned := e.cleaned
	e.mu.Unlock()
	if cleaned {
		return errors.New("docker: Run after Cleanup")
	}
	file := slug(script.Name, 40) + ".sh"
	if err := os.WriteFile(filepath.Join(e.scripts(), file), []byte(e.scriptText(script)), 0o644); err != nil {
		return fmt.Errorf("write script: %w", err)
	}
	fixOwner := e.fixOwner()
	if fixOwner {
		e.setDirty(true)
	}
	code, err := e.runContainer(ctx, e.buildConfig("build", []string{"sh", "-c", executor.ShellDetect, scriptDir + "/" + file}), script.Timeout, nil, out)
	if errors.Is(err, errTimedOut) {
		return fmt.Errorf("%s timed out after %v: %w", script.Name, script.Timeout, context.DeadlineExceeded)
	}
	if err != nil {
		return err
	}
	if fixOwner {
		switch {
		case e.rootSteps:
			e.setDirty(false) // the trap ran
		case ctx.Err() != nil:
			// Canceled as the step ended: Cleanup gives the files back.
		default:
			if err := e.chown(ctx); err != nil {
				fmt.Fprintf(out, "WARNING: could not give files in the build directory back to uid %d: %v\n", e.x.owner.UID, err)
			} else {
				e.setDirty(false)
			}
		}
	}
	if code != 0 {
		return &executor.ExitError{Code: code}
	}
	return nil
}

// scriptText is the step's script with its stderr sent to stdout, so that the Engine, which
// reads the two streams apart, cannot reorder their lines; behind a trap that gives the build
// directory back to its owner when the step runs as root.
func (e *env) scriptText(script executor.Script) string {
	text := "exec 2>&1\n" + executor.ScriptText(script)
	if !e.fixOwner() || !e.rootSteps {
		return text
	}
	return "_slipway_owner_dir=" + shellQuote(e.projectDir()) + "\n" +
		"trap '_slipway_rc=$?; chown -R -h " + e.ownerSpec() + " \"$_slipway_owner_dir\" >/dev/null 2>&1 || :; exit \"$_slipway_rc\"' EXIT\n" +
		text
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fixOwner reports whether files created in the build directory must be given back.
func (e *env) fixOwner() bool {
	return e.x.owner.UID != 0 && e.job.BuildDir != ""
}

func (e *env) ownerSpec() string {
	return fmt.Sprintf("%d:%d", e.x.owner.UID, e.x.owner.GID)
}

func (e *env) setDirty(d bool) {
	e.mu.Lock()
	e.dirty = d
	e.mu.Unlock()
}

// chown runs `chown -R` on the project directory in a root container of the job image.
func (e *env) chown(ctx context.Context) error {
	var out strings.Builder
	opts := client.ContainerCreateOptions{
		Name: fmt.Sprintf("%s-chown-%d", e.name, e.nextStep()),
		Config: &container.Config{
			Image:        e.image.ID,
			Entrypoint:   []string{"chown", "-R", "-h", e.ownerSpec(), e.projectDir()},
			User:         "0:0",
			Labels:       e.labels("chown"),
			AttachStdout: true,
			AttachStderr: true,
		},
		HostConfig: &container.HostConfig{
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: e.job.BuildDir, Target: e.projectDir()}},
			NetworkMode: "none",
		},
	}
	code, err := e.runContainer(ctx, opts, 0, nil, &limitWriter{w: &out, n: 4096})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("chown exited with code %d: %s", code, strings.TrimSpace(out.String()))
	}
	return nil
}

func (e *env) nextStep() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.steps++
	return e.steps
}

// limitWriter keeps the first n bytes written and discards the rest.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// Shell runs the job image's shell (bash when the image has it, else sh) in a new container
// like a step's, reading in and writing out, until the user exits it. A shell that exits
// non-zero returns an *executor.ExitError. The copy from in may outlive Shell until in returns
// from a Read.
func (e *env) Shell(ctx context.Context, in io.Reader, out io.Writer) error {
	if in == nil {
		in = strings.NewReader("")
	}
	opts := e.buildConfig("shell", []string{"sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -i; else exec sh -i; fi"})
	opts.Config.OpenStdin = true
	opts.Config.StdinOnce = true
	opts.Config.AttachStdin = true
	if e.fixOwner() {
		e.setDirty(true)
	}
	code, err := e.runContainer(ctx, opts, 0, in, out)
	if err != nil {
		return err
	}
	if code != 0 {
		return &executor.ExitError{Code: code}
	}
	return nil
}

// Cleanup removes the job's containers (with their anonymous volumes), its labelled volumes,
// its network and the script directory, and gives the build directory back to its owner
// when a step may have left files it does not own. It is idempotent, and safe after a failed
// Prepare.
func (e *env) Cleanup(ctx context.Context) error {
	e.mu.Lock()
	if e.cleaned {
		e.mu.Unlock()
		return nil
	}
	dirty := e.dirty
	e.mu.Unlock()

	var errs []error
	if e.fixOwner() && e.image.ID != "" && (dirty || !ownedBy(e.job.BuildDir, e.x.owner)) {
		if err := e.chown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("give build directory back to uid %d: %w", e.x.owner.UID, err))
		}
	}
	errs = append(errs, e.removeAll(ctx)...)
	if e.tmp != "" {
		if err := os.RemoveAll(e.tmp); err != nil {
			errs = append(errs, fmt.Errorf("remove script directory: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.mu.Lock()
	e.cleaned, e.dirty = true, false
	e.mu.Unlock()
	return nil
}

// removeAll removes what carries e's LabelEnv: containers, then volumes and networks.
func (e *env) removeAll(ctx context.Context) []error {
	var errs []error
	f := client.Filters{}.Add("label", LabelEnv+"="+e.id)
	ids := map[string]bool{}
	e.mu.Lock()
	for id := range e.containers {
		ids[id] = true
	}
	e.mu.Unlock()
	cs, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	}
	for _, c := range cs.Items {
		ids[c.ID] = true
	}
	for id := range ids {
		if err := e.removeContainer(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	vs, err := e.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vs.Items {
		if _, err := e.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
		}
	}
	nets := map[string]bool{}
	if e.network != "" {
		nets[e.network] = true
	}
	ns, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range ns.Items {
		nets[n.Name] = true
	}
	for n := range nets {
		if _, err := e.cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n, err))
		}
	}
	return errs
}

// removeContainer removes a container, with its anonymous volumes, killing it if it runs.
func (e *env) removeContainer(ctx context.Context, id string) error {
	_, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %.12s: %w", id, err)
	}
	e.mu.Lock()
	delete(e.containers, id)
	e.mu.Unlock()
	return nil
}

// ownedBy reports whether everything under dir belongs to o's user, stopping at the first that does
// not (or cannot be read).
func ownedBy(dir string, o Owner) bool {
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if uid, ok := fileOwner(info); ok && uid != o.UID {
			return errNotOwned
		}
		return nil
	})
	return err == nil
}

var errNotOwned = errors.New("not owned")

// removeTimeout bounds the removal of a step's container once the step ended.
const removeTimeout = 30 * time.Second
