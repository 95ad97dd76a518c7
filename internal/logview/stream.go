package logview

// Stream renders a growing log for a live page: it is fed the log's bytes as they come and
// answers with Updates for the lines they complete. A line without its newline yet is held
// (at most MaxLine bytes) until it completes, so the page never gets a line twice or half.
// A Stream is not safe for concurrent use.
type Stream struct {
	m    machine
	held []byte
}

// Update is what a live page applies: Ops in order, after which it holds the log up to
// Offset. Send Offset as the SSE event id: a reconnect resumes there (the server makes a
// new Stream from the State at that offset), and the held bytes after it are sent again
// when their line completes. An Update without Ops needs no event: the bytes it passed
// (lines that show nothing) change nothing when a reconnect reads them again.
type Update struct {
	Offset int64 `json:"offset"`
	Ops    []Op  `json:"ops"`
}

// Stream starts a Stream at st, the State where the page's log ends (the State Render
// returned, or one Scan computed for a reconnect's offset).
func (r *Renderer) Stream(st State) *Stream {
	return &Stream{m: machine{r: r, st: st}}
}

// Append feeds data, the log's next bytes (after those fed before), and returns the Update
// for the lines it completed.
func (s *Stream) Append(data []byte) Update {
	s.held = append(s.held, data...)
	n := s.m.feed(s.held, false)
	s.held = append(s.held[:0], s.held[n:]...)
	return s.update()
}

// End renders the held unfinished line, if any: call it when the log has ended.
func (s *Stream) End() Update {
	s.m.feed(s.held, true)
	s.held = s.held[:0]
	return s.update()
}

// State is the State after the last line rendered.
func (s *Stream) State() State { return s.m.st }

func (s *Stream) update() Update {
	u := Update{Offset: s.m.st.Offset, Ops: s.m.ops}
	s.m.ops = nil
	return u
}
