package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// rssMode reads the VmRSS of idle servers: the built-in runner off (--runners 0) and on
// with the default --runners 2, as a user starts it.
func rssMode(ctx context.Context, o *opts, tmp string) error {
	type key struct {
		db      string
		runners int
	}
	var keys []key
	for _, db := range o.dbs {
		keys = append(keys, key{db, 0}, key{db, 2})
	}
	rss := map[key][]float64{}
	for i := range o.runs {
		for k := range keys {
			c := keys[(i+k)%len(keys)]
			client := newClient(2)
			s, err := startServer(ctx, o, filepath.Join(tmp, fmt.Sprintf("rss-%s-%d-%d", c.db, c.runners, i)), c.db, c.runners, client)
			if err != nil {
				return err
			}
			select {
			case <-time.After(o.idle):
			case <-ctx.Done():
				s.stop()
				return context.Cause(ctx)
			}
			kb, err := s.procStatus("VmRSS")
			s.stop()
			client.CloseIdleConnections()
			if err != nil {
				return err
			}
			logf("rss %s --runners %d run %d: %d kB", c.db, c.runners, i+1, kb)
			rss[c] = append(rss[c], float64(kb)/1024)
		}
	}
	fmt.Printf("| server | db | built-in runner | runs | idle VmRSS MiB median (range) |\n")
	fmt.Printf("|---|---|---|---:|---:|\n")
	for _, c := range keys {
		runner := "off (`--runners 0`)"
		if c.runners > 0 {
			runner = fmt.Sprintf("on (`--runners %d`, the default)", c.runners)
		}
		xs := rss[c]
		fmt.Printf("| slipway | %s | %s | %d | %.1f (%.1f–%.1f) |\n", c.db, runner, len(xs), median(xs), minf(xs), maxf(xs))
	}
	return nil
}
