package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
const (
	canaryValue = "canary-5d1e0c7f-of-the-host"
	canary      = "SLIPWAY_E2E_CANARY=" + canaryValue
)

// attackClient is the HTTP client of the attacks: no call may hang the test.
var attackClient = &http.Client{Timeout: 2 * time.Minute}

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
// paths that leave the build dir (".." and symbolic links), artifact archives uploaded with
// the job token that leave it when extracted, a cache of another project under the same key,
// and (where Docker and shell jobs meet) a setuid program a Docker job hands on. Each attack
// is a subtest named after it, and each setup ends with a normal pipeline (artifacts, dotenv,
// cache, needs, a service where Docker runs it).
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
			secrets := append(slices.Clone(hs.secrets), h.secret, victimVar, canaryValue)

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

			// The runner uploads no JUnit report today (kind junit is a 404): this holds the
			// day it does.
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
// ran on the host, and that the jobs after the planting ones, in the first run and in the
// second, got a fresh checkout.
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
	for _, bad := range []string{h.secret, "HOST_SECRET=", canaryValue} {
		if strings.Contains(env, bad) {
			t.Errorf("the job after got %q of the host through a dotenv report:\n%s", bad, env)
		}
	}
}
