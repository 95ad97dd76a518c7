package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// logReadResult is one logread run.
type logReadResult struct {
	size      int64
	storeHWM  int64         // the server's VmHWM (kB) once the log was stored
	readHWM   int64         // and once the readers were done
	readWall  time.Duration // the readers' start to the last one's end
	readersOK int
}

// logReadMode stores a log of -log-mb MB for one job, as a runner sends it (256 KiB chunks),
// then has -readers clients read it whole (GET /log) and -readers more as SSE streams from 0,
// all at once, and reports the server's peak RSS (VmHWM) before and after the reads.
func logReadMode(ctx context.Context, o *opts, tmp string) error {
	repo, err := newRepo(ctx, filepath.Join(tmp, "repo"), "build:\n  script: [\"true\"]\n")
	if err != nil {
		return err
	}
	results := map[string][]logReadResult{}
	for i := range o.runs {
		for k := range o.dbs {
			db := o.dbs[(i+k)%len(o.dbs)]
			r, err := logReadRun(ctx, o, filepath.Join(tmp, fmt.Sprintf("logread-%s-%d", db, i)), db, repo)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", db, i+1, err)
			}
			logf("logread %s run %d: %d MB log, VmHWM %d MB stored, %d MB after %d readers (%.1f s)",
				db, i+1, r.size>>20, r.storeHWM/1024, r.readHWM/1024, r.readersOK, r.readWall.Seconds())
			results[db] = append(results[db], r)
		}
	}
	fmt.Printf("| db | log MB | readers (whole + SSE) | runs | peak RSS MB once stored, median | peak RSS MB after the reads, median (range) | reads s, median |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, db := range o.dbs {
		var stored, read, wall []float64
		var size int64
		for _, r := range results[db] {
			stored = append(stored, float64(r.storeHWM)/1024)
			read = append(read, float64(r.readHWM)/1024)
			wall = append(wall, r.readWall.Seconds())
			size = r.size
		}
		fmt.Printf("| %s | %d | %d + %d | %d | %.0f | %.0f (%.0f–%.0f) | %.1f |\n", db, size>>20, o.readers, o.readers, len(read),
			median(stored), median(read), minf(read), maxf(read), median(wall))
	}
	return nil
}

func logReadRun(ctx context.Context, o *opts, dir, db string, repo gitRepo) (logReadResult, error) {
	var res logReadResult
	client := newClient(2*o.readers + 2)
	s, err := startServer(ctx, o, dir, db, 0, client)
	if err != nil {
		return res, err
	}
	defer s.stop()
	pid, err := s.createProject(ctx, "bench", repo.dir)
	if err != nil {
		return res, err
	}
	if err := s.call(ctx, http.MethodPost, fmt.Sprintf("/api/v1/projects/%d/pipelines", pid), adminToken,
		map[string]string{"ref": "main"}, nil, http.StatusCreated); err != nil {
		return res, err
	}
	tok, err := s.registerRunner(ctx, "fake")
	if err != nil {
		return res, err
	}
	f := &fakeRunner{s: s, name: "fake", token: tok, wait: time.Second}
	var j *claimed
	for j == nil {
		if j, err = f.request(ctx); err != nil {
			return res, err
		}
	}
	if res.size, err = sendLog(ctx, s, j, int64(o.logMB)<<20); err != nil {
		return res, err
	}
	if err := finishJob(ctx, s, j, res.size); err != nil {
		return res, err
	}
	if res.storeHWM, err = s.procStatus("VmHWM"); err != nil {
		return res, err
	}

	path := fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range o.readers {
		g.Go(func() error { return readWhole(gctx, s, path, res.size) })
		g.Go(func() error { return readSSE(gctx, s, path+"/stream", res.size) })
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("read the log: %w\n%s", err, s.logTail())
	}
	res.readWall, res.readersOK = time.Since(start), 2*o.readers
	res.readHWM, err = s.procStatus("VmHWM")
	return res, err
}

// sendLog sends size bytes of numbered lines as job j's log, in 256 KiB chunks.
func sendLog(ctx context.Context, s *server, j *claimed, size int64) (int64, error) {
	var chunk bytes.Buffer
	var off int64
	line := 0
	for off < size {
		chunk.Reset()
		for chunk.Len() < 256<<10-100 {
			line++
			fmt.Fprintf(&chunk, "%08d the job says something of a typical length about what it is doing\n", line)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, fmt.Sprintf("%s/api/v1/jobs/%d/log", s.url, j.ID), bytes.NewReader(chunk.Bytes()))
		if err != nil {
			return off, err
		}
		req.Header.Set("Authorization", "Bearer "+j.Token)
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", off, off+int64(chunk.Len())-1))
		resp, err := s.client.Do(req)
		if err != nil {
			return off, fmt.Errorf("send log at %d: %w", off, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return off, fmt.Errorf("send log at %d: %s", off, resp.Status)
		}
		off += int64(chunk.Len())
	}
	return off, nil
}

// finishJob reports j's success with its log's size.
func finishJob(ctx context.Context, s *server, j *claimed, size int64) error {
	body, _ := json.Marshal(map[string]any{"state": "success", "log_size": size})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/api/v1/jobs/%d", s.url, j.ID), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+j.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("finish job %d: %d %s", j.ID, resp.StatusCode, bytes.TrimSpace(data))
	}
	return nil
}

// get opens an authenticated GET of path.
func get(ctx context.Context, s *server, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, nil
}

// readWhole reads the log whole and checks its length.
func readWhole(ctx context.Context, s *server, path string, size int64) error {
	resp, err := get(ctx, s, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		return fmt.Errorf("GET %s: %d of %d bytes (%v)", path, n, size, err)
	}
	return nil
}

// readSSE reads the log stream from 0 to its end event and checks the text's length.
func readSSE(ctx context.Context, s *server, path string, size int64) error {
	resp, err := get(ctx, s, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var got int64
	event := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("stream %s: %d of %d bytes: %w", path, got, size, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "log":
			var d struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
				return fmt.Errorf("stream %s: %w", path, err)
			}
			got += int64(len(d.Text))
		case strings.HasPrefix(line, "data: ") && event == "end":
			if got != size {
				return fmt.Errorf("stream %s: %d of %d bytes", path, got, size)
			}
			return nil
		}
	}
}
