package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// hookResult is one webhook series.
type hookResult struct {
	latency []time.Duration // POST of the webhook → the runner's request returns the job
	answer  []time.Duration // POST of the webhook → its answer
	parts   map[string][]time.Duration
}

// hookParts are the git commands the server runs to make a pipeline for a push (package
// gitmirror: Sync, Resolve, Commit, FS, and one blob read), timed alone on a copy of its
// mirror, and fork+exec of git for scale.
var hookParts = []string{"git --version (fork+exec)", "git fetch (into the mirror)", "git rev-parse", "git show -s", "git ls-tree -r", "git cat-file blob"}

func webhookMode(ctx context.Context, o *opts, tmp string) error {
	repo, err := newRepo(ctx, filepath.Join(tmp, "repo"), "bench:\n  script: [\"true\"]\n")
	if err != nil {
		return err
	}
	results := map[string][]hookResult{}
	for i := range o.runs {
		for k := range o.dbs {
			db := o.dbs[(i+k)%len(o.dbs)]
			r, err := webhookRun(ctx, o, filepath.Join(tmp, fmt.Sprintf("webhook-%s-%d", db, i)), db, repo)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", db, i+1, err)
			}
			logf("webhook %s run %d: %d hooks, webhook→running p50 %s p99 %s max %s; answer p50 %s",
				db, i+1, len(r.latency), ms(pct(r.latency, 50)), ms(pct(r.latency, 99)), ms(pct(r.latency, 100)), ms(pct(r.answer, 50)))
			results[db] = append(results[db], r)
		}
	}
	fmt.Printf("| db | webhooks | runs | webhook→running p50 ms | p99 ms | max ms | webhook answer p50 ms | answer p99 ms |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, db := range o.dbs {
		var p50, p99, pmax, a50, a99 []float64
		for _, r := range results[db] {
			p50 = append(p50, msf(pct(r.latency, 50)))
			p99 = append(p99, msf(pct(r.latency, 99)))
			pmax = append(pmax, msf(pct(r.latency, 100)))
			a50 = append(a50, msf(pct(r.answer, 50)))
			a99 = append(a99, msf(pct(r.answer, 99)))
		}
		fmt.Printf("| %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", db, o.hooks, len(p50),
			median(p50), median(p99), median(pmax), median(a50), median(a99))
	}
	fmt.Printf("\nWhere the time goes: the git commands the server runs for one push, timed alone (%d times per run) on a copy of its mirror with the server idle, after the webhooks:\n\n", 50)
	fmt.Printf("| component |")
	for _, db := range o.dbs {
		fmt.Printf(" %s p50 ms | %s p99 ms |", db, db)
	}
	fmt.Printf("\n|---|")
	for range o.dbs {
		fmt.Printf("---:|---:|")
	}
	fmt.Println()
	sums := map[string]float64{}
	for _, name := range hookParts {
		fmt.Printf("| %s |", name)
		for _, db := range o.dbs {
			var all []time.Duration
			for _, r := range results[db] {
				all = append(all, r.parts[name]...)
			}
			fmt.Printf(" %.1f | %.1f |", msf(pct(all, 50)), msf(pct(all, 99)))
			if name != hookParts[0] {
				sums[db] += msf(pct(all, 50))
			}
		}
		fmt.Println()
	}
	fmt.Printf("| sum of the git commands (p50s, without --version) |")
	for _, db := range o.dbs {
		fmt.Printf(" %.1f | |", sums[db])
	}
	fmt.Printf("\n| webhook→running p50 minus that sum (HTTP, verify, plan, store, dispatch) |")
	for _, db := range o.dbs {
		var lat []float64
		for _, r := range results[db] {
			lat = append(lat, msf(pct(r.latency, 50)))
		}
		fmt.Printf(" %.1f | |", median(lat)-sums[db])
	}
	fmt.Println()
	return nil
}

type got struct {
	at  time.Time
	job *claimed
	err error
}

// webhookRun sends o.hooks webhooks, each for a new commit, to an idle server with one
// fake runner in a long poll, and then times the server's git commands alone.
func webhookRun(ctx context.Context, o *opts, dir, db string, repo gitRepo) (hookResult, error) {
	res := hookResult{parts: map[string][]time.Duration{}}
	client := newClient(4)
	defer client.CloseIdleConnections()
	s, err := startServer(ctx, o, dir, db, 0, client)
	if err != nil {
		return res, err
	}
	defer s.stop()
	pid, err := s.createProject(ctx, "hooks", repo.dir)
	if err != nil {
		return res, err
	}
	tok, err := s.registerRunner(ctx, "fake")
	if err != nil {
		return res, err
	}
	f := &fakeRunner{s: s, name: "fake", token: tok, wait: 10 * time.Second}
	rctx, stopRunner := context.WithCancel(ctx)
	defer stopRunner()
	gotc := make(chan got)
	finished := make(chan error)
	go func() {
		for rctx.Err() == nil {
			j, err := f.request(rctx)
			if j == nil && err == nil {
				continue
			}
			at := time.Now()
			select {
			case gotc <- got{at: at, job: j, err: err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
			select {
			case finished <- f.finish(rctx, j):
			case <-rctx.Done():
				return
			}
		}
	}()
	hookURL := fmt.Sprintf("%s/hooks/github/%d", s.url, pid)
	for i := range o.hooks {
		sha, err := repo.commit(ctx, fmt.Sprintf("bench commit %d", i))
		if err != nil {
			return res, err
		}
		req, err := githubPush(ctx, hookURL, fmt.Sprintf("%s-%d-%d", db, os.Getpid(), i), sha, i)
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return res, fmt.Errorf("webhook %d: %w", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered := time.Now()
		if resp.StatusCode != http.StatusCreated {
			return res, fmt.Errorf("webhook %d: %d %s", i, resp.StatusCode, bytes.TrimSpace(body))
		}
		var g got
		select {
		case g = <-gotc:
		case <-time.After(30 * time.Second):
			return res, fmt.Errorf("webhook %d: no job reached the runner in 30 s\n%s", i, s.logTail())
		case <-ctx.Done():
			return res, context.Cause(ctx)
		}
		if g.err != nil {
			return res, g.err
		}
		if g.job.Git.SHA != sha {
			return res, fmt.Errorf("webhook %d: the runner got a job of %s, want %s", i, g.job.Git.SHA, sha)
		}
		res.latency = append(res.latency, g.at.Sub(t0))
		res.answer = append(res.answer, answered.Sub(t0))
		select {
		case err = <-finished:
		case <-time.After(30 * time.Second):
			err = fmt.Errorf("the job was not finished in 30 s")
		}
		if err != nil {
			return res, fmt.Errorf("webhook %d: %w", i, err)
		}
	}
	stopRunner()
	return res, timeGitParts(ctx, s, pid, repo, 50, res.parts)
}

// githubPush builds a signed GitHub push delivery for sha.
func githubPush(ctx context.Context, url, delivery, sha string, i int) (*http.Request, error) {
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha, "deleted": false,
		"head_commit": map[string]any{"id": sha, "message": fmt.Sprintf("bench commit %d", i),
			"author": map[string]string{"name": "Bench", "email": "bench@example.test"}},
		"repository": map[string]any{"full_name": "bench/hooks", "clone_url": "https://example.test/bench/hooks.git"},
		"pusher":     map[string]string{"name": "bench"},
	})
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	return req, nil
}

// timeGitParts times, n times, the git commands the server runs for one push, with the
// arguments package gitmirror gives them, on a copy of the server's mirror of project pid.
func timeGitParts(ctx context.Context, s *server, pid int64, repo gitRepo, n int, parts map[string][]time.Duration) error {
	mirror := filepath.Join(filepath.Dir(s.data), "mirror-copy.git")
	src := filepath.Join(s.data, "git", fmt.Sprintf("%d.git", pid))
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, mirror).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the mirror %s: %v\n%s", src, err, out)
	}
	m := gitRepo{dir: mirror}
	for i := range n {
		sha, err := repo.commit(ctx, fmt.Sprintf("parts commit %d", i))
		if err != nil {
			return err
		}
		blob, err := repo.git(ctx, "rev-parse", sha+":.gitlab-ci.yml")
		if err != nil {
			return err
		}
		for _, p := range []struct {
			name string
			args []string
		}{
			{hookParts[0], []string{"--version"}},
			{hookParts[1], []string{"fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
				"--no-auto-gc", "--end-of-options", repo.dir, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}},
			{hookParts[2], []string{"rev-parse", "-q", "--verify", "--end-of-options", sha + "^{commit}"}},
			{hookParts[3], []string{"show", "-s", "--no-show-signature", "--no-notes",
				"--format=%H%x00%an%x00%ae%x00%cI%x00%B", "--end-of-options", sha + "^{commit}", "--"}},
			{hookParts[4], []string{"ls-tree", "-r", "-t", "-z", "--long", "--full-tree", "--end-of-options", sha + "^{commit}"}},
			{hookParts[5], []string{"cat-file", "blob", blob}},
		} {
			t := time.Now()
			if _, err := m.git(ctx, p.args...); err != nil {
				return err
			}
			parts[p.name] = append(parts[p.name], time.Since(t))
		}
	}
	return nil
}
