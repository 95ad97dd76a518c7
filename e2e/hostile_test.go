package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slipway/slipway/internal/runner"
	"github.com/slipway/slipway/internal/testenv"
)

// The hostile-pipeline suite of issue 9: pipelines written by someone who can push a commit,
// run by `slipway server` with its built-in runner on the shell, with its built-in runner in
// its default mode where Docker answers (Docker for jobs with image:, the shell for the
// others), and with a separate `slipway runner` on Docker. Every attack fails safely, and a
// normal pipeline still works. The attacks on the API (hostile_api_test.go) run once.

// canary is a variable of the server's and runner's environment that is no secret of theirs:
// it shows whether a job got their environment at all (a file read on the host, such as
// /proc/self/environ, would hold it).
const canary = "SLIPWAY_E2E_CANARY=canary-5d1e0c7f-of-the-host"

// hostileSetup is a server (and runner) to run the hostile pipelines against.
type hostileSetup struct {
	s *server
	// spy are files of the server or runner that jobs try to read (the data dir's database,
	// a runner's configuration).
	spy []string
	// secrets are what no job's log, variable or artifact may hold.
	secrets []string
	// images are the variants the job-level attacks run as: "" without image:, else with
	// image: that image.
	images []string
	// docker says that jobs without image: run on Docker too (a docker runner's default
	// image).
	docker bool
	// service is an image serving testenv.HTTPDBody, for the normal pipeline's service job;
	// "" leaves that job out (no Docker). image is the busybox image.
	service, image string
	// auto says that jobs with image: run on Docker and the others in the shell, as another
	// user: a Docker job's files then reach shell jobs.
	auto bool
}

// TestAttackHostilePipelines runs the job-level attacks of issue 9 on each kind of runner:
// env dump, git hook, hooksPath, fsmonitor and filter planting, dotenv, JUnit and artifact
// paths that leave the build dir (".." and symbolic links), and a cache of another project
// under the same key. Each attack is a subtest named after it, and each setup ends with a
// normal pipeline (artifacts, dotenv, cache, needs, a service where Docker runs it).
func TestAttackHostilePipelines(t *testing.T) {
	t.Run("builtin-shell", func(t *testing.T) {
		s, data := newShellServer(t, []string{canary})
		rc := builtinConfig(t, data, runner.ExecutorShell)
		runHostile(t, hostileSetup{
			s:       s,
			spy:     []string{filepath.Join(data, "slipway.db"), filepath.Join(data, "slipway.db-wal"), filepath.Join(data, "builtin-runner.yml")},
			secrets: []string{adminToken, regToken, smtpPassword, rc.Token},
			images:  []string{""},
		})
	})

	t.Run("builtin-auto-postgres", func(t *testing.T) {
		cli := testenv.RequireDocker(t)
		img, httpd := testenv.BusyboxImage(t, cli), testenv.HTTPDImage(t, cli)
		dsn := testenv.PostgresSchema(t)
		// No --executor: the default, auto where an engine answers.
		s, data := newDataServer(t, []string{"SLIPWAY_DB=" + dsn, canary}, "--runners", "1")
		rc := builtinConfig(t, data, runner.ExecutorAuto)
		reapAfter(t, cli, rc)
		runHostile(t, hostileSetup{
			s:       s,
			spy:     []string{filepath.Join(data, "builtin-runner.yml")},
			secrets: []string{adminToken, regToken, rc.Token, dsn},
			images:  []string{img, ""},
			service: httpd, image: img,
			auto: true,
		})
	})

	t.Run("runner-docker", func(t *testing.T) {
		cli := testenv.RequireDocker(t)
		img, httpd := testenv.BusyboxImage(t, cli), testenv.HTTPDImage(t, cli)
		s, _ := newDataServer(t, []string{canary}, "--runners", "0")
		cfg, rc := s.registerRunner(t, "--executor", "docker", "--docker-image", img)
		reapAfter(t, cli, rc)
		start(t, "runner", []string{canary}, "runner", "run", "--config", cfg)
		runHostile(t, hostileSetup{
			s:       s,
			spy:     []string{cfg},
			secrets: []string{adminToken, regToken, rc.Token},
			images:  []string{""},
			docker:  true,
			service: httpd, image: img,
		})
	})
}

// builtinConfig reads the built-in runner's configuration in data and checks its executor.
func builtinConfig(t *testing.T, data, executor string) *runner.Config {
	t.Helper()
	c, err := runner.LoadConfig(filepath.Join(data, "builtin-runner.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Executor != executor {
		t.Fatalf("the built-in runner's executor is %q, want %q", c.Executor, executor)
	}
	return c
}

// reapAfter removes, once t ends, the containers and networks the runner c made, and fails t
// if a container was left although its jobs had all ended.
func reapAfter(t *testing.T, cli *client.Client, c *runner.Config) {
	t.Helper()
	f := client.Filters{}
	for k, v := range c.OwnerLabels() {
		f = f.Add("label", k+"="+v)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("list containers: %v", err)
			return
		}
		for _, c := range cs.Items {
			if !t.Failed() {
				t.Errorf("container %v (%s) left after every job ended", c.Names, c.State)
			}
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
		if ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
			for _, n := range ns.Items {
				_, _ = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			}
		}
	})
}

// hostPlace holds what jobs must never reach on the host: a secret in dotenv form and a
// JUnit report holding it, in a directory only root may enter, and an empty directory, also
// root's, that code planted by a job writes its marks to if the host ever runs it.
type hostPlace struct {
	secretDir, secret, markers string
}

func newHostPlace(t *testing.T) hostPlace {
	t.Helper()
	h := hostPlace{secretDir: t.TempDir(), markers: t.TempDir(), secret: "host-secret-" + rand.Text()}
	writeFiles(t, h.secretDir, map[string]string{
		"secret.env": "HOST_SECRET=" + h.secret + "\n",
		"report.xml": `<testsuite name="` + h.secret + `"><testcase name="` + h.secret + `"/></testsuite>` + "\n",
	})
	for _, d := range []string{h.secretDir, h.markers} {
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// marks lists the marks planted code left on the host.
func (h hostPlace) marks(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(h.markers)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(h.markers, e.Name()))
		m[e.Name()] = string(b)
	}
	return m
}

// say prints word from a script without the word in the echoed command line.
func say(word string) string { return fmt.Sprintf(`echo "%s""%s"`, word[:3], word[3:]) }

// hostileCI is the hostile pipeline. Its first run (PHASE unset) plants code in .git and
// beside it, dumps every environment it can reach, and names host files as dotenv, JUnit and
// artifact paths; later jobs of that run and the second run (PHASE=again) check that they got
// a fresh checkout and nothing of the host.
func hostileCI(h hostPlace, image string, docker bool, spy []string) string {
	up := strings.Repeat("../", 30) + strings.TrimPrefix(h.secretDir, "/")
	defaultImage := ""
	if image != "" {
		defaultImage = "default:\n  image: " + image + "\n"
	}
	ci := fmt.Sprintf(`stages: [plant, check, restore]
%[1]svariables:
  MARKERS: %[2]s
  SECRET_DIR: %[3]s
  SPY: %[4]q
.first:
  rules:
    - if: $PHASE != "again"

plant-git:
  stage: plant
  extends: .first
  script:
    - |
      mkdir -p .git/hooks .git/info evilhooks
      for h in post-checkout post-merge post-rewrite pre-commit reference-transaction post-index-change pre-auto-gc; do
        printf '#!/bin/sh\necho "%%s uid $(id -u) in $PWD" >> %%s/hook\n' "$h" "$MARKERS" > ".git/hooks/$h"
        printf '#!/bin/sh\necho "%%s uid $(id -u) in $PWD" >> %%s/hookspath\n' "$h" "$MARKERS" > "evilhooks/$h"
        chmod +x ".git/hooks/$h" "evilhooks/$h"
      done
    - |
      cat >> .git/config <<EOF
      [core]
          fsmonitor = "echo fsmonitor >> $MARKERS/fsmonitor; false"
          hooksPath = evilhooks
          sshCommand = "echo ssh >> $MARKERS/config; false"
          pager = "echo pager >> $MARKERS/config; cat"
      [filter "evil"]
          smudge = "echo smudge >> $MARKERS/filter; cat"
          clean = "echo clean >> $MARKERS/filter; cat"
      [diff "evil"]
          command = "echo diff >> $MARKERS/config; false"
      EOF
      echo '* filter=evil diff=evil' > .git/info/attributes
      echo planted > planted.txt
    - cat .git/config; ls -l .git/hooks
    - %[5]s
  artifacts:
    untracked: true
    paths: [.git/]
  cache:
    key: planted
    untracked: true
    paths: [.git/]

env-dump:
  stage: plant
  extends: .first
  script:
    - id
    - echo ENV-START; env; echo ENV-END
    - tr '\0' '\n' < /proc/$PPID/environ || true
    - tr '\0' '\n' < /proc/1/environ || true
    - for e in /proc/[0-9]*/environ; do tr '\0' '\n' < "$e"; done 2>/dev/null | head -c 200000 || true
    - for f in $SPY; do echo "== $f"; head -c 200000 "$f" || true; done
    - ls -la $SPY || true
    - %[6]s

escape:
  stage: plant
  extends: .first
  script:
    - ln -s "$SECRET_DIR/secret.env" link.env
    - ln -s /proc/self/environ environ.env
    - ln -s /etc/hostname hostname.env
    - mkdir -p d && ln -s "$SECRET_DIR" d/up
    - ln -s "$SECRET_DIR/secret.env" leak.txt
    - ln -s "$SECRET_DIR" leakdir
    - ln -s / rootlink
    - ln -s "$SECRET_DIR/report.xml" junit.xml
    - mkdir -p reports && ln -s "$SECRET_DIR" reports/up
    - mkdir -p out && echo "made by the job" > out/ok.txt
    - echo "OWN_DOTENV=mine" > own.env
    - %[7]s
  artifacts:
    paths:
      - out/
      - leak.txt
      - leakdir/
      - leakdir/secret.env
      - rootlink%[3]s/
      - %[8]s/secret.env
      - %[3]s/secret.env
      - reports/
    reports:
      dotenv:
        - link.env
        - environ.env
        - hostname.env
        - d/up/secret.env
        - %[8]s/secret.env
        - %[3]s/secret.env
        - own.env
      junit:
        - junit.xml
        - leakdir/report.xml
        - reports/up/*.xml
        - %[8]s/report.xml
        - %[3]s/report.xml

check-fresh:
  stage: check
  dependencies: []
  script:
    - ls -la . .git .git/hooks || true
    - |
      if [ -e .git/hooks/post-checkout ] || [ -e evilhooks ] || [ -e planted.txt ] || [ -e .git/info/attributes ] || grep -q evil .git/config; then
        %[9]s
      else
        %[10]s
      fi

check-env:
  stage: restore
  extends: .first
  dependencies: [plant-git, env-dump, escape]
  cache:
    key: planted
    paths: [.git/]
    policy: pull
  script:
    - echo ENV-START; env; echo ENV-END
    - cat leak.txt leakdir/secret.env reports/up/secret.env 2>&1 || true
    - ls -la . .git/hooks || true
    - %[11]s
`, defaultImage, h.markers, h.secretDir, strings.Join(spy, " "), say("PLANTED"), say("DUMPED"),
		say("ESCAPED"), up, say("PLANTED-FOUND"), say("FRESH-CHECKOUT"), say("CHECKED"))
	if image == "" && !docker {
		for _, name := range []string{"dotdot", "absolute", "link", "relative-link"} {
			ci += fmt.Sprintf(smuggleCI, name, say("SMUGGLED"))
		}
	}
	return ci
}

// smuggleCI uploads evil-%[1]s.tar.gz (evilArchives) as the job's own artifacts with its
// job token, for the runner to extract on the host for the job after (through bash's
// /dev/tcp: busybox wget sends a file only up to its first NUL). Only shell jobs run it: a
// Docker job cannot reach the server at 127.0.0.1.
const smuggleCI = `
smuggle-%[1]s:
  stage: plant
  extends: .first
  script:
    - |
      exec 3<>"/dev/tcp/$CI_SERVER_HOST/$CI_SERVER_PORT"
      printf 'POST /api/v1/jobs/%%s/artifacts?kind=archive HTTP/1.1\r\nHost: %%s\r\nAuthorization: Bearer %%s\r\nContent-Type: application/gzip\r\nContent-Length: %%s\r\nConnection: close\r\n\r\n' "$CI_JOB_ID" "$CI_SERVER_HOST" "$CI_JOB_TOKEN" "$(wc -c < evil-%[1]s.tar.gz)" >&3
      cat evil-%[1]s.tar.gz >&3
      head -n 1 <&3 | tee status.txt
    - grep -q " 201 " status.txt
    - %[2]s

check-smuggled-%[1]s:
  stage: check
  extends: .first
  dependencies: [smuggle-%[1]s]
  allow_failure: true
  script:
    - ls -la . lnk || true
`

// evilArchives are artifacts archives (by name) whose entries leave the directory they are
// extracted in, each to a file archive-NAME in the markers directory: by "..", by an absolute
// name, through a link to that directory it makes first, and through a relative link that
// climbs to it.
func evilArchives(t *testing.T, markers string) map[string]string {
	t.Helper()
	up := strings.Repeat("../", 30) + strings.TrimPrefix(markers, "/")
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
	link := func(name, to string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: to}
	}
	out := map[string]string{}
	for name, entries := range map[string][]*tar.Header{
		"dotdot":        {reg("ok.txt"), reg(up + "/archive-dotdot")},
		"absolute":      {reg("ok.txt"), reg(markers + "/archive-absolute")},
		"link":          {reg("ok.txt"), link("lnk", markers), reg("lnk/archive-link")},
		"relative-link": {reg("ok.txt"), link("lnk", up), reg("lnk/archive-relative-link")},
	} {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		tw := tar.NewWriter(gz)
		for _, h := range entries {
			body := ""
			if h.Typeflag == tar.TypeReg {
				body = "written by the archive " + name + "\n"
				h.Size, h.Mode = int64(len(body)), 0o644
			} else {
				h.Mode = 0o777
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(tw, body); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
		out[name] = b.String()
	}
	return out
}

// cacheCI is a job that shows what its cache deps held and leaves content in it.
const cacheCI = `deps:
  cache:
    key: deps
    paths: [vendor/]
  script:
    - if [ -f vendor/lib ]; then echo "restored [$(cat vendor/lib)]"; else echo "no cache yet"; fi
    - mkdir -p vendor && echo "$CONTENT" > vendor/lib
`

// run triggers a pipeline of project id on ref main with variables and returns it once it
// ended, with its jobs' logs by name.
func (s *server) run(id int64, vars map[string]string) (pipelineView, map[string]string) {
	s.t.Helper()
	var p pipelineView
	code, body := s.call("POST", fmt.Sprintf("/api/v1/projects/%d/pipelines", id), map[string]any{"ref": "main", "variables": vars})
	if code != http.StatusCreated || json.Unmarshal(body, &p) != nil {
		s.t.Fatalf("trigger a pipeline of project %d: %d %s", id, code, body)
	}
	p = s.wait(p.ID, 3*time.Minute, func(p pipelineView) bool { return final(p.Status) })
	logs := map[string]string{}
	for _, j := range p.Jobs {
		logs[j.Name] = string(s.raw(fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)))
	}
	return p, logs
}

// jobID returns the ID of p's job name.
func jobID(t *testing.T, p pipelineView, name string) int64 {
	t.Helper()
	for _, j := range p.Jobs {
		if j.Name == name {
			return j.ID
		}
	}
	t.Fatalf("pipeline %d has no job %s: %+v", p.ID, name, p.Jobs)
	return 0
}

// between returns the part of log between the lines start and end (a job's env dump).
func between(log, start, end string) string {
	_, rest, _ := strings.Cut(log, "\n"+start+"\n")
	part, _, _ := strings.Cut(rest, "\n"+end+"\n")
	return part
}

// runHostile runs the job-level attacks on hs, once per image variant, then a normal
// pipeline.
func runHostile(t *testing.T, hs hostileSetup) {
	for n, image := range hs.images {
		variant := "no-image"
		if image != "" {
			variant = "image"
		}
		t.Run(variant, func(t *testing.T) {
			s := hs.s.in(t)
			h := newHostPlace(t)
			victimVar := "victim-variable-" + rand.Text()
			secrets := append(slices.Clone(hs.secrets), h.secret, victimVar, strings.TrimPrefix(canary, "SLIPWAY_E2E_CANARY="))

			shell := image == "" && !hs.docker
			files := map[string]string{".gitlab-ci.yml": hostileCI(h, image, hs.docker, hs.spy)}
			for name, archive := range evilArchives(t, h.markers) {
				files["evil-"+name+".tar.gz"] = archive
			}
			dir, _ := repo(t, files)
			evil := s.project(fmt.Sprintf("evil/app-%d", n), dir, "")
			victimDir, _ := repo(t, map[string]string{".gitlab-ci.yml": withImage(cacheCI, image)})
			victim := s.project(fmt.Sprintf("victim/deps-%d", n), victimDir, "")
			if code := s.api("PUT", fmt.Sprintf("/api/v1/projects/%d/variables/VICTIM_KEY", victim), map[string]any{"value": victimVar}, nil); code != http.StatusNoContent {
				t.Fatalf("set a variable of the victim: %d", code)
			}
			thiefDir, _ := repo(t, map[string]string{".gitlab-ci.yml": withImage(cacheCI, image)})
			thief := s.project(fmt.Sprintf("evil/deps-%d", n), thiefDir, "")

			first, logs := s.run(evil, nil)
			again, againLogs := s.run(evil, map[string]string{"PHASE": "again"})
			a1, a1Logs := s.run(victim, map[string]string{"CONTENT": "secret-of-A"})
			b, bLogs := s.run(thief, map[string]string{"CONTENT": "poison-from-B"})
			a2, a2Logs := s.run(victim, map[string]string{"CONTENT": "secret-of-A"})

			all := map[string]string{}
			for name, log := range logs {
				all["first run, "+name] = log
			}
			for name, log := range againLogs {
				all["second run, "+name] = log
			}
			for name, log := range bLogs {
				all["thief, "+name] = log
			}
			// The attacks fail safely: the jobs run to their end, on the executor meant.
			for _, p := range []pipelineView{first, again, a1, b, a2} {
				if p.Status != "success" {
					t.Errorf("pipeline %d ended %s: %+v", p.ID, p.Status, p.Jobs)
				}
			}
			wantExec := `"shell" executor`
			if image != "" || hs.docker {
				wantExec = `"docker" executor`
			}
			for name, log := range all {
				// Jobs given a smuggled archive fail before they reach an executor.
				if !strings.Contains(log, wantExec) && !strings.Contains(name, "check-smuggled-") {
					t.Errorf("%s did not run on the %s:\n%s", name, wantExec, log)
				}
			}
			if t.Failed() {
				for name, log := range all {
					t.Logf("--- %s ---\n%s", name, log)
				}
			}
			// Each attack's own checks, whatever the above found.

			t.Run("AttackEnvDump", func(t *testing.T) {
				dump := logs["env-dump"]
				if !strings.Contains(dump, "\nDUMPED\n") || !strings.Contains(dump, "\nENV-END\n") {
					t.Fatalf("the job did not dump its environment:\n%s", dump)
				}
				if env := between(dump, "ENV-START", "ENV-END"); strings.Contains(env, "SLIPWAY_") {
					t.Errorf("the job's environment holds the host's SLIPWAY_ variables:\n%s", env)
				}
				for name, log := range all {
					for _, secret := range secrets {
						if strings.Contains(log, secret) {
							t.Errorf("the log of %s holds %q:\n%s", name, secret, log)
						}
					}
				}
			})

			t.Run("AttackGitHookPlanted", func(t *testing.T) {
				plantedAndFresh(t, h, logs, againLogs, "hook", "hookspath")
			})

			t.Run("AttackFsmonitorPlanted", func(t *testing.T) {
				plantedAndFresh(t, h, logs, againLogs, "fsmonitor", "filter", "config")
			})

			escape := logs["escape"]
			t.Run("AttackDotenvTraversal", func(t *testing.T) {
				dotenvRefused(t, escape, logs["check-env"], h, h.secretDir+"/secret.env", strings.Repeat("../", 30))
			})

			t.Run("AttackDotenvSymlink", func(t *testing.T) {
				dotenvRefused(t, escape, logs["check-env"], h, "link.env", "environ.env", "hostname.env", "d/up/secret.env")
			})

			t.Run("AttackArtifactsSymlinkAndTraversal", func(t *testing.T) {
				files := untar(t, s.raw(fmt.Sprintf("/api/v1/jobs/%d/artifacts", jobID(t, first, "escape"))))
				if files["out/ok.txt"] != "made by the job\n" {
					t.Errorf("the job's own artifact is missing: %v", files)
				}
				for name, body := range files {
					if strings.Contains(body, h.secret) {
						t.Errorf("the artifacts hold the host's file as %s", name)
					}
				}
				// The job that restored them reads no host file through them either.
				if log := logs["check-env"]; !strings.Contains(log, "\nCHECKED\n") || strings.Contains(log, h.secret) {
					t.Errorf("the job after:\n%s", log)
				}
			})

			t.Run("AttackJUnitSymlinkAndTraversal", func(t *testing.T) {
				id := jobID(t, first, "escape")
				for _, kind := range []string{"archive", "junit"} {
					req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/artifacts?kind=%s", s.url(), id, kind), nil)
					req.Header.Set("Authorization", "Bearer "+adminToken)
					resp, err := attackClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					data, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusNotFound:
					case http.StatusOK:
						for name, body := range untar(t, data) {
							if strings.Contains(body, h.secret) {
								t.Errorf("the %s artifacts hold the host's report as %s", kind, name)
							}
						}
					default:
						t.Errorf("artifacts of kind %s: %d %s", kind, resp.StatusCode, data)
					}
				}
			})

			if shell {
				t.Run("AttackArtifactArchiveTraversal", func(t *testing.T) {
					for name, log := range logs {
						if strings.HasPrefix(name, "smuggle-") && !strings.Contains(log, "\nSMUGGLED\n") {
							t.Errorf("%s did not upload its archive:\n%s", name, log)
						}
					}
					for name, m := range h.marks(t) {
						if strings.HasPrefix(name, "archive-") {
							t.Errorf("restoring a job's artifacts wrote %s outside the build dir: %q", name, m)
						}
					}
				})
			}

			t.Run("AttackCrossProjectCache", func(t *testing.T) {
				if log := a1Logs["deps"]; !strings.Contains(log, "\nno cache yet\n") {
					t.Errorf("project A's first job found a cache:\n%s", log)
				}
				if log := bLogs["deps"]; strings.Contains(log, "secret-of-A") || !strings.Contains(log, "\nno cache yet\n") {
					t.Errorf("project B restored project A's cache under the same key:\n%s", log)
				}
				if log := a2Logs["deps"]; !strings.Contains(log, "\nrestored [secret-of-A]\n") {
					t.Errorf("project A's cache did not survive project B's job:\n%s", log)
				}
			})
		})
	}

	if hs.auto {
		t.Run("AttackSetuidFromDockerJob", func(t *testing.T) {
			testenv.RequireRoot(t) // else shell jobs run as the runner's own user
			setuidFromDocker(t, hs.s.in(t), hs.image)
		})
	}

	t.Run("WhatWorkedBeforeStillWorks", func(t *testing.T) {
		s := hs.s.in(t)
		ci := normalCI
		if hs.service != "" {
			ci += fmt.Sprintf(serviceCI, hs.image, hs.service)
		}
		dir, _ := repo(t, map[string]string{".gitlab-ci.yml": ci})
		id := s.project("acme/normal", dir, "")
		p, logs := s.run(id, nil)
		if p.Status != "success" {
			t.Fatalf("a normal pipeline ended %s: %+v\n%v", p.Status, p.Jobs, logs)
		}
		if !strings.Contains(logs["test"], "\nALL-GOOD\n") {
			t.Errorf("test:\n%s", logs["test"])
		}
		if hs.service != "" && !strings.Contains(logs["service"], "\n"+testenv.HTTPDBody+"\n") {
			t.Errorf("service:\n%s", logs["service"])
		}
		if files := untar(t, s.raw(fmt.Sprintf("/api/v1/jobs/%d/artifacts", jobID(t, p, "build")))); files["out/result.txt"] != "artifact from build\n" {
			t.Errorf("artifacts of build: %v", files)
		}
	})
}

// plantedAndFresh checks that the code the first run planted (marks of the kinds given) never
// ran on the host, and that the jobs after it, in the first run and in the second, got a
// fresh checkout.
func plantedAndFresh(t *testing.T, h hostPlace, first, again map[string]string, kinds ...string) {
	t.Helper()
	if !strings.Contains(first["plant-git"], "\nPLANTED\n") {
		t.Fatalf("the job did not plant its code:\n%s", first["plant-git"])
	}
	marks := h.marks(t)
	for _, k := range kinds {
		if m, ok := marks[k]; ok {
			t.Errorf("code a job planted (%s) ran on the host:\n%s", k, m)
		}
	}
	for name, log := range map[string]string{"the next job": first["check-fresh"], "the next pipeline's job": again["check-fresh"]} {
		if !strings.Contains(log, "\nFRESH-CHECKOUT\n") {
			t.Errorf("%s did not get a fresh checkout:\n%s", name, log)
		}
	}
}

// dotenvRefused checks that the escape job's dotenv reports named by the paths given (or
// starting so) were refused with a warning, that its own report was taken, and that the job
// after it got none of the host's content.
func dotenvRefused(t *testing.T, escape, after string, h hostPlace, paths ...string) {
	t.Helper()
	if !strings.Contains(escape, "\nESCAPED\n") {
		t.Fatalf("the job did not make its links:\n%s", escape)
	}
	for _, p := range paths {
		if !strings.Contains(escape, "WARNING: dotenv report "+p) {
			t.Errorf("no warning that the dotenv report %s was refused:\n%s", p, escape)
		}
	}
	env := between(after, "ENV-START", "ENV-END")
	if !strings.Contains(env, "\nOWN_DOTENV=mine\n") {
		t.Errorf("the job after lacks the escape job's own dotenv variable:\n%s", after)
	}
	for _, bad := range []string{h.secret, "HOST_SECRET=", strings.TrimPrefix(canary, "SLIPWAY_E2E_CANARY=")} {
		if strings.Contains(env, bad) {
			t.Errorf("the job after got %q of the host through a dotenv report:\n%s", bad, env)
		}
	}
}

// withImage gives ci a default image, when image is not "".
func withImage(ci, image string) string {
	if image == "" {
		return ci
	}
	return "default:\n  image: " + image + "\n" + ci
}

// normalCI is what worked before the attacks were stopped: artifacts, a dotenv report, a
// cache and needs.
const normalCI = `stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out vendor
    - echo "artifact from build" > out/result.txt
    - echo "BUILD_VERSION=1.2.3" > build.env
    - echo "cached dep" > vendor/dep
  artifacts:
    paths: [out/]
    reports:
      dotenv: build.env
  cache:
    key: deps
    paths: [vendor/]
test:
  stage: test
  needs: [build]
  cache:
    key: deps
    paths: [vendor/]
    policy: pull
  script:
    - test "$(cat out/result.txt)" = "artifact from build"
    - test "$BUILD_VERSION" = 1.2.3
    - test "$(cat vendor/dep)" = "cached dep"
    - echo "ALL-""GOOD"
`

// serviceCI is a job in image %s with a service in image %s.
const serviceCI = `service:
  stage: test
  needs: []
  image: %s
  services:
    - name: %s
      alias: web
  script:
    - wget -qO- http://web/
`

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
// run as nobody, execute it to become root on the host. They must find it theirs, without
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
	for _, name := range []string{"use-artifacts", "use-cache"} {
		log := logs[name]
		if !strings.Contains(log, `"shell" executor`) || strings.Count(log, "\nuid 65534 euid 65534\n") != 2 {
			t.Errorf("%s, in the shell as nobody, ran the Docker job's program as another user:\n%s", name, log)
		}
	}
	for name, m := range h.marks(t) {
		t.Errorf("a shell job became root through the Docker job's setuid program: %s: %q", name, m)
	}
}
