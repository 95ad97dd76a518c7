package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// Ping reports whether an Engine answers, within two seconds.
func (x *Executor) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := x.cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}
