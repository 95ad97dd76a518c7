package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/internal/testenv"
)

const threeStages = `stages: [build, test, deploy]
build:
  stage: build
  script:
    - echo "building $CI_COMMIT_SHORT_SHA"
    - mkdir -p out && echo "artifact from build" > out/result.txt
  artifacts:
    paths: [out/]
test:
  stage: test
  script:
    - cat out/result.txt
    - test "$(cat out/result.txt)" = "artifact from build"
deploy:
  stage: deploy
  script:
    - echo "deploying pipeline $CI_PIPELINE_ID from $CI_PIPELINE_SOURCE"
`

// TestWebhookToPipeline is the whole path: a signed GitHub push webhook to a server, a
// separate runner process, a 3-stage pipeline passing an artifact; statuses, logs and
// artifacts read back through the API. It runs on SQLite and on Postgres.
func TestWebhookToPipeline(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dsn := ""
			if db == "postgres" {
				dsn = testenv.PostgresSchema(t)
			}
			s := newServer(t, dsn)
			dir, sha := repo(t, map[string]string{".gitlab-ci.yml": threeStages})
			id := s.project("acme/app", dir, "webhook-secret")
			s.runner(t)()

			code, body := s.githubPush(id, "webhook-secret", "delivery-1", sha)
			if code != http.StatusCreated {
				t.Fatalf("webhook: %d %s", code, body)
			}
			var list []pipelineView
			s.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), nil, &list)
			if len(list) != 1 || list[0].SHA != sha || list[0].Ref != "main" || list[0].Source != "push" {
				t.Fatalf("pipelines = %+v", list)
			}
			p := s.wait(list[0].ID, 2*time.Minute, func(p pipelineView) bool { return final(p.Status) })
			if p.Status != "success" || len(p.Jobs) != 3 {
				t.Fatalf("pipeline ended %s with jobs %+v", p.Status, p.Jobs)
			}
			logs := map[string]string{}
			for _, j := range p.Jobs {
				if j.Status != "success" {
					t.Errorf("job %s: %s", j.Name, j.Status)
				}
				logs[j.Name] = string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)))
			}
			if !strings.Contains(logs["build"], "building "+sha[:8]) {
				t.Errorf("build log lacks the short sha:\n%s", logs["build"])
			}
			if !strings.Contains(logs["test"], "artifact from build") {
				t.Errorf("test log lacks the artifact's content:\n%s", logs["test"])
			}
			if !strings.Contains(logs["deploy"], fmt.Sprintf("deploying pipeline %d from push", p.ID)) {
				t.Errorf("deploy log:\n%s", logs["deploy"])
			}
			files := untar(t, s.raw(fmt.Sprintf("/api/v1/jobs/%d/artifacts", p.Jobs[0].ID)))
			if files["out/result.txt"] != "artifact from build\n" {
				t.Errorf("artifacts of build: %v", files)
			}
			// A redelivery of the same webhook makes no second pipeline.
			if code, body := s.githubPush(id, "webhook-secret", "delivery-1", sha); code != http.StatusOK {
				t.Errorf("redelivery: %d %s", code, body)
			}
			s.api("GET", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), nil, &list)
			if len(list) != 1 {
				t.Errorf("after a redelivery: %d pipelines", len(list))
			}
		})
	}
}

// untar reads a tar.gz into a map of file name → content.
func untar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("artifacts are not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read artifacts: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
}
