package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// drainTimeout bounds the wait for a killed container's output to end.
const drainTimeout = 5 * time.Second

// errTimedOut is runContainer's error when its timeout passed.
var errTimedOut = errors.New("timed out")

type waitResult struct {
	code int
	err  error
}

// runContainer creates a container from opts, attaches to its output (and its input to in,
// when not nil), starts it, copies its stdout and stderr to out in the order the Engine sends
// them until it exits, and removes it with its anonymous volumes. It returns the exit code.
// When ctx is done first, or timeout (if not zero) passes once the container started, it
// kills the container and returns ctx.Err() or errTimedOut once the copy to out has stopped. It returns after its goroutines end, except the copy from in, which ends at
// the next Read of in that returns.
func (e *env) runContainer(ctx context.Context, opts client.ContainerCreateOptions, timeout time.Duration, in io.Reader, out io.Writer) (code int, err error) {
	bg := context.WithoutCancel(ctx)
	c, err := e.cli.ContainerCreate(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("create container: %w", err)
	}
	e.mu.Lock()
	e.containers[c.ID] = true
	e.mu.Unlock()
	defer func() {
		rctx, cancel := context.WithTimeout(bg, removeTimeout)
		defer cancel()
		if err := e.removeContainer(rctx, c.ID); err != nil {
			// Cleanup finds it by label and tries again.
			e.x.log.Warn("remove container", "job_id", e.job.ID, "err", err)
		}
	}()

	att, err := e.cli.ContainerAttach(ctx, c.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: in != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("attach to container: %w", err)
	}
	wctx, wcancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	defer func() {
		att.Close()
		wcancel()
		wg.Wait()
	}()

	wait := e.cli.ContainerWait(wctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	exited := make(chan waitResult, 1)
	wg.Go(func() {
		select {
		case r := <-wait.Result:
			res := waitResult{code: int(r.StatusCode)}
			if r.Error != nil && r.Error.Message != "" {
				res.err = errors.New(r.Error.Message)
			}
			exited <- res
		case err := <-wait.Error:
			exited <- waitResult{code: -1, err: err}
		}
	})
	copied := make(chan error, 1)
	wg.Go(func() {
		_, err := stdcopy.StdCopy(out, out, att.Reader)
		copied <- err
	})
	if in != nil {
		go func() {
			_, _ = io.Copy(att.Conn, in)
			_ = att.CloseWrite()
		}()
	}

	if _, err := e.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("start container: %w", err)
	}
	// The timeout bounds the script, not the making of its container.
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	stop := func(err error) (int, error) {
		e.kill(bg, c.ID)
		select {
		case <-copied:
		case <-time.After(drainTimeout):
		}
		return -1, err
	}
	select {
	case err := <-copied:
		if err != nil {
			e.kill(bg, c.ID)
			return -1, fmt.Errorf("copy container output: %w", err)
		}
	case <-ctx.Done():
		return stop(ctx.Err())
	case <-expired:
		return stop(errTimedOut)
	}
	select {
	case r := <-exited:
		if r.err != nil {
			return -1, fmt.Errorf("wait for container: %w", r.err)
		}
		return r.code, nil
	case <-ctx.Done():
		e.kill(bg, c.ID)
		return -1, ctx.Err()
	case <-expired:
		e.kill(bg, c.ID)
		return -1, errTimedOut
	}
}

// kill sends SIGKILL to a container; one that already stopped is not an error.
func (e *env) kill(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil && !errNotRunning(err) {
		e.x.log.Warn("kill container", "job_id", e.job.ID, "err", err)
	}
}
