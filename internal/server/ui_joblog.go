package server

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/internal/logview"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// The job page's log. Package logview renders it; this file reads it from the store for the
// page's first response (the tail window), "load earlier" ranges and the live stream, as
// logview's package doc says. Rendering a part of a log needs the State at its start, which a
// Scan of every byte before it gives: the States computed are kept per job (stateCache), so
// that the first response of a long log's page scans only what the log grew since it was last
// viewed, and for a finished log nothing (its window no longer moves).

// jobLogs is what the job pages keep of logs: the renderer, the States, the open streams.
type jobLogs struct {
	r      *logview.Renderer
	states *stateCache
	// streams holds a token per live stream of a page (Limits.LogStreams).
	streams chan struct{}
	// finished are the jobs whose logs' States warmLogs is to work out and keep on disk.
	finished chan int64
}

// warmQueue bounds the finished jobs waiting for warmLogs; past it a job's log is scanned
// when its page is first opened instead.
const warmQueue = 1024

// warmFrom is the size from which a finished job's log is scanned at its end, for its page:
// smaller logs scan in a few milliseconds.
const warmFrom = 4 << 20

// pageWindow is how much of a log the job page shows first, and each "load earlier" adds:
// about 1,500 lines of test output. The browser's time to parse the log's markup (about 135
// bytes a line) is most of the page's load: 256 KiB windows made a page of 2,000 lines
// reach DOMContentLoaded in about 300 ms.
const pageWindow = 64 << 10

func newJobLogs(l Limits, dir string) (*jobLogs, error) {
	r, err := logview.New(logview.Options{Window: pageWindow})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("make log states dir: %w", err)
	}
	return &jobLogs{r: r, states: newStateCache(l.LogStates, dir), streams: make(chan struct{}, l.LogStreams),
		finished: make(chan int64, warmQueue)}, nil
}

// logFinished queues a finished job for warmLogs (or drops it when the queue is full).
func (s *Server) logFinished(j *store.Job) {
	select {
	case s.jobLogs.finished <- j.ID:
	default:
	}
}

// warmLogs works out, for each job that finished with a log of warmFrom bytes or more, the
// State its page's tail window starts at (and the checkpoints on the way) and keeps them on
// disk (stateCache.save), so that the first view of a long log's page, even after a restart,
// reads only its window: the scan of the whole log is done once, here, in the background.
func (s *Server) warmLogs(ctx context.Context) {
	for {
		var id int64
		select {
		case <-ctx.Done():
			return
		case id = <-s.jobLogs.finished:
		}
		size, err := s.logSize(ctx, id)
		if err != nil || size < warmFrom {
			continue
		}
		if _, _, _, err := s.logWindow(ctx, id, size, true); err != nil {
			s.log.Warn("scan a finished job's log", "job", id, "err", err)
			continue
		}
		if err := s.jobLogs.states.save(id); err != nil {
			s.log.Warn("keep a finished job's log states", "job", id, "err", err)
		}
	}
}

// Scanning a log from the store.
const (
	// scanBlock is how much of a log a Scan reads from the store at a time.
	scanBlock = 1 << 20
	// checkpoint is how far apart the States kept while a long stretch is scanned are: a
	// "load earlier" far from every State kept scans at most this much more than its range.
	checkpoint = 4 << 20
)

// stateAt is the State of a job's log at offset at (at most its size): Scanned from the
// nearest State kept before it, read from the store a block at a time. It keeps the States
// it passes every checkpoint bytes, and the one it returns.
func (s *Server) stateAt(ctx context.Context, jobID, at int64) (logview.State, error) {
	jl := s.jobLogs
	st := jl.states.get(jobID, at)
	kept := st.Offset
	var carry []byte // the unfinished line at the end of what was read
	for pos := st.Offset + int64(len(carry)); pos < at; pos = st.Offset + int64(len(carry)) {
		data, _, err := s.store.ReadLog(ctx, jobID, pos, int(min(scanBlock, at-pos)))
		if err != nil {
			return st, err
		}
		if len(data) == 0 {
			return st, fmt.Errorf("scan log of job %d: %w", jobID, io.ErrUnexpectedEOF) // deleted meanwhile
		}
		// Scan whole lines only, so that every State on the way starts a line.
		k := bytes.LastIndexByte(data, '\n') + 1
		if k == 0 {
			carry = append(carry, data...)
			if len(carry) >= logview.DefaultMaxLine { // a long line: Scan cuts it too
				if st, err = jl.r.Scan(st, bytes.NewReader(carry)); err != nil {
					return st, err
				}
				carry = carry[:0]
			}
			continue
		}
		if st, err = jl.r.Scan(st, io.MultiReader(bytes.NewReader(carry), bytes.NewReader(data[:k]))); err != nil {
			return st, err
		}
		carry = append(carry[:0], data[k:]...)
		if st.Offset-kept >= checkpoint {
			jl.states.put(jobID, st)
			kept = st.Offset
		}
	}
	if len(carry) > 0 {
		var err error
		if st, err = jl.r.Scan(st, bytes.NewReader(carry)); err != nil {
			return st, err
		}
	}
	jl.states.put(jobID, st)
	return st, nil
}

// logWindow renders the window of a job's log that ends at end (at most its size): from
// WindowBefore(end), at its first line start. final renders the last unfinished line too. It
// returns the State the HTML starts at and the one it ends at.
func (s *Server) logWindow(ctx context.Context, jobID, end int64, final bool) (template.HTML, logview.State, logview.State, error) {
	jl := s.jobLogs
	from := jl.r.WindowBefore(end)
	var data []byte
	if end > from {
		var err error
		if data, _, err = s.store.ReadLog(ctx, jobID, from, int(end-from)); err != nil {
			return "", logview.State{}, logview.State{}, err
		}
		if int64(len(data)) < end-from {
			return "", logview.State{}, logview.State{}, fmt.Errorf("read log of job %d: %w", jobID, io.ErrUnexpectedEOF)
		}
	}
	i := logview.Align(data, from)
	st, err := s.stateAt(ctx, jobID, from+int64(i))
	if err != nil {
		return "", st, st, err
	}
	h, after := jl.r.Render(st, data[i:], final)
	if !final {
		jl.states.put(jobID, after) // where the page's stream starts
	}
	return h, st, after, nil
}

// logHTML is the job page's log: the tail window in an element with the attributes log.js
// reads, or "" for a finished job without output.
func (s *Server) logHTML(ctx context.Context, pagePath string, jobID int64, st status.Status) (template.HTML, error) {
	size, err := s.logSize(ctx, jobID)
	if err != nil {
		return "", err
	}
	final := st.Final()
	if size == 0 && final {
		return "", nil
	}
	h, start, end, err := s.logWindow(ctx, jobID, size, final)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(h) + 256)
	fmt.Fprintf(&b, `<div class="lv-log" data-start="%d" data-offset="%d" data-earlier="%s"`,
		start.Offset, end.Offset, template.HTMLEscapeString(pagePath+"/log"))
	if !final {
		fmt.Fprintf(&b, ` data-stream="%s"`, template.HTMLEscapeString(pagePath+"/log/events"))
	}
	b.WriteString(">")
	b.WriteString(string(h))
	b.WriteString("</div>")
	return template.HTML(b.String()), nil // h is logview's HTML, the attributes are escaped
}

// jobLogEarlier is GET …/-/jobs/{id}/log?before=N: "load earlier", the HTML of the window
// before offset N (one logview Window at most), its start offset in X-Log-Start.
func (s *Server) jobLogEarlier(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	before, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if err != nil || before < 0 {
		return errStatus(http.StatusBadRequest, "before=%q: want a byte offset of the log", r.URL.Query().Get("before"))
	}
	size, err := s.logSize(r.Context(), j.ID)
	if err != nil {
		return err
	}
	h, st, _, err := s.logWindow(r.Context(), j.ID, min(before, size), true)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Log-Start", itoa(st.Offset))
	_, _ = io.WriteString(w, string(h))
	return nil
}

// streamSlot takes one of the Limits.LogStreams slots of live streams, or answers 429.
func (s *Server) streamSlot(w http.ResponseWriter) (release func(), err error) {
	select {
	case s.jobLogs.streams <- struct{}{}:
		return func() { <-s.jobLogs.streams }, nil
	default:
		w.Header().Set("Retry-After", retryAfter)
		return nil, errStatus(http.StatusTooManyRequests, "Too many live pages are open on this server (the limit is %d); try again shortly.", cap(s.jobLogs.streams))
	}
}

// jobLogEvents is GET …/-/jobs/{id}/log/events: the live log of the job page, as logview's
// Updates, from the offset the page holds (Last-Event-ID when the browser reconnects, else
// ?offset=). Each "log" event's id is the offset after it; "end" comes once the job is final
// and its whole log was sent. The server's log hub wakes it when bytes arrive.
func (s *Server) jobLogEvents(w http.ResponseWriter, r *http.Request, pc *pageCtx) error {
	j, err := s.pageJob(r, pc)
	if err != nil {
		return err
	}
	from := r.URL.Query().Get("offset")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from = id
	}
	offset := int64(0)
	if from != "" {
		if offset, err = strconv.ParseInt(from, 10, 64); err != nil || offset < 0 {
			return errStatus(http.StatusBadRequest, "offset %q: want a byte offset of the log", from)
		}
	}
	release, err := s.streamSlot(w)
	if err != nil {
		return err
	}
	defer release()
	ctx := r.Context()
	wake, unsubscribe := s.logs.subscribe(j.ID)
	defer unsubscribe()
	size, err := s.logSize(ctx, j.ID)
	if err != nil {
		return err
	}
	st, err := s.stateAt(ctx, j.ID, min(offset, size))
	if err != nil {
		return err
	}
	stream := s.jobLogs.r.Stream(st)
	pos := st.Offset // the bytes fed to stream end here
	rc, err := s.startEvents(w)
	if err != nil {
		return err
	}
	send := func(u logview.Update) error {
		if len(u.Ops) == 0 {
			return nil
		}
		b, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("encode log update: %w", err)
		}
		_, err = fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", u.Offset, b)
		return err
	}
	quiet := time.Now()
	for {
		// Read the status before the log: a job final before the read has all its log in it.
		cur, err := s.store.Job(ctx, j.ID)
		if err != nil {
			return nil // the page reconnects
		}
		for {
			data, size, err := s.store.ReadLog(ctx, j.ID, pos, logBlock)
			if err != nil {
				return nil
			}
			if len(data) > 0 {
				pos += int64(len(data))
				if send(stream.Append(data)) != nil {
					return nil // the client left
				}
				s.extend(w, streamKeepalive)
				quiet = time.Now()
			}
			if pos >= size || len(data) == 0 {
				break
			}
		}
		if cur.Status.Final() {
			if send(stream.End()) != nil {
				return nil
			}
			b, _ := json.Marshal(map[string]any{"status": cur.Status, "offset": pos})
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			_ = rc.Flush()
			return nil
		}
		s.jobLogs.states.put(j.ID, stream.State())
		if rc.Flush() != nil || !s.waitEvents(ctx, w, rc, wake, &quiet) {
			return nil
		}
	}
}

// statesPerJob bounds the States kept of one job: the tail window's, the live stream's and
// checkpoints every 4 MiB (a 100 MiB log has 25).
const statesPerJob = 32

// stateCache keeps logview States per job, for the jobs viewed last (least recently used
// dropped first). A State stays true as long as its job's log: logs only grow (retention
// empties a finished job's log, and then no State past its size is asked for), and job IDs
// are never reused.
type stateCache struct {
	max int
	// dir keeps the States of finished jobs' logs (save), one file a job, read when a job
	// is not in the cache (after a restart, or dropped from it).
	dir string

	mu   sync.Mutex // guards lru and jobs
	lru  *list.List // of *jobStates, the most recently used first
	jobs map[int64]*list.Element
}

// jobStates are the States kept of one job, by Offset.
type jobStates struct {
	job    int64
	states []logview.State
}

func newStateCache(max int, dir string) *stateCache {
	return &stateCache{max: max, dir: dir, lru: list.New(), jobs: map[int64]*list.Element{}}
}

// file is where the States of a job are saved.
func (c *stateCache) file(job int64) string {
	return filepath.Join(c.dir, strconv.FormatInt(job, 10)+".json")
}

// maxStatesFile bounds a saved States file read back (statesPerJob States of nested sections).
const maxStatesFile = 1 << 20

// save writes the job's States to its file (atomically: a reader sees the old file or the new).
func (c *stateCache) save(job int64) error {
	c.mu.Lock()
	var states []logview.State
	if e := c.jobs[job]; e != nil {
		states = slices.Clone(e.Value.(*jobStates).states)
	}
	c.mu.Unlock()
	if len(states) == 0 {
		return nil
	}
	data, err := json.Marshal(states)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".states-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.file(job))
}

// expire removes the saved States written before cutoff: their jobs' pipelines are past the
// retention period (and a State of a deleted log is never asked for anyway).
func (c *stateCache) expire(cutoff time.Time) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if info, err := de.Info(); err == nil && info.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(c.dir, de.Name()))
		}
	}
}

// load reads the job's saved States, if any, into the cache. A file that cannot be read is
// no State: the log is scanned instead.
func (c *stateCache) load(job int64) {
	f, err := os.Open(c.file(job))
	if err != nil {
		return
	}
	defer f.Close()
	var states []logview.State
	if err := json.NewDecoder(io.LimitReader(f, maxStatesFile)).Decode(&states); err != nil {
		return
	}
	for _, st := range states {
		if st.Offset <= 0 || st.Line <= 0 {
			return // not a State this server wrote
		}
	}
	for _, st := range states {
		c.put(job, st)
	}
}

// get is the kept State of the job with the greatest Offset at most at, or logview.Start.
func (c *stateCache) get(job, at int64) logview.State {
	c.mu.Lock()
	_, known := c.jobs[job]
	c.mu.Unlock()
	if !known {
		c.load(job)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.jobs[job]
	if e == nil {
		return logview.Start
	}
	c.lru.MoveToFront(e)
	js := e.Value.(*jobStates)
	i, _ := slices.BinarySearchFunc(js.states, at+1, func(s logview.State, off int64) int { return cmp.Compare(s.Offset, off) })
	if i == 0 {
		return logview.Start
	}
	return js.states[i-1]
}

// put keeps st (a State at a line start, or Mid where a window starts in a long line).
func (c *stateCache) put(job int64, st logview.State) {
	if st.Offset <= 0 {
		return // Start is always known
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.jobs[job]
	if e == nil {
		e = c.lru.PushFront(&jobStates{job: job})
		c.jobs[job] = e
		if c.lru.Len() > c.max {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.jobs, old.Value.(*jobStates).job)
		}
	}
	c.lru.MoveToFront(e)
	js := e.Value.(*jobStates)
	i, found := slices.BinarySearchFunc(js.states, st.Offset, func(s logview.State, off int64) int { return cmp.Compare(s.Offset, off) })
	if found {
		js.states[i] = st
		return
	}
	js.states = slices.Insert(js.states, i, st)
	if len(js.states) > statesPerJob {
		// Drop the earliest: the tail and the stream are what pages ask for most.
		js.states = slices.Delete(js.states, 0, 1)
	}
}
