// Package status is Slipway's one vocabulary for the statuses of jobs and pipelines and the
// reasons a job fails, as GitLab names them (plus Slipway's warning). Every package that
// keeps, decides, sends or shows a status takes it from here: store, flow, scheduler,
// server, run, jobapi, runner, local, notify. It imports nothing of Slipway, so any package
// may use it.
//
// Each value is declared once, and listed once in the switch of Known: a second constant
// with the same text does not compile ("duplicate case"). What a status means for the order
// of jobs (a manual job lets the jobs after it be decided) is package flow's.
package status

// Status is the status of a job or a pipeline.
type Status string

// Statuses, as GitLab names them.
const (
	// Created: a job waits for earlier jobs; a pipeline has not started.
	Created Status = "created"
	// WaitingForResource: a job is ready and waits for its resource_group.
	WaitingForResource Status = "waiting_for_resource"
	// Scheduled: a delayed job (when: delayed) waits for its time.
	Scheduled Status = "scheduled"
	// Pending: a job is queued for a runner; a pipeline's jobs wait for runners.
	Pending Status = "pending"
	Running Status = "running"
	Success Status = "success"
	Failed  Status = "failed"
	// Warning: a job failed and its failure is allowed; a pipeline passed with such jobs.
	Warning  Status = "warning"
	Canceled Status = "canceled"
	Skipped  Status = "skipped"
	// Manual: a manual job waits to be played; a pipeline waits for a blocking manual job.
	// It is not final: the job may still run.
	Manual Status = "manual"
)

// All returns every status, in the order of a job's life.
func All() []Status {
	return []Status{Created, WaitingForResource, Scheduled, Pending, Running, Manual, Success,
		Failed, Warning, Canceled, Skipped}
}

// Final reports whether s is a completed status, as GitLab's: success, failed, canceled,
// skipped, and Slipway's warning. Nothing changes a final status but a retry (a new job).
func (s Status) Final() bool {
	switch s {
	case Success, Failed, Warning, Canceled, Skipped:
		return true
	}
	return false
}

// Known reports whether s is one of the statuses above.
func (s Status) Known() bool {
	switch s {
	case Created, WaitingForResource, Scheduled, Pending, Running, Success, Failed, Warning,
		Canceled, Skipped, Manual:
		return true
	}
	return false
}

// Reason is why a job failed, as GitLab names it (a job's failure_reason).
type Reason string

// Failure reasons.
const (
	// ScriptFailure: the script exited non-zero.
	ScriptFailure Reason = "script_failure"
	// JobExecutionTimeout: the job ran past its timeout.
	JobExecutionTimeout Reason = "job_execution_timeout"
	// RunnerSystemFailure: the runner could not run the job (executor, checkout,
	// artifacts of dependencies), or lost it (its lease ran out).
	RunnerSystemFailure Reason = "runner_system_failure"
	// DataIntegrityFailure: the job's specification could not be read; it never ran.
	DataIntegrityFailure Reason = "data_integrity_failure"
	// DownstreamPipelineCreationFailed: a trigger job's pipeline could not be made.
	DownstreamPipelineCreationFailed Reason = "downstream_pipeline_creation_failed"
	// UnknownFailure: any other failure, and a reason this version does not know.
	UnknownFailure Reason = "unknown_failure"
)

// Known reports whether r is one of the reasons above.
func (r Reason) Known() bool {
	switch r {
	case ScriptFailure, JobExecutionTimeout, RunnerSystemFailure,
		DataIntegrityFailure, DownstreamPipelineCreationFailed, UnknownFailure:
		return true
	}
	return false
}
