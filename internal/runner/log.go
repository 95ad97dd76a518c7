package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
)

// Log upload tuning.
const (
	maxChunk      = 256 << 10
	flushInterval = 300 * time.Millisecond
	patchTimeout  = 30 * time.Second
)

// spool is a job's log: written to a file as it comes (so a large log costs no memory) and
// uploaded from there by upload. Offsets are the log's, which starts at base (a resumed
// claim's LogOffset); the file holds the bytes from base on.
type spool struct {
	f    *os.File
	base int64
	// wake is signalled (without blocking) when there is news for the uploader.
	wake chan struct{}

	mu sync.Mutex
	// size is the log's end; acked what the server has (X-Log-Size); closed is set when
	// nothing more will be written; cut when the server keeps no more of the log (it reached
	// the server's limit): the rest is not written nor sent.
	size, acked int64
	closed, cut bool
	// limit bounds the log (0: none): the bytes that would take it past limit less the
	// length of notice are dropped, notice is written in their place, and full is set: the
	// rest of the job's output is neither spooled nor counted.
	limit  int64
	notice []byte
	full   bool
	// err is why the upload stopped for good (lease lost, out of retries).
	err error
	// changed is closed and replaced whenever acked, closed or err changes.
	changed chan struct{}
}

// newSpool makes the spool of a job's log at path, the log continuing at offset base, bounded
// to limit bytes (the runner's output_limit; 0: none).
func newSpool(path string, base, limit int64) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create log spool: %w", err)
	}
	return &spool{f: f, base: base, size: base, acked: base, wake: make(chan struct{}, 1), changed: make(chan struct{}),
		limit:  limit,
		notice: fmt.Appendf(nil, "\n\nThe log reached the runner's limit of %d KiB (output_limit) and was cut here: the job goes on, but no more of its output is kept.\n", limit>>10),
	}, nil
}

// Write appends p to the log. Writes after close are dropped: the log's size is final then.
// Once the log was cut by the server they only count; once it reached the spool's own limit
// they are dropped.
func (s *spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed || s.full:
		return len(p), nil
	case s.cut:
		s.size += int64(len(p))
		return len(p), nil
	}
	if room := s.limit - int64(len(s.notice)) - s.size; s.limit > 0 && int64(len(p)) > room {
		s.full = true
		last := append(p[:max(0, room):max(0, room)], s.notice...)
		if _, err := s.write(last); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.write(p)
}

// write appends p to the spool file; s.mu is held.
func (s *spool) write(p []byte) (int, error) {
	n, err := s.f.WriteAt(p, s.size-s.base)
	s.size += int64(n)
	s.signal()
	if err != nil {
		return n, fmt.Errorf("write log spool: %w", err)
	}
	return n, nil
}

// Printf writes one of the runner's own lines.
func (s *spool) Printf(format string, args ...any) { fmt.Fprintf(s, format, args...) }

// signal wakes the uploader; s.mu is held.
func (s *spool) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// broadcast tells waiters that acked, closed or err changed; s.mu is held.
func (s *spool) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.signal()
}

// Close marks the end of the log; it returns the log's full size.
func (s *spool) Close() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.broadcast()
	return s.size
}

// Size is the log's size so far.
func (s *spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// rewind makes the uploader resend from n, the server's size (after a 409 or 416).
func (s *spool) rewind(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setAcked(n)
}

// setAcked records the server's size, clamped to what exists; s.mu is held.
func (s *spool) setAcked(n int64) {
	s.acked = min(max(n, s.base), s.size)
	s.broadcast()
}

// markCut records that the server cut the log: everything is as sent as it will be.
func (s *spool) markCut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	s.acked = s.size
	s.broadcast()
}

// fail stops the upload for good.
func (s *spool) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		s.broadcast()
	}
}

// Uploaded waits until the log is closed and the server has all of it, or the upload failed
// for good, or ctx ends.
func (s *spool) Uploaded(ctx context.Context) error {
	for {
		s.mu.Lock()
		done, err, ch := s.closed && (s.acked == s.size || s.cut), s.err, s.changed
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Remove closes and deletes the spool file.
func (s *spool) Remove() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// upload sends the log to the server until ctx ends, the upload fails for good (403) or the
// server cut the log at its limit: in chunks of at most maxChunk from the server's
// acknowledged size, at least every flushInterval while output flows, retrying network errors
// and 5xx with backoff and resending from the server's size after a 416.
func (s *spool) upload(ctx context.Context, c *client, id int64, token string, log *slog.Logger) {
	bo := newBackoff()
	last := time.Time{}
	buf := make([]byte, maxChunk)
	for {
		s.mu.Lock()
		acked, size, closed, failed := s.acked, s.size, s.closed, s.err != nil
		s.mu.Unlock()
		if failed {
			return
		}
		pending := size - acked
		wait := time.Duration(-1) // until woken
		if pending > 0 && pending < maxChunk && !closed {
			if d := flushInterval - time.Since(last); d > 0 {
				wait = d
			} else {
				wait = 0
			}
		} else if pending > 0 {
			wait = 0
		}
		if wait != 0 {
			var t *time.Timer
			var tc <-chan time.Time
			if wait > 0 {
				t = time.NewTimer(wait)
				tc = t.C
			}
			select {
			case <-ctx.Done():
			case <-tc:
			case <-s.wake:
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		n, err := s.f.ReadAt(buf[:min(pending, maxChunk)], acked-s.base)
		if err != nil && err != io.EOF {
			s.fail(fmt.Errorf("read log spool: %w", err))
			return
		}
		last = time.Now()
		got, cut, err := patchLog(ctx, c, id, token, acked, buf[:n])
		switch {
		case err == nil && cut:
			log.Warn("the server cut the job's log at its size limit: the job goes on, its output is no longer sent", "offset", acked)
			s.markCut()
			return
		case err == nil:
			bo.reset()
			s.mu.Lock()
			if s.acked == acked { // a concurrent rewind wins
				s.setAcked(got)
			}
			s.mu.Unlock()
		case err == errLeaseLost:
			s.fail(err)
			return
		case retryable(ctx, err):
			log.Debug("upload log", "err", err, "offset", acked)
			if !bo.wait(ctx) {
				return
			}
		case ctx.Err() != nil:
			return
		default:
			// A 4xx other than 403/416: the server refuses this log; nothing to retry.
			s.fail(fmt.Errorf("upload log: %w", err))
			return
		}
	}
}

// patchLog sends p at start and returns the server's log size, and whether the server cut
// the log at its limit.
func patchLog(ctx context.Context, c *client, id int64, token string, start int64, p []byte) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, patchTimeout)
	defer cancel()
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	if len(p) > 0 {
		hdr.Set("Content-Range", jobapi.ContentRange(start, len(p)))
	}
	resp, err := c.do(ctx, http.MethodPatch, jobapi.PathLog(id), token, bytes.NewReader(p), hdr)
	if err != nil {
		return 0, false, fmt.Errorf("upload log: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusRequestedRangeNotSatisfiable:
		n, ok := logSize(resp)
		if !ok {
			return 0, false, &StatusError{Code: resp.StatusCode, Msg: "no " + jobapi.HeaderLogSize}
		}
		io.Copy(io.Discard, resp.Body)
		return n, resp.Header.Get(jobapi.HeaderLogCut) != "", nil
	case http.StatusForbidden:
		return 0, false, errLeaseLost
	}
	return 0, false, statusError(resp)
}
