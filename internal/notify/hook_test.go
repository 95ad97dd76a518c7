package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// hookRequest is what the test receiver saw.
type hookRequest struct {
	method string
	header http.Header
	body   []byte
}

func hookReceiver(t *testing.T, status int) (*httptest.Server, func() []hookRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []hookRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, hookRequest{method: r.Method, header: r.Header.Clone(), body: b})
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, `{"error":"nope"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []hookRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]hookRequest(nil), reqs...)
	}
}

func TestHookSigned(t *testing.T) {
	t.Parallel()
	srv, got := hookReceiver(t, http.StatusNoContent)
	p := testPipeline()
	p.Image = "registry.example.com/grp/app:v1"
	if err := Hook(testCtx(t), srv.Client(), srv.URL+"/hooks/abc", "hook-secret", p); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.header.Get("X-Slipway-Event") != "pipeline" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("method %s, headers %v", r.method, r.header)
	}
	// Verify as a receiver would: recompute the HMAC of the raw body, compare in constant time.
	sig, ok := strings.CutPrefix(r.header.Get("X-Slipway-Signature-256"), "sha256=")
	want := hmac.New(sha256.New, []byte("hook-secret"))
	want.Write(r.body)
	if got, err := hex.DecodeString(sig); !ok || err != nil || !hmac.Equal(got, want.Sum(nil)) {
		t.Errorf("signature %q does not verify", r.header.Get("X-Slipway-Signature-256"))
	}

	var body struct {
		Event, Project, Status, Ref, SHA, URL, Image string
		PreviousStatus                               string  `json:"previous_status"`
		ID                                           int64   `json:"id"`
		IID                                          int64   `json:"iid"`
		DurationSeconds                              float64 `json:"duration_seconds"`
		Jobs                                         []struct {
			Name, Stage, Status, URL string
			FailureReason            string `json:"failure_reason"`
		}
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Event != "pipeline" || body.ID != 1042 || body.Project != "grp/app" || body.IID != 7 || body.Status != "failed" ||
		body.PreviousStatus != "success" || body.SHA != p.SHA || body.URL != p.URL || body.Image != p.Image ||
		body.DurationSeconds != p.Duration.Seconds() || len(body.Jobs) != 3 || body.Jobs[1].FailureReason != "script_failure" {
		t.Errorf("body %s", r.body)
	}
}

func TestHookUnsigned(t *testing.T) {
	t.Parallel()
	srv, got := hookReceiver(t, http.StatusOK)
	if err := Hook(testCtx(t), nil, srv.URL, "", testPipeline()); err != nil {
		t.Fatal(err)
	}
	if reqs := got(); len(reqs) != 1 || reqs[0].header.Get("X-Slipway-Signature-256") != "" {
		t.Fatalf("requests %+v, want one without a signature", reqs)
	}
}

func TestHookErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			srv, _ := hookReceiver(t, status)
			err := Hook(testCtx(t), srv.Client(), srv.URL+"/hooks/tok3n", "s", testPipeline())
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "tok3n") {
				t.Errorf("the error shows the URL's path: %v", err)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = Hook(testCtx(t), nil, "http://"+addr+"/hooks/tok3n?key=s3cret", "", testPipeline())
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), "tok3n") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the URL's path or query: %v", err)
		}
	})

	t.Run("bad URL", func(t *testing.T) {
		t.Parallel()
		for _, u := range []string{"", "/relative", "ftp://example.com/x", "http://%zz"} {
			if err := Hook(testCtx(t), nil, u, "", testPipeline()); err == nil {
				t.Errorf("%q: no error", u)
			}
		}
	})
}
