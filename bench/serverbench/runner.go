package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// fakeRunner speaks the runner protocol with a fake executor: it claims a job, sends one
// small log chunk and reports success, with no script run.
type fakeRunner struct {
	s     *server
	name  string
	token string
	wait  time.Duration // the long poll's bound, sent as JobRequest.Wait
	seq   int
}

// claimed is a job a fake runner got.
type claimed struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
	Git   struct {
		SHA string `json:"sha"`
	} `json:"git"`
}

// errLeaseLost is a final update answered 403: the job's lease ran out before it.
var errLeaseLost = errors.New("lease lost")

var logChunk = []byte("serverbench: fake executor ran the job\n")

// request asks for a job: it returns the job, or nil on 204 (no job within the wait).
func (r *fakeRunner) request(ctx context.Context) (*claimed, error) {
	r.seq++
	body, _ := json.Marshal(map[string]any{"key": r.name + "-" + strconv.Itoa(r.seq), "wait": r.wait})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.s.url+"/api/v1/jobs/request", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request job: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("request job: read answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusCreated:
		var j claimed
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, fmt.Errorf("request job: decode: %w", err)
		}
		return &j, nil
	}
	return nil, fmt.Errorf("request job: %d %s", resp.StatusCode, bytes.TrimSpace(data))
}

// finish sends the log chunk and the final success of j.
func (r *fakeRunner) finish(ctx context.Context, j *claimed) error {
	path := "/api/v1/jobs/" + strconv.FormatInt(j.ID, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, r.s.url+path+"/log", bytes.NewReader(logChunk))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+j.Token)
	req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/*", len(logChunk)-1))
	resp, err := r.s.client.Do(req)
	if err != nil {
		return fmt.Errorf("send log of job %d: %w", j.ID, err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("send log of job %d: %w", j.ID, errLeaseLost)
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("send log of job %d: %d %s", j.ID, resp.StatusCode, bytes.TrimSpace(data))
	}
	body, _ := json.Marshal(map[string]any{"state": "success", "log_size": len(logChunk)})
	req, err = http.NewRequestWithContext(ctx, http.MethodPut, r.s.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+j.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = r.s.client.Do(req)
	if err != nil {
		return fmt.Errorf("finish job %d: %w", j.ID, err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusForbidden, http.StatusUnauthorized:
		// The job token is refused once the job is no longer running.
		return fmt.Errorf("finish job %d: %w", j.ID, errLeaseLost)
	}
	return fmt.Errorf("finish job %d: %d %s", j.ID, resp.StatusCode, bytes.TrimSpace(data))
}
