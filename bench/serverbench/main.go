// Command serverbench times a real `slipway server` process from outside, as runners and a
// forge see it, and prints markdown tables on stdout (progress on stderr):
//
//   - -mode dispatch: a queue of -pipelines × -parallel pending jobs (one job with
//     parallel: N, triggered through the API), then -runners fake runners (goroutines
//     speaking the runner protocol over HTTP: request → one log chunk → final success)
//     drain it. Jobs claimed and completed per second, and the latency of the claim.
//   - -mode webhook: the server idle and one fake runner long-polling; -hooks signed GitHub
//     push webhooks, one after another, each for a new commit. The time from just before
//     the webhook's POST until the runner's request returns the job, and where it goes.
//   - -mode rss: VmRSS of an idle server (5 s after it answers /healthz), with and without
//     the built-in runner.
//   - -mode logread: a job's log of -log-mb MB sent as a runner sends it, then read by
//     -readers clients whole (GET /log) and -readers more as SSE streams from 0, all at once:
//     the server's peak RSS (VmHWM) once the log is stored and after the reads.
//
// -db takes a comma-separated list (sqlite,postgres); runs alternate the databases round
// by round. Every server gets a fresh data dir, and on Postgres a fresh schema (via
// search_path in the DSN) that is dropped after; every process is killed on exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type opts struct {
	bin       string
	dbs       []string
	pgDSN     string
	mode      string
	runs      int
	pipelines int
	parallel  int
	runners   int
	hooks     int
	readers   int
	logMB     int
	idle      time.Duration
	heartbeat time.Duration
	deadline  time.Duration
	keep      bool
}

func main() {
	var o opts
	var dbs string
	flag.StringVar(&o.bin, "bin", "", "the slipway binary (required)")
	flag.StringVar(&dbs, "db", "sqlite", "databases, comma-separated: sqlite, postgres")
	flag.StringVar(&o.pgDSN, "pg-dsn", os.Getenv("SLIPWAY_TEST_POSTGRES"), "Postgres DSN for -db postgres (a schema per server is made in it)")
	flag.StringVar(&o.mode, "mode", "dispatch", "dispatch, webhook, rss or logread")
	flag.IntVar(&o.runs, "runs", 3, "runs per database (medians are reported)")
	flag.IntVar(&o.pipelines, "pipelines", 100, "dispatch: pipelines triggered")
	flag.IntVar(&o.parallel, "parallel", 100, "dispatch: parallel instances of the pipeline's one job (GitLab allows 2-200)")
	flag.IntVar(&o.runners, "runners", 100, "dispatch: fake runners")
	flag.IntVar(&o.hooks, "hooks", 200, "webhook: webhooks sent")
	flag.IntVar(&o.readers, "readers", 8, "logread: clients reading the log whole, and as many reading its stream")
	flag.IntVar(&o.logMB, "log-mb", 75, "logread: the log's size in MB (MiB)")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "rss: how long the server idles before VmRSS is read")
	flag.DurationVar(&o.heartbeat, "heartbeat", 0, "the server's --heartbeat (0: its default)")
	flag.DurationVar(&o.deadline, "deadline", 15*time.Minute, "the whole run's deadline")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (data dirs and server logs)")
	flag.Parse()
	if o.bin == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	o.dbs = strings.Split(dbs, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeoutCause(ctx, o.deadline, errors.New("serverbench: -deadline passed"))
	err := run(ctx, &o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "serverbench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *opts) error {
	tmp, err := os.MkdirTemp("", "serverbench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("kept %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	switch o.mode {
	case "dispatch":
		return dispatchMode(ctx, o, tmp)
	case "webhook":
		return webhookMode(ctx, o, tmp)
	case "rss":
		return rssMode(ctx, o, tmp)
	case "logread":
		return logReadMode(ctx, o, tmp)
	}
	return fmt.Errorf("-mode %q: want dispatch, webhook, rss or logread", o.mode)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "serverbench: "+format+"\n", args...)
}
