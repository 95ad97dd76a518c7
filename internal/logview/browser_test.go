package logview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/slipway/slipway/internal/testenv"
)

// TestBrowserLogMatchesRender runs log.js in headless Chromium under the page's strict CSP:
// a page holding the tail window of a log (up to 80% of it) streams the rest over SSE,
// then loads every earlier range. The log it ends with must be the whole log's Render (but
// for which sections are open: sections the reader was inside stay open), with no CSP
// violation; a search finds and marks, and clearing it leaves no mark.
func TestBrowserLogMatchesRender(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("no chromium: %v", err)
		}
		t.Skipf("no chromium: %v", err)
	}
	r := newRenderer(t, Options{Window: 8192})
	log := genLog(rand.New(rand.NewPCG(1, 2)), 120000)
	log = append(log, "\x1b[0Ksection_start:1700009999:final\r\x1b[0KFinal\nlast line\n"...)
	whole, _ := r.Render(Start, log, true)
	cut := int64(len(log) * 8 / 10)
	script, err := os.ReadFile("testdata/browser.js")
	if err != nil {
		t.Fatal(err)
	}
	// window renders the range before end as a page does: the tail for its first response,
	// an earlier range for "load earlier".
	window := func(end int64, final bool) (string, State, State) {
		from := r.WindowBefore(end)
		data := log[from:end]
		i := Align(data, from)
		st, err := r.Scan(Start, bytes.NewReader(log[:from+int64(i)]))
		if err != nil {
			t.Error(err)
		}
		h, after := r.Render(st, data[i:], final)
		return string(h), st, after
	}
	mux := http.NewServeMux()
	mux.Handle("GET /a/", http.StripPrefix("/a/", http.FileServerFS(Assets)))
	mux.HandleFunc("GET /test.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(script)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		h, st, end := window(cut, false)
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:")
		fmt.Fprintf(w, `<!doctype html><html><head><title>loading</title><link rel="stylesheet" href="/a/log.css">`+
			`<script src="/test.js" defer></script><script src="/a/log.js" defer></script></head><body>`+
			`<div class="lv-log" data-stream="/stream" data-offset="%d" data-earlier="/earlier" data-start="%d">%s</div></body></html>`,
			end.Offset, st.Offset, h)
	})
	mux.HandleFunc("GET /earlier", func(w http.ResponseWriter, q *http.Request) {
		before, _ := strconv.ParseInt(q.URL.Query().Get("before"), 10, 64)
		h, st, _ := window(min(before, int64(len(log))), true)
		w.Header().Set("X-Log-Start", strconv.FormatInt(st.Offset, 10))
		w.Write([]byte(h))
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, q *http.Request) {
		off, _ := strconv.ParseInt(q.URL.Query().Get("offset"), 10, 64)
		st, err := r.Scan(Start, bytes.NewReader(log[:min(off, int64(len(log)))]))
		if err != nil {
			t.Error(err)
		}
		s := r.Stream(st)
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(u Update) {
			if len(u.Ops) > 0 {
				b, _ := json.Marshal(u)
				fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", u.Offset, b)
				w.(http.Flusher).Flush()
			}
		}
		for p := log[st.Offset:]; len(p) > 0; p = p[min(len(p), 333):] {
			send(s.Append(p[:min(len(p), 333)]))
		}
		send(s.End())
		fmt.Fprintf(w, "event: end\ndata: {\"status\":\"success\"}\n\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=60000", "--dump-dom", srv.URL+"/")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.Bytes())
	}
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var title, got string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.DataAtom == atom.Title && n.FirstChild != nil {
			title = n.FirstChild.Data
		}
		if n.DataAtom == atom.Div && strings.Contains(attr(n, "class"), "lv-log") {
			got = normal(t, n)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	m := regexp.MustCompile(`^done clicks=(\d+) hits=(\d+) cur=1 left=0 violations=$`).FindStringSubmatch(title)
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Fatalf("page reports %q", title)
	}
	ctxNode := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(string(whole)), ctxNode)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		ctxNode.AppendChild(n)
	}
	if want := normal(t, ctxNode); got != want {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the page's log differs from Render at byte %d:\npage:   %.300s\nrender: %.300s", i, got[max(0, i-100):], want[max(0, i-100):])
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// normal is the HTML of n's children with the open attributes of sections removed.
func normal(t *testing.T, n *html.Node) string {
	var b strings.Builder
	var strip func(n *html.Node)
	strip = func(n *html.Node) {
		if n.DataAtom == atom.Details {
			attrs := n.Attr[:0]
			for _, a := range n.Attr {
				if a.Key != "open" {
					attrs = append(attrs, a)
				}
			}
			n.Attr = attrs
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			strip(c)
		}
	}
	strip(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if err := html.Render(&b, c); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
