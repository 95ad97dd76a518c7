package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/store"
)

// logHub wakes the live log streams of a job when bytes arrive or it ends (and, as
// Server.pipes, the live pages of a pipeline when it changes).
type logHub struct {
	mu   sync.Mutex // guards subs
	subs map[int64]map[chan struct{}]struct{}
}

func newLogHub() *logHub { return &logHub{subs: map[int64]map[chan struct{}]struct{}{}} }

// subscribe returns a channel woken when any of ids is published, and its unsubscribe.
func (h *logHub) subscribe(ids ...int64) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if h.subs[id] == nil {
			h.subs[id] = map[chan struct{}]struct{}{}
		}
		h.subs[id][ch] = struct{}{}
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, id := range ids {
			delete(h.subs[id], ch)
			if len(h.subs[id]) == 0 {
				delete(h.subs, id)
			}
		}
	}
}

func (h *logHub) publish(jobID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[jobID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// logBlock is how much of a log a reader takes from the store at a time: reading a log
// costs about this much memory, whatever its size.
const logBlock = 256 << 10

// jobLog is GET (and HEAD) /api/v1/jobs/{id}/log: the log as text, from ?offset= when given,
// read from the store a block at a time. Range requests are served (on the log from offset),
// over the bytes stored when the request came.
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request, _ *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	size, err := s.logSize(r.Context(), j.ID)
	if err != nil {
		return err
	}
	base := min(max(offset, 0), size)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(jobapi.HeaderLogSize, itoa(size))
	w.Header().Set("X-Job-Status", string(j.Status))
	http.ServeContent(w, r, "", time.Time{}, &logReader{ctx: r.Context(), logs: s.store, job: j.ID, base: base, size: size - base})
	return nil
}

// logSize is the size of a job's log, read without its bytes.
func (s *Server) logSize(ctx context.Context, jobID int64) (int64, error) {
	_, size, err := s.store.ReadLog(ctx, jobID, math.MaxInt64, 0)
	return size, err
}

// logReader is the bytes [base, base+size) of a job's log as an io.ReadSeeker (positions
// count from base), read from the store a logBlock at a time.
type logReader struct {
	ctx        context.Context
	logs       store.Logs
	job        int64
	base, size int64
	// pos is where the next Read starts; buf holds the bytes read from there on.
	pos int64
	buf []byte
}

func (r *logReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.pos >= r.size {
			return 0, io.EOF
		}
		data, _, err := r.logs.ReadLog(r.ctx, r.job, r.base+r.pos, int(min(logBlock, r.size-r.pos)))
		if err != nil {
			return 0, err
		}
		if len(data) == 0 {
			return 0, io.ErrUnexpectedEOF // deleted meanwhile
		}
		r.buf = data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.pos += int64(n)
	return n, nil
}

func (r *logReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("seek log: negative position")
	}
	if offset != r.pos {
		r.pos, r.buf = offset, nil
	}
	return offset, nil
}

// streamKeepalive is how often an idle log stream gets a comment.
const streamKeepalive = 15 * time.Second

// logEvent is the data of a "log" event of the stream.
type logEvent struct {
	Offset int64  `json:"offset"`
	Text   string `json:"text"`
}

// jobLogStream is GET /api/v1/jobs/{id}/log/stream: Server-Sent Events of the log from a byte
// offset (Last-Event-ID, which browsers send when they reconnect, else ?offset=, else 0):
// "log" events whose id is the offset after them, then one "end" event with the job's status
// when it is final and everything was sent.
func (s *Server) jobLogStream(w http.ResponseWriter, r *http.Request, _ *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		offset, _ = strconv.ParseInt(id, 10, 64)
	}
	offset = max(offset, 0)
	wake, unsubscribe := s.logs.subscribe(j.ID)
	defer unsubscribe()
	rc, err := s.startEvents(w)
	if err != nil {
		return fmt.Errorf("log stream: %w", err)
	}
	ctx := r.Context()
	quiet := time.Now()
	for {
		// Read the status before the log: a job final before the read has all its log in it.
		cur, err := s.store.Job(ctx, j.ID)
		if err != nil {
			return nil
		}
		for {
			data, size, err := s.store.ReadLog(ctx, j.ID, offset, logBlock)
			if err != nil {
				return nil
			}
			if len(data) > 0 {
				next := offset + int64(len(data))
				b, _ := json.Marshal(logEvent{Offset: offset, Text: string(data)})
				if _, err := fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", next, b); err != nil {
					return nil // the client left
				}
				offset = next
				s.extend(w, streamKeepalive)
				quiet = time.Now()
			}
			if offset >= size {
				break
			}
		}
		if cur.Status.Final() {
			b, _ := json.Marshal(map[string]any{"status": cur.Status, "size": offset})
			fmt.Fprintf(w, "id: %d\nevent: end\ndata: %s\n\n", offset, b)
			_ = rc.Flush()
			return nil
		}
		// The stream lives as long as the job: waitEvents moves its deadlines.
		if rc.Flush() != nil || !s.waitEvents(ctx, w, rc, wake, &quiet) {
			return nil
		}
	}
}
