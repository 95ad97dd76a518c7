package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/expr"
	"github.com/slipway/slipway/internal/pipeline"
)

// service is one running service of a job.
type service struct {
	spec    pipeline.Service
	name    string // container name
	id      string
	aliases []string
	env     []string
	image   image.InspectResponse
}

// healthPortVar names the one port to wait for, as in GitLab Runner.
const healthPortVar = "HEALTHCHECK_TCP_PORT"

// serviceLogTail is how many lines of a service's log ServiceLogs and the readiness warning
// show.
const serviceLogTail = "1000"

// startServices makes the job's network, then pulls, creates and starts each service on it
// with its aliases, then waits for them all to accept connections.
func (e *env) startServices(ctx context.Context, log io.Writer) error {
	name := e.name + "-net"
	if _, err := e.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: e.labels("network")}); err != nil {
		return fmt.Errorf("create network: %w", err)
	}
	e.network = name
	for i, spec := range e.job.Services {
		s, err := e.startService(ctx, i, spec, log)
		if err != nil {
			return err
		}
		e.services = append(e.services, s)
	}
	fmt.Fprintf(log, "Waiting for services to be up and running (timeout %v)...\n", e.x.opts.ServiceTimeout)
	warnings := make([]string, len(e.services))
	var wg sync.WaitGroup
	for i, s := range e.services {
		wg.Go(func() {
			if err := e.waitReady(ctx, s); err != nil && ctx.Err() == nil {
				warnings[i] = e.readinessWarning(ctx, s, err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, w := range warnings {
		io.WriteString(log, w)
	}
	return nil
}

func (e *env) startService(ctx context.Context, i int, spec pipeline.Service, log io.Writer) (*service, error) {
	fmt.Fprintf(log, "Starting service %s ...\n", spec.Name)
	img, err := e.x.ensureImage(ctx, spec.Name, e.x.policies(spec.PullPolicy, e.job), log)
	if err != nil {
		return nil, err
	}
	s := &service{
		spec:    spec,
		name:    fmt.Sprintf("%s-svc-%d-%s", e.name, i, slug(Aliases(spec.Name, "")[0], 30)),
		aliases: Aliases(spec.Name, spec.Alias),
		env:     serviceEnv(e.job.Env, spec.Variables),
		image:   img,
	}
	labels := e.labels("service")
	labels[LabelService] = spec.Name
	c, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: s.name,
		Config: &container.Config{
			Image:      img.ID,
			Entrypoint: entrypoint(spec.Entrypoint),
			Cmd:        spec.Command,
			Env:        s.env,
			User:       spec.User,
			Labels:     labels,
		},
		HostConfig: e.hostConfig(img),
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			e.network: {Aliases: s.aliases},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("create service %s: %w", spec.Name, err)
	}
	s.id = c.ID
	e.mu.Lock()
	e.containers[c.ID] = true
	e.mu.Unlock()
	if _, err := e.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("start service %s: %w", spec.Name, err)
	}
	return s, nil
}

// serviceEnv is a service's environment: the job's variables, then the service's own, which
// win; these are expanded against the job's (GitLab expands them unless expand: false).
func serviceEnv(jobEnv []string, vars []pipeline.VarDef) []string {
	values := make(map[string]string, len(jobEnv))
	for _, kv := range jobEnv {
		k, v, _ := strings.Cut(kv, "=")
		values[k] = v
	}
	lookup := func(name string) (string, bool) { v, ok := values[name]; return v, ok }
	env := slices.Clone(jobEnv)
	for _, v := range vars {
		val := v.Value
		if !v.Raw {
			val = expr.Expand(val, lookup)
		}
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, v.Key+"=") })
		env = append(env, v.Key+"="+val)
	}
	return env
}

var validAlias = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Aliases returns the host names a service answers to on the job's network: GitLab Runner's
// two (the image name without registry port, tag or digest, with each / replaced by __ and by
// -), the tagged form with : replaced by - (postgres:16 → postgres-16), and then each name in
// alias (separated by commas or spaces). Names that are not valid host names are dropped.
func Aliases(imageName, alias string) []string {
	var out []string
	add := func(a string) {
		if validAlias.MatchString(a) && len(a) <= 253 && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	repo, _, _ := strings.Cut(imageName, "@")
	tag := ""
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
	}
	if host, rest, ok := strings.Cut(repo, "/"); ok {
		if h, _, ok := strings.Cut(host, ":"); ok {
			repo = h + "/" + rest
		}
	}
	add(strings.ReplaceAll(repo, "/", "__"))
	add(strings.ReplaceAll(repo, "/", "-"))
	if tag != "" {
		add(strings.ReplaceAll(repo, "/", "-") + "-" + tag)
	}
	for _, a := range strings.FieldsFunc(alias, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		add(a)
	}
	if len(out) == 0 {
		out = append(out, "service")
	}
	return out
}

// healthPorts are the TCP ports to wait for: HEALTHCHECK_TCP_PORT when the service sets it,
// else every TCP port the image exposes (any one answering will do, as in GitLab Runner).
func healthPorts(s *service, img image.InspectResponse) []string {
	for _, kv := range s.env {
		if p, ok := strings.CutPrefix(kv, healthPortVar+"="); ok && p != "" {
			return []string{p}
		}
	}
	var ports []string
	if img.Config != nil {
		for p := range img.Config.ExposedPorts {
			if num, proto, _ := strings.Cut(p, "/"); proto == "" || proto == "tcp" {
				ports = append(ports, num)
			}
		}
	}
	sort.Slice(ports, func(i, j int) bool {
		a, _ := strconv.Atoi(ports[i])
		b, _ := strconv.Atoi(ports[j])
		return a < b
	})
	return ports
}

// pollInterval is the pause between readiness checks of a service.
const pollInterval = 100 * time.Millisecond

// waitReady waits until one of the service's health ports accepts a TCP connection from this
// host at the container's address on the job's network, the container stops, or
// ServiceTimeout passes.
func (e *env) waitReady(ctx context.Context, s *service) error {
	ports := healthPorts(s, s.image)
	if len(ports) == 0 {
		return nil // nothing to wait for
	}
	ins, err := e.cli.ContainerInspect(ctx, s.id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.x.opts.ServiceTimeout)
	defer cancel()
	var d net.Dialer
	var last error
	for {
		if st := ins.Container.State; st != nil && !st.Running {
			return fmt.Errorf("the service container is %s (exit code %d)", st.Status, st.ExitCode)
		}
		var ip netip.Addr
		if ins.Container.NetworkSettings != nil {
			if ep := ins.Container.NetworkSettings.Networks[e.network]; ep != nil {
				ip = ep.IPAddress
			}
		}
		if ip.IsValid() {
			for _, p := range ports {
				dctx, dcancel := context.WithTimeout(ctx, time.Second)
				conn, err := d.DialContext(dctx, "tcp", net.JoinHostPort(ip.String(), p))
				dcancel()
				if err == nil {
					_ = conn.Close()
					return nil
				}
				last = err
			}
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if last == nil {
				last = errors.New("no address on the job network")
			}
			return fmt.Errorf("no TCP connection to port %s within %v: %v", strings.Join(ports, " or "), e.x.opts.ServiceTimeout, last)
		case <-t.C:
		}
		if ins, err = e.cli.ContainerInspect(ctx, s.id, client.ContainerInspectOptions{}); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("inspect: %w", err)
		}
	}
}

// readinessWarning is GitLab Runner's warning about a service that did not come up, with its
// logs.
func (e *env) readinessWarning(ctx context.Context, s *service, cause error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*** WARNING: Service %s probably didn't start properly.\n\nHealth check error:\n%v\n\nService container logs:\n", s.name, cause)
	if err := e.writeLogs(ctx, s, &b); err != nil {
		fmt.Fprintf(&b, "(logs not available: %v)\n", err)
	}
	b.WriteString("\n*********\n")
	return b.String()
}

// ServiceLogs writes the last lines of each service's output (stdout and stderr), under a
// header naming the service and its aliases.
func (e *env) ServiceLogs(ctx context.Context, w io.Writer) error {
	var errs []error
	for _, s := range e.services {
		fmt.Fprintf(w, "--- service %s (%s) ---\n", s.spec.Name, strings.Join(s.aliases, ", "))
		if err := e.writeLogs(ctx, s, w); err != nil {
			errs = append(errs, fmt.Errorf("logs of service %s: %w", s.spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (e *env) writeLogs(ctx context.Context, s *service, w io.Writer) error {
	rc, err := e.cli.ContainerLogs(ctx, s.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: serviceLogTail})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(w, w, rc)
	return err
}
