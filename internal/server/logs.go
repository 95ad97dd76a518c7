package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/store"
)

// logHub wakes the live log streams of a job when bytes arrive or it ends.
type logHub struct {
	mu   sync.Mutex // guards subs
	subs map[int64]map[chan struct{}]struct{}
}

func newLogHub() *logHub { return &logHub{subs: map[int64]map[chan struct{}]struct{}{}} }

func (h *logHub) subscribe(jobID int64) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[jobID] == nil {
		h.subs[jobID] = map[chan struct{}]struct{}{}
	}
	h.subs[jobID][ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[jobID], ch)
		if len(h.subs[jobID]) == 0 {
			delete(h.subs, jobID)
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

// jobLog is GET /api/v1/jobs/{id}/log: the log as text, from ?offset= when given.
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request, _ *caller) error {
	j, err := s.job(r)
	if err != nil {
		return err
	}
	offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	data, size, err := s.store.ReadLog(r.Context(), j.ID, max(offset, 0), 0)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(jobapi.HeaderLogSize, itoa(size))
	w.Header().Set("X-Job-Status", j.Status)
	_, _ = w.Write(data)
	return nil
}

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
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("log stream: response cannot flush")
	}
	wake, unsubscribe := s.logs.subscribe(j.ID)
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 1000\n\n")
	flusher.Flush()
	ctx := r.Context()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	poll := time.NewTicker(time.Second) // writes through other servers sharing the database
	defer poll.Stop()
	for {
		// Read the status before the log: a job final before the read has all its log in it.
		cur, err := s.store.Job(ctx, j.ID)
		if err != nil {
			return nil
		}
		for {
			data, size, err := s.store.ReadLog(ctx, j.ID, offset, 256<<10)
			if err != nil {
				return nil
			}
			if len(data) > 0 {
				next := offset + int64(len(data))
				b, _ := json.Marshal(logEvent{Offset: offset, Text: string(data)})
				fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", next, b)
				offset = next
			}
			if offset >= size {
				break
			}
		}
		if store.Final(cur.Status) {
			b, _ := json.Marshal(map[string]any{"status": cur.Status, "size": offset})
			fmt.Fprintf(w, "id: %d\nevent: end\ndata: %s\n\n", offset, b)
			flusher.Flush()
			return nil
		}
		flusher.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-poll.C:
		case <-keepalive.C:
			fmt.Fprintf(w, ": keepalive\n\n")
			flusher.Flush()
		}
	}
}
