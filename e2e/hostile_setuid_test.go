package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// probeSource is a program that prints its real and effective user IDs and, when it runs as
// root, writes the file its argument names.
const probeSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("uid %d euid %d\n", os.Getuid(), os.Geteuid())
	if len(os.Args) > 1 && os.Geteuid() == 0 {
		_ = os.WriteFile(os.Args[1], []byte("root, from a file a job made\n"), 0o644)
	}
}
`

// setuidFromDocker: a Docker job, root in its container, makes its own static program setuid
// root in its build dir and passes it on as artifacts and as a cache; shell jobs after it,
// run as an unprivileged user, execute it to become root on the host. They must find it theirs, without
// the setuid bit.
func setuidFromDocker(t *testing.T, s *server, image string) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"main.go": probeSource, "go.mod": "module probe\n\ngo 1.26\n"})
	build := exec.Command("go", "build", "-o", "probe", ".")
	build.Dir, build.Env = src, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	probe, err := os.ReadFile(filepath.Join(src, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHostPlace(t)
	ci := fmt.Sprintf(`stages: [plant, use]
variables:
  MARKERS: %s
plant:
  stage: plant
  image: %s
  script:
    - cp probe suid && mkdir -p d && cp probe d/suid && chmod 4755 suid d/suid && chmod 6755 d/suid
    - ls -ln suid d/suid
  cache:
    key: setuid
    paths: [suid, d/]
  artifacts:
    paths: [suid, d/]
use-artifacts:
  stage: use
  script:
    - ls -ln suid d/suid
    - ./suid "$MARKERS/setuid-artifacts"
    - ./d/suid "$MARKERS/setuid-artifacts-dir"
use-cache:
  stage: use
  dependencies: []
  cache:
    key: setuid
    paths: [suid, d/]
    policy: pull
  script:
    - ls -ln suid d/suid
    - ./suid "$MARKERS/setuid-cache"
    - ./d/suid "$MARKERS/setuid-cache-dir"
`, h.markers, image)
	dir, _ := repo(t, map[string]string{".gitlab-ci.yml": ci, "probe": string(probe)})
	id := s.project("evil/setuid", dir, "")
	p, logs := s.run(id, nil)
	if p.Status != "success" {
		t.Errorf("pipeline %s: %+v", p.Status, p.Jobs)
	}
	if !strings.Contains(logs["plant"], "-rwsr-xr-x") {
		t.Errorf("the Docker job did not make its program setuid:\n%s", logs["plant"])
	}
	ids := regexp.MustCompile(`\nuid (\d+) euid (\d+)\n`)
	for _, name := range []string{"use-artifacts", "use-cache"} {
		log := logs[name]
		runs := ids.FindAllStringSubmatch(log, -1)
		ok := strings.Contains(log, `"shell" executor`) && len(runs) == 2
		for _, r := range runs {
			ok = ok && r[1] == r[2] && r[1] != "0"
		}
		if !ok {
			t.Errorf("%s, in the shell as the job's own user, ran the Docker job's program as another user:\n%s", name, log)
		}
	}
	for name, m := range h.marks(t) {
		t.Errorf("a shell job became root through the Docker job's setuid program: %s: %q", name, m)
	}
}
