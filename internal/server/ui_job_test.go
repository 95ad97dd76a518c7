package server

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/artifact"
	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/jobapi"
	"github.com/slipway/slipway/internal/logview"
	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

// jobEnv is a server with a project slipway/app (private), a reporter signed in, and its
// pipeline's job "build" claimed by a runner.
type jobEnv struct {
	*env
	pid    int64
	cookie string // the reporter's session
	job    *jobapi.Job
	page   string // the job page's path
	reads  *atomic.Int64
}

// countingStore counts the log bytes read from the store.
type countingStore struct {
	store.Store
	n *atomic.Int64
}

func (c countingStore) ReadLog(ctx context.Context, jobID, offset int64, limit int) ([]byte, int64, error) {
	data, size, err := c.Store.ReadLog(ctx, jobID, offset, limit)
	c.n.Add(int64(len(data)))
	return data, size, err
}

const buildJob = "build:\n  image: alpine:3\n  services: [postgres:16]\n  script: [make]\n  allow_failure: true\n"

func newJobEnv(t *testing.T, ci string, opt ...func(*Options)) *jobEnv {
	t.Helper()
	reads := &atomic.Int64{}
	opt = append(opt, func(o *Options) { o.Store = countingStore{Store: o.Store, n: reads} })
	e := &jobEnv{env: newEnv(t, ci, opt...), reads: reads}
	e.pid = e.project("app", "")
	uid := e.user("rep", "password-rep", false)
	e.member(e.pid, uid, "reporter")
	e.cookie = e.login("rep", "password-rep")
	runner := e.mustRegister("runner-one")
	e.trigger(e.pid, "main", nil)
	e.job = e.claim(runner, "build")
	e.page = fmt.Sprintf("/slipway/app/-/jobs/%d", e.job.ID)
	return e
}

// get is a GET of the reporter.
func (e *jobEnv) get(path string) *reply {
	e.t.Helper()
	return e.getWithCookie(path, e.cookie)
}

// logOffset appends data to the job's log at its end (through the runner protocol).
func (e *jobEnv) log(data string) {
	e.t.Helper()
	size, err := e.srv.logSize(context.Background(), e.job.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if r := e.appendLog(e.job, size, data); r.status != http.StatusAccepted {
		e.t.Fatalf("append log: %s", r)
	}
}

var attrRE = regexp.MustCompile(`data-(start|offset|stream|earlier)="([^"]*)"`)

// logAttrs are the data attributes of the page's log element.
func logAttrs(t *testing.T, body []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, s := range attrRE.FindAllSubmatch(body, -1) {
		m[string(s[1])] = string(s[2])
	}
	if m["start"] == "" {
		t.Fatalf("no log element in %.2000s", body)
	}
	return m
}

func TestJobPage(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.log("\x1b[32mcompiling\x1b[0m\nline two\n<script>alert(1)</script><img src=x onerror=alert(2)>\n")
	r := e.get(e.page)
	if r.status != http.StatusOK {
		t.Fatalf("job page: %s", r)
	}
	body := string(r.body)
	for _, want := range []string{"build", "runner-one", "alpine:3", "<code>postgres:16</code>", "<dt>Stage</dt><dd>test</dd>", "Failure allowed", "compiling", `class="term-fg32"`, "line two",
		`id="L3"`, "/-/assets/log/log.js", "/-/assets/log/log.css", `data-live="` + e.page + `/events"`,
		`data-stream="` + e.page + `/log/events"`, `data-earlier="` + e.page + `/log"`} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if r.header.Get("Content-Security-Policy") == "" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", r.header)
	}
	a := logAttrs(t, r.body)
	if a["start"] != "0" || a["offset"] == "0" {
		t.Errorf("log attributes %v", a)
	}
}

func TestAttackJobPageHostileLogLine(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.log("<script>alert(1)</script>\n\"><img src=x onerror=alert(2)>\n")
	body := string(e.get(e.page).body)
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatalf("a log line was not escaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the line is not shown escaped")
	}
	// The live stream carries it escaped too (JSON of escaped HTML).
	ev := e.openEvents(e.page+"/log/events?offset=0", "")
	defer ev.close()
	got := ev.next(t, "log")
	if strings.Contains(got.data, "<script") || strings.Contains(got.data, `\u003cscript`) {
		t.Fatalf("stream sends the line unescaped: %s", got.data)
	}
}

func TestAttackJobPageNonMember(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.user("outsider", "password-out", false)
	out := e.login("outsider", "password-out")
	other := e.project("other", "")
	uid := e.user("otherrep", "password-oth", false)
	e.member(other, uid, "reporter")
	oc := e.login("otherrep", "password-oth")
	// Each answer is the 404 of a job that does not exist, in a project that does not exist
	// (for the non-member) or in the viewer's own project.
	for _, c := range []struct{ name, path, cookie, like string }{
		{"non-member", e.page, out, "/slipway/nope/-/jobs/1"},
		{"non-member raw", e.page + "/raw", out, "/slipway/nope/-/jobs/1/raw"},
		{"non-member stream", e.page + "/log/events", out, "/slipway/nope/-/jobs/1/log/events"},
		{"non-member earlier", e.page + "/log?before=10", out, "/slipway/nope/-/jobs/1/log?before=10"},
		{"non-member summary", e.page + "/events", out, "/slipway/nope/-/jobs/1/events"},
		{"job of another project", fmt.Sprintf("/slipway/other/-/jobs/%d", e.job.ID), oc, "/slipway/other/-/jobs/999999"},
		{"job of another project raw", fmt.Sprintf("/slipway/other/-/jobs/%d/raw", e.job.ID), oc, "/slipway/other/-/jobs/999999/raw"},
		{"job of another project earlier", fmt.Sprintf("/slipway/other/-/jobs/%d/log?before=10", e.job.ID), oc, "/slipway/other/-/jobs/999999/log?before=10"},
	} {
		r, like := e.getWithCookie(c.path, c.cookie), e.getWithCookie(c.like, c.cookie)
		if r.status != http.StatusNotFound || like.status != http.StatusNotFound {
			t.Errorf("%s: %d, and %d for %s", c.name, r.status, like.status, c.like)
		}
		if !sameErrorBody(r.body, like.body) {
			t.Errorf("%s: the 404 differs from that of %s:\n%s\n%s", c.name, c.like, r.body, like.body)
		}
	}
	r := e.getWithCookie(e.page, "")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
		t.Errorf("signed out: %d %v", r.status, r.header.Get("Location"))
	}
}

// sameErrorBody compares two error pages but for their CSRF tokens.
func sameErrorBody(a, b []byte) bool {
	strip := regexp.MustCompile(`name="csrf" value="[^"]*"`)
	return strip.ReplaceAllString(string(a), "") == strip.ReplaceAllString(string(b), "")
}

func TestJobRaw(t *testing.T) {
	e := newJobEnv(t, buildJob)
	log := "one\n\x1b[31mtwo\x1b[0m\n<b>three</b>"
	e.log(log)
	r := e.get(e.page + "/raw")
	if r.status != http.StatusOK || string(r.body) != log {
		t.Fatalf("raw: %s", r)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		r.header.Get("Content-Disposition") != "" {
		t.Errorf("raw headers %v", r.header)
	}
	r = e.get(e.page + "/raw?download=1")
	if r.status != http.StatusOK || string(r.body) != log ||
		r.header.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="job-%d.log"`, e.job.ID) {
		t.Errorf("download: %d %v", r.status, r.header)
	}
	req, _ := http.NewRequest("GET", e.url+e.page+"/raw", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.cookie})
	req.Header.Set("Range", "bytes=4-6")
	if r := e.raw(req); r.status != http.StatusPartialContent || string(r.body) != log[4:7] {
		t.Errorf("range: %s", r)
	}
}

// events reads a Server-Sent Events stream.
type events struct {
	resp   *http.Response
	cancel context.CancelFunc
	ch     chan event
}

type event struct{ id, name, data string }

func (e *jobEnv) openEvents(path, lastID string) *events {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.cookie})
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		e.t.Fatalf("events %s: %d %s", path, resp.StatusCode, b)
	}
	ev := &events{resp: resp, cancel: cancel, ch: make(chan event, 100)}
	go func() {
		defer close(ev.ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		var cur event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.name != "" {
					ev.ch <- cur
				}
				cur = event{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return ev
}

func (ev *events) close() { ev.cancel(); ev.resp.Body.Close() }

// next is the next event, which must be named name.
func (ev *events) next(t *testing.T, name string) event {
	t.Helper()
	select {
	case got, ok := <-ev.ch:
		if !ok {
			t.Fatalf("stream ended, want a %s event", name)
		}
		if got.name != name {
			t.Fatalf("got event %s %s, want %s", got.name, got.data, name)
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s event within 10 s", name)
	}
	return event{}
}

var lineRE = regexp.MustCompile(`msg-(\d+)`)

// linesOf are the numbers of the test lines ("msg-N") in s.
func linesOf(s string) []int {
	var out []int
	for _, m := range lineRE.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func TestJobLogStream(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.log("msg-1\nmsg-2\n")
	a := logAttrs(t, e.get(e.page).body)
	if a["offset"] != "12" {
		t.Fatalf("page log attributes %v", a)
	}
	ev := e.openEvents(a["stream"]+"?offset="+a["offset"], "")
	e.log("msg-3\nmsg-") // an unfinished line is held
	got := ev.next(t, "log")
	if linesOf(got.data)[0] != 3 || len(linesOf(got.data)) != 1 || got.id != "18" {
		t.Fatalf("first update: id %s %s", got.id, got.data)
	}
	e.log("4\nmsg-5\n")
	got = ev.next(t, "log")
	if fmt.Sprint(linesOf(got.data)) != "[4 5]" || got.id != "30" {
		t.Fatalf("second update: id %s %s", got.id, got.data)
	}
	ev.close()

	// A reconnect resumes from the last event's id: nothing is sent twice.
	e.log("msg-6\n")
	ev = e.openEvents(a["stream"], got.id)
	defer ev.close()
	got = ev.next(t, "log")
	if fmt.Sprint(linesOf(got.data)) != "[6]" {
		t.Fatalf("after reconnect: %s", got.data)
	}
	e.log("msg-7 unfinished")
	e.finish(e.job, status.Success)
	got = ev.next(t, "log") // the end renders the unfinished line
	if fmt.Sprint(linesOf(got.data)) != "[7]" {
		t.Fatalf("last line: %s", got.data)
	}
	end := ev.next(t, "end")
	if !strings.Contains(end.data, `"success"`) {
		t.Errorf("end event %s", end.data)
	}
	// A finished job's page has no stream.
	if a := logAttrs(t, e.get(e.page).body); a["stream"] != "" {
		t.Errorf("finished job's log streams: %v", a)
	}
}

func TestAttackJobLogStreamsLimited(t *testing.T) {
	e := newJobEnv(t, buildJob, func(o *Options) { o.Limits.LogStreams = 1 })
	ev := e.openEvents(e.page+"/log/events", "")
	defer ev.close()
	r := e.get(e.page + "/log/events")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %s", r)
	}
	if r := e.get(e.page + "/events"); r.status != http.StatusTooManyRequests {
		t.Fatalf("summary stream past the limit: %s", r)
	}
}

func TestJobSummaryEvents(t *testing.T) {
	e := newJobEnv(t, buildJob)
	ev := e.openEvents(e.page+"/events", "")
	defer ev.close()
	got := ev.next(t, "replace")
	if !strings.Contains(got.data, `"job-summary"`) || !strings.Contains(got.data, "running") {
		t.Fatalf("first summary %s", got.data)
	}
	e.finish(e.job, status.Failed)
	got = ev.next(t, "replace")
	if !strings.Contains(got.data, "script_failure") || strings.Contains(got.data, "data-live") {
		t.Fatalf("summary after the end %s", got.data)
	}
	ev.next(t, "end")
}

// bigLog appends about n bytes of numbered lines to the job's log, straight to the store,
// and returns the log's size and its lines.
func (e *jobEnv) bigLog(n int) (size int64, lines int) {
	e.t.Helper()
	var b strings.Builder
	i := 1
	for size < int64(n) {
		b.Reset()
		for b.Len() < 1<<20 {
			fmt.Fprintf(&b, "\x1b[36mmsg-%d\x1b[0m some output of the build, padded to look like a log line %08d\n", i, i)
			i++
		}
		var err error
		if size, err = e.srv.store.AppendLog(context.Background(), e.job.ID, size, []byte(b.String())); err != nil {
			e.t.Fatal(err)
		}
	}
	return size, i - 1
}

func TestJobPage50MBReadsTail(t *testing.T) {
	e := newJobEnv(t, buildJob)
	_, last := e.bigLog(50 << 20)
	for _, view := range []string{"cold", "warm", "after growth"} {
		if view == "after growth" {
			e.log("msg-0 grew\n")
		}
		e.reads.Store(0)
		r := e.get(e.page)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %s", view, r)
		}
		read := e.reads.Load()
		t.Logf("%s: page %d bytes, %d log bytes read from the store", view, len(r.body), read)
		if len(r.body) > 2<<20 {
			t.Errorf("%s: the page has %d bytes: more than the tail window", view, len(r.body))
		}
		if view != "cold" && read > 1<<20 {
			t.Errorf("%s: %d bytes of the log were read from the store for the first response", view, read)
		}
		lines := linesOf(string(r.body))
		if len(lines) < 100 || view != "after growth" && lines[len(lines)-1] != last {
			t.Errorf("%s: the window does not end with the log's last line", view)
		}
		// True line numbers: line N of the log is msg-N.
		if !regexp.MustCompile(fmt.Sprintf(`id="L%d"><a class="lv-n" href="#L%[1]d">%[1]d</a><span class="lv-c"><span class="term-fg36">msg-%[1]d<`, lines[0])).Match(r.body) {
			t.Errorf("%s: line numbers are not the log's", view)
		}
	}
}

// drop forgets the States of a job, as a restart does.
func (c *stateCache) drop(job int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.jobs[job]; e != nil {
		c.lru.Remove(e)
		delete(c.jobs, job)
	}
}

// TestFinishedJobLogWarmed: when a job with a long log finishes, the server scans its log
// once in the background and keeps the States on disk, so that the first view of its page,
// after a restart too, reads only the tail window from the store.
func TestFinishedJobLogWarmed(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.bigLog(warmFrom + 1<<20)
	e.finish(e.job, status.Success)
	file := e.srv.jobLogs.states.file(e.job.ID)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no States saved at %s after the job finished", file)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.srv.jobLogs.states.drop(e.job.ID) // as after a restart: only the saved States are left
	e.reads.Store(0)
	if r := e.get(e.page); r.status != http.StatusOK {
		t.Fatalf("job page: %s", r)
	}
	if read := e.reads.Load(); read > 1<<20 {
		t.Errorf("the first view after a restart read %d bytes of the log from the store", read)
	}
}

func TestJobLogEarlier(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.bigLog(1 << 20)
	e.finish(e.job, status.Success)
	r := e.get(e.page)
	a := logAttrs(t, r.body)
	seen := linesOf(string(r.body))
	start, _ := strconv.ParseInt(a["start"], 10, 64)
	for n := 0; start > 0; n++ {
		if n > 1<<20/pageWindow+2 {
			t.Fatal("load earlier does not reach the start")
		}
		er := e.get(fmt.Sprintf("%s?before=%d", a["earlier"], start))
		from, err := strconv.ParseInt(er.header.Get("X-Log-Start"), 10, 64)
		if er.status != http.StatusOK || err != nil || from >= start || start-from > pageWindow {
			t.Fatalf("before=%d: %d X-Log-Start %q", start, er.status, er.header.Get("X-Log-Start"))
		}
		seen = append(linesOf(string(er.body)), seen...)
		start = from
	}
	for i, n := range seen {
		if n != i+1 {
			t.Fatalf("the ranges and the tail hold line %d at %d: missing or twice", n, i+1)
		}
	}
	for _, bad := range []string{"", "x", "-5"} {
		if r := e.get(a["earlier"] + "?before=" + bad); r.status != http.StatusBadRequest {
			t.Errorf("before=%q: %s", bad, r)
		}
	}
}

func TestStateCache(t *testing.T) {
	t.Parallel()
	logviewState := func(off int64) logview.State { return logview.State{Offset: off, Line: off} }
	c := newStateCache(2, t.TempDir())
	c.put(1, logviewState(100))
	c.put(1, logviewState(50))
	c.put(1, logviewState(200))
	for _, tc := range []struct{ at, want int64 }{{0, 0}, {49, 0}, {50, 50}, {150, 100}, {1000, 200}} {
		if got := c.get(1, tc.at).Offset; got != tc.want {
			t.Errorf("get(%d) = %d, want %d", tc.at, got, tc.want)
		}
	}
	c.put(2, logviewState(10))
	c.put(3, logviewState(10)) // drops job 1, the least recently used
	if c.get(1, 1000).Offset != 0 || c.get(3, 1000).Offset != 10 {
		t.Errorf("LRU: %d %d", c.get(1, 1000).Offset, c.get(3, 1000).Offset)
	}
	for i := range statesPerJob + 5 {
		c.put(4, logviewState(int64(i+1)*10))
	}
	if c.get(4, 50).Offset != 0 || c.get(4, 1<<20).Offset != (statesPerJob+5)*10 {
		t.Errorf("per job bound: the earliest States are not the ones dropped")
	}
}

// TestStateCacheSaved: the States saved for a job are read back by a cache that does not
// hold the job (a restart), and a file this server did not write is no State at all.
func TestStateCacheSaved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newStateCache(4, dir)
	st := logview.State{Offset: 4 << 20, Line: 70000, Sections: []logview.Section{{Name: "step", Started: 1700000000}}}
	c.put(7, st)
	if err := c.save(7); err != nil {
		t.Fatal(err)
	}
	if got := newStateCache(4, dir).get(7, 5<<20); got.Offset != st.Offset || got.Line != st.Line || len(got.Sections) != 1 {
		t.Errorf("after a restart: %+v, want %+v", got, st)
	}
	for name, body := range map[string]string{
		"8.json":  `[{"Offset":-5,"Line":1}]`,  // not a State of a line start
		"9.json":  `not json`,                  // damaged
		"10.json": `[{"Offset":100,"Line":0}]`, // line numbers start at 1
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c = newStateCache(4, dir)
	for _, job := range []int64{8, 9, 10, 11} {
		if got := c.get(job, 1<<20); got.Offset != 0 || got.Line != 1 {
			t.Errorf("job %d: %+v, want the log's start", job, got)
		}
	}
}

// tarEntry is an entry of a test archive: a file with body, or a symbolic link to link.
type tarEntry struct{ name, body, link string }

func tarGz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadArchive uploads the job's artifacts archive with its token.
func (e *jobEnv) uploadArchive(archive []byte) {
	e.t.Helper()
	r := e.do("POST", fmt.Sprintf("/api/v1/jobs/%d/artifacts?kind=archive", e.job.ID), e.job.Token, archive,
		http.Header{"Content-Type": {"application/gzip"}})
	if r.status != http.StatusCreated {
		e.t.Fatalf("upload artifacts: %s", r)
	}
}

func TestJobArtifacts(t *testing.T) {
	e := newJobEnv(t, buildJob)
	if body := string(e.get(e.page).body); !strings.Contains(body, "No artifacts.") {
		t.Errorf("a job without artifacts does not say so")
	}
	archive := tarGz(t, tarEntry{name: "bin/app", body: "\x7fELF binary"}, tarEntry{name: "./report.html", body: "<html><script>alert(1)</script>"})
	e.uploadArchive(archive)
	body := string(e.get(e.page).body)
	for _, want := range []string{e.page + "/artifacts/download", e.page + "/artifacts/file/bin/app", e.page + "/artifacts/file/report.html"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	r := e.get(e.page + "/artifacts/file/report.html")
	if r.status != http.StatusOK || string(r.body) != "<html><script>alert(1)</script>" {
		t.Fatalf("file: %s", r)
	}
	if r.header.Get("Content-Type") != "application/octet-stream" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		r.header.Get("Content-Disposition") != "attachment; filename=report.html" {
		t.Errorf("file headers %v", r.header)
	}
	r = e.get(e.page + "/artifacts/download")
	if r.status != http.StatusOK || !bytes.Equal(r.body, archive) || r.header.Get("Content-Type") != "application/gzip" ||
		!strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("archive: %d %v", r.status, r.header)
	}
	if r := e.get(e.page + "/artifacts/file/bin"); r.status != http.StatusNotFound {
		t.Errorf("a directory: %s", r)
	}
}

func TestAttackArtifactPathTraversal(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.uploadArchive(tarGz(t,
		tarEntry{name: "ok.txt", body: "ok"},
		tarEntry{name: "../escape.txt", body: "escaped"},
		tarEntry{name: "/abs.txt", body: "absolute"},
		tarEntry{name: "dir/../../up.txt", body: "up"},
		tarEntry{name: "link", link: "/etc/passwd"},
		tarEntry{name: "dir/rel-link", link: "../../../../etc/passwd"},
	))
	body := string(e.get(e.page).body)
	for _, bad := range []string{"escape.txt", "abs.txt", "up.txt", "/file/link", "rel-link"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page lists %s", bad)
		}
	}
	for _, p := range []string{"..%2Fescape.txt", "%2E%2E/escape.txt", "%2Fabs.txt", "/abs.txt", "dir%2F..%2F..%2Fup.txt",
		"link", "dir/rel-link", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "ok.txt%00", "./ok.txt"} {
		req, _ := http.NewRequest("GET", e.url+e.page+"/artifacts/file/"+p, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.cookie})
		r := e.raw(req)
		if r.status == http.StatusOK || strings.Contains(string(r.body), "root:") || strings.Contains(string(r.body), "escaped") {
			t.Errorf("%s: %d %.200s", p, r.status, r.body)
		}
	}
	if r := e.get(e.page + "/artifacts/file/ok.txt"); r.status != http.StatusOK || string(r.body) != "ok" {
		t.Errorf("ok.txt: %s", r)
	}
}

func TestAttackArtifactEntryFlood(t *testing.T) {
	e := newJobEnv(t, buildJob, func(o *Options) { o.Limits.ArtifactEntries = 10 })
	var entries []tarEntry
	for i := range 50 {
		entries = append(entries, tarEntry{name: fmt.Sprintf("f%02d.txt", i), body: "x"})
	}
	e.uploadArchive(tarGz(t, entries...))
	body := string(e.get(e.page).body)
	if strings.Count(body, "/artifacts/file/") != 10 || !strings.Contains(body, "more files than are listed") {
		t.Errorf("the listing of 50 entries with a limit of 10: %d links", strings.Count(body, "/artifacts/file/"))
	}
	if r := e.get(e.page + "/artifacts/file/f40.txt"); r.status != http.StatusNotFound {
		t.Errorf("an entry past the limit: %s", r)
	}
	if r := e.get(e.page + "/artifacts/file/f05.txt"); r.status != http.StatusOK {
		t.Errorf("an entry within the limit: %s", r)
	}
}

func TestJobArtifactsExpired(t *testing.T) {
	e := newJobEnv(t, buildJob)
	e.uploadArchive(tarGz(t, tarEntry{name: "a.txt", body: "a"}))
	arts, err := e.srv.store.ListArtifacts(context.Background(), e.job.ID)
	if err != nil || len(arts) != 1 {
		t.Fatal(arts, err)
	}
	arts[0].ExpireAt = time.Now().Add(-time.Hour)
	if err := e.srv.store.AddArtifact(context.Background(), arts[0]); err != nil {
		t.Fatal(err)
	}
	if body := string(e.get(e.page).body); !strings.Contains(body, "The artifacts expired") || strings.Contains(body, "a.txt") {
		t.Errorf("expired artifacts are not said to be")
	}
	for _, p := range []string{"/artifacts/download", "/artifacts/file/a.txt"} {
		if r := e.get(e.page + p); r.status != http.StatusGone {
			t.Errorf("%s: %s", p, r)
		}
	}
}

func TestAttackReasonLeaksNoVariableValue(t *testing.T) {
	ci := "variables:\n  FROM_YAML: yaml-value\n  EXPANDS: \"x-$TOKEN\"\n" +
		"build:\n  script: [make]\n  rules:\n    - if: $TOKEN == \"nope\"\n      when: never\n" +
		"    - if: $FROM_YAML == \"yaml-value\" && $CI_COMMIT_BRANCH == \"main\" && $PLAIN != \"x\" && $EXPANDS != \"\" && $UNSET == null && $TOKEN != \"nope\"\n"
	e := newEnv(t, ci)
	pid := e.project("app", "")
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/TOKEN", pid), map[string]any{"value": "s3cr3t-t0ken-value", "masked": true}, http.StatusNoContent, nil)
	e.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/PLAIN", pid), map[string]any{"value": "plain-project-value"}, http.StatusNoContent, nil)
	uid := e.user("rep", "password-rep", false)
	e.member(pid, uid, "reporter")
	cookie := e.login("rep", "password-rep")
	pl := e.pipeline(e.trigger(pid, "main", nil).ID)
	if len(pl.Jobs) != 1 {
		t.Fatalf("pipeline %+v", pl)
	}
	r := e.getWithCookie(fmt.Sprintf("/slipway/app/-/jobs/%d", pl.Jobs[0].ID), cookie)
	if r.status != http.StatusOK {
		t.Fatalf("job page: %s", r)
	}
	body := string(r.body)
	for _, want := range []string{"rules[1] matched", "<code>rules[1]</code> at <code>.gitlab-ci.yml:9:7</code>",
		"<code>FROM_YAML</code></td><td><code>yaml-value</code>", "<code>CI_COMMIT_BRANCH</code></td><td><code>main</code>",
		"<code>TOKEN</code></td><td><span class=\"masked\">masked</span>", "<code>PLAIN</code></td><td><span class=\"masked\">masked</span>",
		"<code>EXPANDS</code></td><td><span class=\"masked\">masked</span>", "<code>UNSET</code></td><td><span class=\"muted\">undefined</span>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the reason lacks %s", want)
		}
	}
	j, err := e.srv.store.Job(context.Background(), pl.Jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cr3t-t0ken-value", "plain-project-value"} {
		if strings.Contains(body, secret) || strings.Contains(string(j.Spec[bytes.Index(j.Spec, []byte(`"reason"`)):]), secret) {
			t.Errorf("the value %s is shown or stored with the reason", secret)
		}
	}
}

// TestJUnitRoundTrip: a real runner reads a job's reports:junit file and sends its summary
// with the job's end; the server keeps it and the job page shows it, the failure message
// escaped.
func TestJUnitRoundTrip(t *testing.T) {
	t.Parallel()
	ci := `build:
  script:
    - |
      cat > report.xml <<'XML'
      <testsuite name="api">
        <testcase classname="api.T" name="ok"/>
        <testcase classname="api.T" name="bad"><failure message="want 1, got &lt;script&gt;alert(1)&lt;/script&gt;">trace</failure></testcase>
        <testcase classname="api.T" name="later"><skipped/></testcase>
      </testsuite>
      XML
  artifacts:
    reports:
      junit: report.xml
`
	e := newEnv(t, ci)
	id := e.project("app", "")
	p := e.trigger(id, "main", nil)
	var reg jobapi.RegisterResponse
	e.api("POST", "/api/v1/runners", jobapi.RegisterRequest{Version: jobapi.Version, Token: regToken, Name: "real"}, http.StatusCreated, &reg)
	sh, err := shell.New(shell.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runner.Run(context.Background(), runner.Options{
			Config: &runner.Config{URL: e.url, ID: reg.ID, Token: reg.Token, RunUntagged: true,
				BuildsDir: t.TempDir(), CacheDir: t.TempDir()},
			Executors: func(string) (executor.Executor, error) { return sh, nil },
			Stop:      stop, Wait: time.Second,
		})
	}()
	e.waitPipeline(p.ID, status.Success)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	job := e.pipeline(p.ID).job("build")
	stored, err := e.srv.store.Job(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got jobapi.JUnit
	if err := json.Unmarshal(stored.JUnit, &got); err != nil {
		t.Fatalf("stored JUnit %q: %v", stored.JUnit, err)
	}
	want := jobapi.JUnit{Tests: 3, Failures: 1, Skipped: 1,
		Failed: []jobapi.TestFailure{{Name: "api.bad", Class: "api.T", Message: "want 1, got <script>alert(1)</script>"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
	e.member(id, e.user("rep", "password-rep", false), "reporter")
	cookie := e.login("rep", "password-rep")
	r := e.getWithCookie(fmt.Sprintf("/slipway/app/-/jobs/%d", job.ID), cookie)
	body := string(r.body)
	for _, want := range []string{"3 tests:", "1 failed, 0 errors", "1 skipped", "<strong>api.bad</strong>",
		"<pre>want 1, got &lt;script&gt;alert(1)&lt;/script&gt;</pre>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("the failure message is not escaped")
	}
}

// TestAttackJUnitFromRunnerBounded: a runner sending a JUnit summary with many long failures
// gets them cut to what the page shows.
func TestAttackJUnitFromRunnerBounded(t *testing.T) {
	e := newJobEnv(t, buildJob)
	u := jobapi.Update{State: status.Success, JUnit: &jobapi.JUnit{Tests: 500, Failures: 500}}
	for i := range 60 { // within the 1 MiB of an update's body
		long := "<x>" + strings.Repeat("a", artifact.MaxFailureMessage)
		u.JUnit.Failed = append(u.JUnit.Failed, jobapi.TestFailure{Name: fmt.Sprint(i) + long, Class: long, Message: long})
	}
	if r := e.update(e.job, u); r.status != http.StatusOK {
		t.Fatalf("final update: %s", r)
	}
	j, err := e.srv.store.Job(context.Background(), e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got jobapi.JUnit
	if err := json.Unmarshal(j.JUnit, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Failed) != artifact.MaxFailed || got.Tests != 500 {
		t.Fatalf("kept %d failures of %d tests", len(got.Failed), got.Tests)
	}
	for _, f := range got.Failed {
		if len(f.Name) > artifact.MaxFailureName || len(f.Class) > artifact.MaxFailureName || len(f.Message) > artifact.MaxFailureMessage {
			t.Fatalf("a failure kept %d, %d and %d bytes", len(f.Name), len(f.Class), len(f.Message))
		}
	}
	if body := string(e.get(e.page).body); strings.Contains(body, "<x>") || len(body) > 200<<10 {
		t.Errorf("the page has %d bytes, or the messages unescaped", len(body))
	}
}
