package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
)

// shortTimeouts are Limits whose connection timeouts pass within a test.
func shortTimeouts(o *Options) {
	o.Limits.ReadHeaderTimeout = 300 * time.Millisecond
	o.Limits.ReadTimeout = 600 * time.Millisecond
	o.Limits.WriteTimeout = 600 * time.Millisecond
	o.Limits.IdleTimeout = 400 * time.Millisecond
}

// serve runs e's server with Serve (its timeouts and connection cap) on a listener of its
// own and returns its address.
func (e *env) serve() string {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, l) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			e.t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// closedWithin reports whether the server closes c within d (reading and dropping what it
// sends, an error answer say).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout()) // EOF or reset: closed
}

// TestAttackSlowloris: 200 connections that send their headers a byte at a time, send
// nothing, or send a body a byte at a time, do not stop a normal request from being answered
// promptly, and the server closes every one of them once its timeout passed (a slow body was
// held for ever).
func TestAttackSlowloris(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [\"true\"]\n", shortTimeouts)
	id := e.project("app", "secret")
	addr := e.serve()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		return c
	}
	// A third idle, a third dripping headers, a third dripping a webhook's body.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	drip := func(c net.Conn, text string) {
		wg.Go(func() {
			for i := range len(text) {
				if _, err := c.Write([]byte{text[i]}); err != nil {
					return // closed by the server
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	kinds := map[net.Conn]string{}
	for i := range 200 {
		c := dial()
		switch i % 3 {
		case 0:
			kinds[c] = "idle"
		case 1:
			kinds[c] = "headers a byte at a time"
			drip(c, "GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+"\r\nX-Slow: "+strings.Repeat("z", 400)+"\r\n\r\n")
		case 2:
			kinds[c] = "a body a byte at a time"
			body := strings.Repeat("x", 10000)
			if _, err := fmt.Fprintf(c, "POST /hooks/github/%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", id, len(body)); err != nil {
				t.Fatal(err)
			}
			drip(c, body)
		}
	}

	// A normal request is answered at once.
	start := time.Now()
	hc := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/projects", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("a normal request among the slow ones: %v", err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusOK || took > 2*time.Second {
		t.Errorf("a normal request among the slow ones: %s after %v", resp.Status, took)
	}

	// Every slow connection is closed once its timeout passed (ReadTimeout for the body,
	// the longest), with room for a loaded machine.
	deadline := time.Now().Add(5 * time.Second)
	open := map[string]int{}
	var mu sync.Mutex
	var check sync.WaitGroup
	for _, c := range conns {
		check.Go(func() {
			if !closedWithin(c, time.Until(deadline)) {
				mu.Lock()
				open[kinds[c]]++
				mu.Unlock()
			}
		})
	}
	check.Wait()
	if len(open) > 0 {
		t.Errorf("connections still open 5 s after their timeouts: %v", open)
	}
}

// TestIdleKeepAliveClosed: a connection left idle after a request is closed after
// IdleTimeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [\"true\"]\n", shortTimeouts)
	addr := e.serve()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if !closedWithin(c, 5*time.Second) {
		t.Error("an idle keep-alive connection stayed open")
	}
}

// TestConnectionCap: past Limits.Connections, connections wait to be accepted until others
// close.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [\"true\"]\n", shortTimeouts, func(o *Options) {
		o.Limits.Connections = 4
		o.Limits.ReadHeaderTimeout = time.Second
	})
	addr := e.serve()
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET") // holds its slot until ReadHeaderTimeout
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("answered after %v with 4 of 4 connections taken: the cap did not hold", took)
	}
}

// TestTimeoutsSpareStreams: a long poll, a log stream and an upload that last longer than
// the connection timeouts, but wait or move bytes as they should, are not cut.
func TestTimeoutsSpareStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "build:\n  script: [\"true\"]\n", shortTimeouts)
	id := e.project("app", "")
	addr := e.serve()
	base := "http://" + addr
	hc := &http.Client{Timeout: 20 * time.Second}
	runnerToken := e.mustRegister("r1")

	// A long poll of 1.5 s with no job: 204 at its end.
	start := time.Now()
	r := sendTo(t, hc, base, "POST", jobapi.PathRequest, runnerToken, strings.NewReader(`{"version":1,"key":"k1","wait_seconds":1.5}`))
	if r.status != http.StatusNoContent || time.Since(start) < 1400*time.Millisecond {
		t.Fatalf("long poll: %s after %v, want 204 after 1.5 s", r, time.Since(start))
	}

	e.trigger(id, "main", nil)
	j := e.claim(runnerToken, "build")

	// A log stream open for 2 s, fed at its end.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/log/stream", base, j.ID), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stream := &sseStream{t: t, body: resp.Body, br: bufio.NewReader(resp.Body), cancel: cancel}
	// Idle past every timeout: what is tested, not a wait for something to happen.
	time.Sleep(2 * time.Second)
	e.appendLog(j, 0, "late line\n")
	stream.want("log", "10", logData{Offset: 0, Text: "late line\n"})

	// An artifact upload that takes 2 s, a piece every 200 ms.
	pr, pw := io.Pipe()
	go func() {
		for range 10 {
			time.Sleep(200 * time.Millisecond)
			if _, err := pw.Write([]byte(strings.Repeat("a", 1000))); err != nil {
				return
			}
		}
		pw.Close()
	}()
	r = sendTo(t, hc, base, "POST", jobapi.PathArtifacts(j.ID)+"?kind=junit", j.Token, pr)
	if r.status != http.StatusCreated {
		t.Fatalf("slow upload: %s", r)
	}
}

// sendTo makes a request with a body and a bearer token to base.
func sendTo(t *testing.T, hc *http.Client, base, method, path, token string, body io.Reader) *reply {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: data}
}
