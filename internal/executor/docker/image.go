package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/executor"
)

// policies returns the pull policies for an image: the image's own pull_policy list wins,
// then the job's, then Options.PullPolicy, then if-not-present.
func (x *Executor) policies(own []string, job *executor.Job) []string {
	switch {
	case len(own) > 0:
		return own
	case job.PullPolicy != "":
		return []string{job.PullPolicy}
	case x.opts.PullPolicy != "":
		return []string{x.opts.PullPolicy}
	}
	return []string{PullIfNotPresent}
}

// ensureImage makes name available per policies, tried in order as GitLab Runner does (so
// [always, if-not-present] falls back to a local image when the pull fails), and returns it
// as inspected. An image none of the policies yields is an error wrapping executor.ErrPull.
func (x *Executor) ensureImage(ctx context.Context, name string, policies []string, log io.Writer) (image.InspectResponse, error) {
	for _, p := range policies {
		switch p {
		case PullAlways, PullIfNotPresent, PullNever:
		default:
			return image.InspectResponse{}, fmt.Errorf("image %q: unknown pull_policy %q (want %s, %s or %s)", name, p, PullAlways, PullIfNotPresent, PullNever)
		}
	}
	var causes []string
	for _, p := range policies {
		if p != PullAlways {
			img, err := x.cli.ImageInspect(ctx, name)
			if err == nil {
				fmt.Fprintf(log, "Using docker image %s for %s (pull_policy %s) ...\n", img.ID, name, p)
				return img.InspectResponse, nil
			}
			if !cerrdefs.IsNotFound(err) {
				return image.InspectResponse{}, fmt.Errorf("inspect image %q: %w", name, err)
			}
			if p == PullNever {
				causes = append(causes, "it is not present locally and pull_policy never forbids pulling it")
				continue
			}
		}
		fmt.Fprintf(log, "Pulling docker image %s ...\n", name)
		err := x.pull(ctx, name)
		if err == nil {
			img, err := x.cli.ImageInspect(ctx, name)
			if err != nil {
				return image.InspectResponse{}, fmt.Errorf("inspect image %q after pulling it: %w", name, err)
			}
			fmt.Fprintf(log, "Using docker image %s for %s ...\n", img.ID, name)
			return img.InspectResponse, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return image.InspectResponse{}, fmt.Errorf("pull image %q: %w", name, ctxErr)
		}
		x.log.Debug("pull failed", "image", name, "policy", p, "err", err)
		causes = append(causes, fmt.Sprintf("the pull (pull_policy %s) failed: %v", p, err))
	}
	return image.InspectResponse{}, fmt.Errorf("image %q (pull_policy %s): %s: %w",
		name, strings.Join(policies, ", "), strings.Join(causes, "; "), executor.ErrPull)
}

// pull pulls name and waits for the pull to end.
func (x *Executor) pull(ctx context.Context, name string) error {
	rc, err := x.cli.ImagePull(ctx, name, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := rc.Wait(ctx); err != nil {
		return err
	}
	return nil
}

// errNotRunning reports whether err says a container is not running (a kill that came late).
func errNotRunning(err error) bool {
	return cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) || errors.Is(err, context.Canceled)
}
