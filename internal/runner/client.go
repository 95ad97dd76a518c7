package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/jobapi"
)

// StatusError is an HTTP answer the runner did not expect.
type StatusError struct {
	Code int
	// Msg is the start of the answer's body.
	Msg string
}

func (e *StatusError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("server answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// statusError reads (the start of) resp's body into a *StatusError.
func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &StatusError{Code: resp.StatusCode, Msg: strings.TrimSpace(string(b))}
}

// errLeaseLost is a 403 on a job call: the server gave the job away or failed it.
var errLeaseLost = errors.New("job lease lost")

// retryable reports whether a failed call may be tried again: network errors, 5xx answers,
// 429 and 408, and 401: a server whose store is down has answered "invalid token" for tokens
// that are valid, so for a job the runner is running only a 403 (errLeaseLost) is final.
// Errors of a canceled call are not retryable.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, errLeaseLost) || errors.Is(err, errArchiveRefused) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
			return true
		}
		return se.Code >= 500
	}
	return true
}

// client makes the runner's calls to the server.
type client struct {
	base string
	hc   *http.Client
}

// do sends a request with a bearer token; body may be nil. The caller closes the answer's
// body. Only transport errors are errors here.
func (c *client) do(ctx context.Context, method, path, token string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return c.hc.Do(req)
}

// logSize reads the X-Log-Size header of an answer.
func logSize(resp *http.Response) (int64, bool) {
	n, err := strconv.ParseInt(resp.Header.Get(jobapi.HeaderLogSize), 10, 64)
	return n, err == nil && n >= 0
}

// backoff is a bounded exponential backoff with jitter.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay: doubling from min up to max, each drawn in [d/2, d].
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// wait sleeps for the next delay or until ctx ends; it reports whether ctx is still live.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func newBackoff() *backoff { return &backoff{min: 100 * time.Millisecond, max: 5 * time.Second} }
