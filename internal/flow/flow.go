// Package flow decides the order of a pipeline's jobs as GitLab does: which jobs a job waits
// for (its needs, else every job of earlier stages), and what becomes of a job once they are
// settled (start, skip, wait for play, cancel), and the pipeline's status from its jobs'. It is
// pure: `slipway run` (package local) and the server's scheduler both call it with the
// statuses they keep. It does not run jobs or keep state.
package flow

import (
	"slices"

	"github.com/slipway/slipway/internal/plan"
	"github.com/slipway/slipway/internal/status"
)

// Settled reports whether a job in status s lets the jobs that wait for it be decided: it
// is final, or it is manual. A manual job is not final (it may still be played), but until
// it is played it decides for the jobs after it: it holds them (a blocking manual job) or
// lets them run (see Decide).
func Settled(s status.Status) bool {
	return s.Final() || s == status.Manual
}

// Prereqs returns, for each job of jobs (a plan's jobs, or a chosen subset in plan order),
// the indexes of the jobs it waits for: the jobs it needs that are in jobs, or, without
// needs:, every job of an earlier stage.
func Prereqs(jobs []*plan.Job) [][]int {
	index := make(map[string]int, len(jobs))
	for i, j := range jobs {
		index[j.Name] = i
	}
	out := make([][]int, len(jobs))
	for i, j := range jobs {
		if j.Needs != nil {
			for _, n := range j.Needs {
				if k, ok := index[n.Job]; ok {
					out[i] = append(out[i], k)
				}
			}
			continue
		}
		for k, m := range jobs {
			if m.StageIndex < j.StageIndex {
				out[i] = append(out[i], k)
			}
		}
	}
	return out
}

// Prereq is a job waited for and its status.
type Prereq struct {
	Job    *plan.Job
	Status status.Status
}

// Options tune Decide.
type Options struct {
	// Play starts manual jobs instead of leaving them manual.
	Play bool
	// Canceled means the pipeline was canceled: jobs that did not start are canceled.
	Canceled bool
	// Hold keeps jobs behind a blocking manual job waiting (a server, where the manual job
	// can still be played); without it they are skipped (a local run, where nobody plays).
	Hold bool
}

// Decide says what becomes of a created job j given the jobs it waits for: ok is false
// while one of them is not settled (or, with Hold, while a blocking manual job holds j).
// Otherwise next is status.Pending when j may start now (the caller queues it, or delays
// it, or waits for its resource group), else the status to give j: Manual for a manual job
// that waits to be played, or a final one (skipped, canceled).
func Decide(j *plan.Job, prereqs []Prereq, o Options) (next status.Status, ok bool) {
	failed, blocked := false, false
	for _, p := range prereqs {
		if !Settled(p.Status) {
			return "", false
		}
		failed = failed || p.Status == status.Failed || p.Status == status.Canceled
		// A manual job that may not fail (manual in rules) blocks the jobs after it; one a
		// job needs holds that job either way.
		blocked = blocked || p.Status == status.Manual && (!p.Job.AllowFailure || j.Needs != nil)
	}
	switch {
	case o.Canceled:
		return status.Canceled, true
	case blocked && o.Hold:
		return "", false
	case blocked:
		return status.Skipped, true
	case j.When == "manual" && !o.Play:
		return status.Manual, true
	case j.When == "on_failure" && !failed:
		return status.Skipped, true
	case j.When != "always" && j.When != "on_failure" && failed:
		return status.Skipped, true
	}
	return status.Pending, true
}

// FailedStatus says the status of a job that failed with exit code: Warning when its failure is
// allowed (allow_failure, limited to exit_codes when set), else Failed.
func FailedStatus(j *plan.Job, code int) status.Status {
	if j.AllowFailure && (len(j.ExitCodes) == 0 || slices.Contains(j.ExitCodes, code)) {
		return status.Warning
	}
	return status.Failed
}

// PipelineStatus is a pipeline's status from its (current, not retried) jobs' statuses:
// pending while jobs wait for a runner and none started; running while any job is pending,
// running or waiting for earlier ones; manual when a blocking manual job waits;
// else failed if any job failed, canceled if any was canceled, success otherwise (warnings,
// skipped and non-blocking manual jobs allowed). blocking reports whether the manual job at
// an index blocks (allow_failure false); created reports jobs still waiting.
func PipelineStatus(statuses []status.Status, blocking func(i int) bool) status.Status {
	active, manual, failed, canceled, success := false, false, false, false, false
	// As GitLab, skipped jobs and allowed failures do not count as started.
	queued, notStarted := false, true
	for i, s := range statuses {
		switch s {
		case status.Pending, status.Created, status.Skipped, status.Warning:
			queued = queued || s == status.Pending
		default:
			notStarted = false
		}
		switch s {
		case status.Pending, status.Running, status.WaitingForResource, status.Scheduled:
			active = true
		case status.Created:
			// Waiting for earlier jobs: the pipeline runs, unless a manual job holds it.
			active = true
		case status.Manual:
			if blocking(i) {
				manual = true
			}
		case status.Failed:
			failed = true
		case status.Canceled:
			canceled = true
		case status.Success, status.Warning:
			success = true
		}
	}
	switch {
	case manual && !anyRunning(statuses):
		return status.Manual
	case queued && notStarted:
		return status.Pending
	case active:
		return status.Running
	case failed:
		return status.Failed
	case canceled:
		return status.Canceled
	case success || len(statuses) == 0:
		return status.Success
	}
	return status.Skipped
}

func anyRunning(statuses []status.Status) bool {
	for _, s := range statuses {
		if s == status.Pending || s == status.Running {
			return true
		}
	}
	return false
}

// Retry reports whether a job that failed on its attempt-th try (from 0) with reason (a
// GitLab failure reason: script_failure, runner_system_failure, …) and exit code is tried
// again, per retry: max, when and exit_codes.
func Retry(j *plan.Job, attempt int, reason status.Reason, code int) bool {
	rt := j.Retry
	if attempt >= rt.Max {
		return false
	}
	if len(rt.ExitCodes) > 0 && !slices.Contains(rt.ExitCodes, code) {
		return false
	}
	if len(rt.When) == 0 || slices.Contains(rt.When, "always") {
		return true
	}
	return slices.Contains(rt.When, string(reason)) ||
		(reason == status.RunnerSystemFailure && slices.Contains(rt.When, string(status.UnknownFailure)))
}

// ArtifactSources returns the indexes of the jobs (of jobs) whose artifacts j receives, as
// GitLab passes them: its needs with artifacts (narrowed by dependencies: when set), else its
// dependencies:, else every job of an earlier stage.
func ArtifactSources(j *plan.Job, jobs []*plan.Job) []int {
	var out []int
	for i, m := range jobs {
		switch {
		case m == j || m.Name == j.Name:
		case j.Needs != nil:
			for _, need := range j.Needs {
				if need.Job == m.Name && need.Artifacts && (j.Dependencies == nil || slices.Contains(j.Dependencies, m.Name)) {
					out = append(out, i)
				}
			}
		case j.Dependencies != nil:
			if slices.Contains(j.Dependencies, m.Name) {
				out = append(out, i)
			}
		case m.StageIndex < j.StageIndex:
			out = append(out, i)
		}
	}
	return out
}
