package server

import (
	"io"
	"net/http"
	"time"
)

// Connections are held to Limits: the http.Server's timeouts bound how long a client may
// take to send a request and to read the answer, and how long an idle connection stays
// open; a listener bounds how many are open. What takes longer for good reasons — a long
// poll, a log stream, a large upload or download — belongs to a caller that authenticated,
// and its handler moves the deadlines forward while it waits or while bytes flow.

// extend moves the connection's read and write deadlines to d plus WriteTimeout from now:
// for a handler about to wait up to d (a long poll), or streaming for as long as it keeps
// doing so (a log stream). Where the writer has no connection (tests), it does nothing.
func (s *Server) extend(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	t := time.Now().Add(d + s.o.Limits.WriteTimeout)
	_ = rc.SetReadDeadline(t)
	_ = rc.SetWriteDeadline(t)
}

// progress makes each read of r's body and each write of the answer move the connection's
// read deadline ReadTimeout ahead and its write deadline WriteTimeout ahead: a transfer ends
// when it stalls, not because it is long. (Both move either way: an upload is answered once
// read, and the server watches the connection for the client going away while it answers.)
func (s *Server) progress(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	m := &mover{rc: http.NewResponseController(w), read: s.o.Limits.ReadTimeout, write: s.o.Limits.WriteTimeout}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &progressBody{ReadCloser: r.Body, m: m}
	}
	return &progressWriter{ResponseWriter: w, m: m}, r
}

// progressHandler applies progress to every request of h.
func (s *Server) progressHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r = s.progress(w, r)
		h.ServeHTTP(w, r)
	})
}

// mover moves a connection's deadlines.
type mover struct {
	rc          *http.ResponseController
	read, write time.Duration
}

func (m *mover) touch() {
	now := time.Now()
	_ = m.rc.SetReadDeadline(now.Add(m.read))
	_ = m.rc.SetWriteDeadline(now.Add(m.write))
}

// progressWriter moves the deadlines before each write.
type progressWriter struct {
	http.ResponseWriter
	m *mover
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.m.touch()
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController find the connection's writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// progressBody moves the deadlines before each read.
type progressBody struct {
	io.ReadCloser
	m *mover
}

func (p *progressBody) Read(b []byte) (int, error) {
	p.m.touch()
	return p.ReadCloser.Read(b)
}
