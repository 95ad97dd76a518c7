package local

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// TestComposePipeline runs the pipeline of Slipway's founding story: a job that builds and runs
// an app with docker-compose against the host's engine, migrates and tests it, then tears it
// down. The job runs in the shell executor (the test images have no docker-compose); the
// compose services are real containers built FROM the busybox test image.
func TestComposePipeline(t *testing.T) {
	cli := testenv.RequireDocker(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if testenv.Required() {
			t.Fatal("docker-compose is not installed (Debian's docker-compose package)")
		}
		t.Skip("docker-compose is not installed")
	}
	base := testenv.BusyboxImage(t, cli)
	project := "slipwaycompose" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", ""))
	dir := repo(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nCOPY app.sh /app.sh\n",
		"app.sh":     "#!/bin/sh\necho \"app: $1 against $DATABASE_HOST\"\ntest \"$1\" != fail\n",
		"docker-compose.yml": `version: "3"
services:
  db:
    image: ` + base + `
    command: ["sh", "-c", "while true; do sleep 1; done"]
    init: true
  web:
    build: .
    depends_on: [db]
    environment:
      DATABASE_HOST: db
`,
		".gitlab-ci.yml": `stages: [test, deploy]
test:
  stage: test
  script:
    - docker-compose -p ` + project + ` build
    - docker-compose -p ` + project + ` run --rm web sh /app.sh db:migrate
    - docker-compose -p ` + project + ` run --rm web sh /app.sh rspec
  after_script:
    - docker-compose -p ` + project + ` down -t 1 --rmi local
`,
	})
	sum, out := runPipeline(t, dir, nil)
	if sum.Status != status.Success {
		t.Fatalf("pipeline %s\n%s", sum.Status, out)
	}
	for _, want := range []string{"app: db:migrate against db", "app: rspec against db"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
