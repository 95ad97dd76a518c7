package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
)

var _ executor.Reaper = (*Executor)(nil)

// reapGrace is how long a leftover container is given to stop on SIGTERM before it is
// killed; reapParallel bounds the containers stopped at once.
const (
	reapGrace    = 2 // seconds
	reapParallel = 8
)

// Reap removes what an earlier process with the same Options.Labels left on the Engine: every
// container (stopped with a 2 s grace, then removed with its anonymous volumes), then every
// network and volume carrying the executor's own labels and all of Options.Labels with the
// same values. Objects without them are never touched, whoever made them. It returns how many
// containers, networks and volumes it removed (volumes removed with their container are not
// counted). It is idempotent; ctx bounds it. Call it when none of this executor's jobs is
// running: it removes their containers too. It fails without Options.Labels, which would
// match every job of every Slipway on the Engine.
func (x *Executor) Reap(ctx context.Context) (removed int, err error) {
	if len(x.opts.Labels) == 0 {
		return 0, errors.New("reap: the docker executor has no owner labels")
	}
	f := client.Filters{}.Add("label", LabelEnv)
	for k, v := range x.opts.Labels {
		f.Add("label", k+"="+v)
	}
	var errs []error
	cs, err := x.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("reap: list containers: %w", err)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, reapParallel)
	)
	for _, c := range cs.Items {
		if !x.owns(c.Labels) {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, err := x.reapContainer(ctx, c.ID)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				removed++
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	// Networks and volumes once their containers are gone.
	ns, err := x.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range ns.Items {
		if !x.owns(n.Labels) {
			continue
		}
		if _, err := x.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err == nil {
			removed++
		} else if !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	vs, err := x.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vs.Items {
		if !x.owns(v.Labels) {
			continue
		}
		if _, err := x.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err == nil {
			removed++
		} else if !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("reap: %w", err)
	}
	return removed, nil
}

// owns reports whether labels are those of an object this executor's owner made: the Engine
// filtered by them already, and this check keeps Reap exact whatever the Engine's filter does.
func (x *Executor) owns(labels map[string]string) bool {
	if _, ok := labels[LabelEnv]; !ok {
		return false
	}
	for k, v := range x.opts.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// reapContainer stops a container with reapGrace, then removes it with its anonymous volumes.
// It reports false when the container was gone first or someone else removed it meanwhile.
func (x *Executor) reapContainer(ctx context.Context, id string) (bool, error) {
	grace := reapGrace
	if _, err := x.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &grace}); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		x.log.Warn("reap: stop container", "container", id[:min(12, len(id))], "err", err)
	}
	_, err := x.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	case cerrdefs.IsConflict(err):
		// Its removal is in progress (its job's own cleanup, still alive): wait for the end,
		// so that its network and volumes can go next.
		w := x.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		select {
		case <-w.Result:
			return false, nil
		case err := <-w.Error:
			if cerrdefs.IsNotFound(err) {
				return false, nil
			}
			return false, fmt.Errorf("wait for the removal of container %.12s: %w", id, err)
		}
	}
	return false, fmt.Errorf("remove container %.12s: %w", id, err)
}
