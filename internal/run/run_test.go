package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/internal/executor"
	"github.com/slipway/slipway/internal/executor/docker"
	"github.com/slipway/slipway/internal/executor/shell"
	"github.com/slipway/slipway/internal/pipeline"
	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/testenv"
)

// fileVarJob is a job that prints its file variable's path and content, and a variable that
// refers to it.
func fileVarJob(img *pipeline.Image) *plan.Job {
	return &plan.Job{
		Name:  "file-var",
		Image: img,
		Script: []string{
			`echo "path=$MY_FILE_VAR"`,
			`cat "$MY_FILE_VAR"`,
			`echo "ref=$REFERS"`,
			`echo "files=$(ls "$(dirname "$MY_FILE_VAR")")"`,
		},
		Variables: []plan.Var{
			{Key: "MY_FILE_VAR", Value: "line one\nsecret-content-7c1\n", File: true},
			{Key: "REFERS", Value: "at:$MY_FILE_VAR"},
		},
	}
}

// runFileVarJob runs fileVarJob on ex in a new build dir and returns its log and the host
// directory of the file variables.
func runFileVarJob(t *testing.T, ex executor.Executor, img *pipeline.Image, projectDir string) (string, string) {
	t.Helper()
	buildDir := filepath.Join(t.TempDir(), "group", "project")
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if projectDir == "" {
		projectDir = buildDir
	}
	var log strings.Builder
	res := Run(t.Context(), ex, Job{Plan: fileVarJob(img), BuildDir: buildDir, ProjectDir: projectDir, Log: &log}, Options{})
	if res.Status != status.Success {
		t.Fatalf("job %s (%v):\n%s", res.Status, res.Err, log.String())
	}
	return log.String(), executor.TmpDir(buildDir)
}

// checkFileVarLog checks that the job found its file at want/MY_FILE_VAR.
func checkFileVarLog(t *testing.T, log, want string) {
	t.Helper()
	path := want + "/MY_FILE_VAR"
	for _, s := range []string{"\npath=" + path + "\n", "\nline one\nsecret-content-7c1\n", "\nref=at:" + path + "\n", "\nfiles=MY_FILE_VAR\n"} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %q:\n%s", s, log)
		}
	}
}

// TestFileVariableInDockerJob: a file variable of a Docker job names a file in the job's
// container, beside its project directory as on GitLab (CI_PROJECT_DIR.tmp), which the
// container's user reads, root or not; nothing of it is left on the host after the job.
func TestFileVariableInDockerJob(t *testing.T) {
	t.Parallel()
	cli := testenv.RequireDocker(t)
	img := testenv.BusyboxImage(t, cli)
	x, err := docker.New(docker.Options{Client: cli, PullPolicy: docker.PullNever})
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"", "4321:4321"} {
		t.Run("user="+user, func(t *testing.T) {
			t.Parallel()
			log, hostDir := runFileVarJob(t, x, &pipeline.Image{Name: img, User: user}, "/builds/group/project")
			checkFileVarLog(t, log, "/builds/group/project.tmp")
			if _, err := os.Lstat(hostDir); !os.IsNotExist(err) {
				t.Errorf("the file variables' host dir is left: %v", err)
			}
		})
	}
}

// A shell job's file variable names its file on the host, beside the build dir.
func TestFileVariableInShellJob(t *testing.T) {
	t.Parallel()
	x, err := shell.New(shell.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, hostDir := runFileVarJob(t, x, nil, "")
	checkFileVarLog(t, log, hostDir)
	if _, err := os.Lstat(hostDir); !os.IsNotExist(err) {
		t.Errorf("the file variables' host dir is left: %v", err)
	}
}
