package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/status"
)

// TestHooksInOrder checks that a pipeline's outgoing hooks arrive in the order of its
// changes, even when an earlier delivery is slow: a receiver that takes its time over the
// first one still sees pending, running, success.
func TestHooksInOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Status string `json:"status"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if body.Status == "pending" {
			time.Sleep(300 * time.Millisecond) // later changes are made meanwhile
		}
		mu.Lock()
		got = append(got, body.Status)
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)

	e := newEnv(t, "only:\n  script: echo hi\n")
	pid := e.project("hooked", "")
	e.api("PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"hooks": []string{receiver.URL}}, http.StatusOK, nil)
	p := e.trigger(pid, "main", nil)
	j := e.claim(e.mustRegister("r1"), "only")
	e.waitPipeline(p.ID, "running")
	e.finish(j, status.Success)

	want := []string{"pending", "running", "success"}
	eventually(t, 10*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(got, want), fmt.Sprintf("hooks got %v, want %v", got, want)
	})
}
