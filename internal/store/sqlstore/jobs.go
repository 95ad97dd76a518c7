package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/slipway/slipway/internal/status"
	"github.com/slipway/slipway/internal/store"
)

const jobCols = `id, pipeline_id, project_id, name, stage, stage_index, position, status, spec, tags, resource_group, attempt,
	retried, run_at, runner_id, failure_reason, exit_code, token_hash, claim_key, lease_until, cancel_requested, dotenv,
	junit, coverage, created, queued, started, finished`

// jobSet assigns jobArgs in an UPDATE.
const jobSet = `pipeline_id = ?, project_id = ?, name = ?, stage = ?, stage_index = ?, position = ?, status = ?, spec = ?,
	tags = ?, resource_group = ?, attempt = ?, retried = ?, run_at = ?, runner_id = ?, failure_reason = ?, exit_code = ?,
	token_hash = ?, claim_key = ?, lease_until = ?, cancel_requested = ?, dotenv = ?, junit = ?, coverage = ?, created = ?, queued = ?,
	started = ?, finished = ?`

// jobArgs are j's columns but the ID, in jobCols' order.
func jobArgs(j *store.Job) []any {
	return []any{j.PipelineID, j.ProjectID, j.Name, j.Stage, int64(j.StageIndex), int64(j.Position), j.Status, blob(j.Spec),
		jsonText(j.Tags), j.ResourceGroup, int64(j.Attempt), j.Retried, nanos(j.RunAt), j.RunnerID, j.FailureReason,
		int64(j.ExitCode), j.TokenHash, j.ClaimKey, nanos(j.LeaseUntil), j.CancelRequested, blob(j.Dotenv),
		blob(j.JUnit), nullFloat(j.Coverage), nanos(j.Created), nanos(j.Queued), nanos(j.Started), nanos(j.Finished)}
}

func scanJob(r scanner) (*store.Job, error) { return scanJobAnd(r) }

// scanJobAnd scans jobCols and then the extra columns into extra.
func scanJobAnd(r scanner, extra ...any) (*store.Job, error) {
	var j store.Job
	var tags string
	var stageIndex, position, attempt, exitCode, runAt, lease, created, queued, started, finished int64
	var cov sql.NullFloat64
	dest := append([]any{&j.ID, &j.PipelineID, &j.ProjectID, &j.Name, &j.Stage, &stageIndex, &position, &j.Status, &j.Spec,
		&tags, &j.ResourceGroup, &attempt, &j.Retried, &runAt, &j.RunnerID, &j.FailureReason, &exitCode, &j.TokenHash,
		&j.ClaimKey, &lease, &j.CancelRequested, &j.Dotenv, &j.JUnit, &cov, &created, &queued, &started, &finished}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	j.StageIndex, j.Position, j.Attempt, j.ExitCode = int(stageIndex), int(position), int(attempt), int(exitCode)
	j.Spec, j.Dotenv, j.JUnit = blob(j.Spec), blob(j.Dotenv), blob(j.JUnit)
	j.Coverage = floatPtr(cov)
	j.RunAt, j.LeaseUntil = fromNanos(runAt), fromNanos(lease)
	j.Created, j.Queued, j.Started, j.Finished = fromNanos(created), fromNanos(queued), fromNanos(started), fromNanos(finished)
	if err := fromJSON(tags, &j.Tags); err != nil {
		return nil, err
	}
	return &j, nil
}

// insertJob inserts j into p and sets its ID, PipelineID, ProjectID and Created (the current
// time unless set).
func (s *Store) insertJob(ctx context.Context, tx *sql.Tx, p *store.Pipeline, j *store.Job) error {
	j.PipelineID, j.ProjectID = p.ID, p.ProjectID
	if j.Created.IsZero() {
		j.Created = now()
	}
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO jobs (pipeline_id, project_id, name, stage, stage_index, position, status,
	spec, tags, resource_group, attempt, retried, run_at, runner_id, failure_reason, exit_code, token_hash, claim_key,
	lease_until, cancel_requested, dotenv, junit, coverage, created, queued, started, finished)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), jobArgs(j)...).Scan(&j.ID)
	if err != nil {
		return fmt.Errorf("insert job %q: %w", j.Name, s.err(err))
	}
	return nil
}

// Job implements store.Jobs.
func (s *Store) Job(ctx context.Context, id int64) (*store.Job, error) {
	j, err := one(ctx, s, s.r, scanJob, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", id, err)
	}
	return j, nil
}

// JobByTokenHash implements store.Jobs.
func (s *Store) JobByTokenHash(ctx context.Context, hash string) (*store.Job, error) {
	if hash == "" {
		return nil, fmt.Errorf("get job by token: %w", store.ErrNotFound)
	}
	// token_hash <> '' lets the partial index serve the lookup.
	j, err := one(ctx, s, s.r, scanJob, `SELECT `+jobCols+` FROM jobs WHERE token_hash = ? AND token_hash <> '' AND status = ?`, hash, status.Running)
	if err != nil {
		return nil, fmt.Errorf("get job by token: %w", err)
	}
	return j, nil
}

// Jobs implements store.Jobs.
func (s *Store) Jobs(ctx context.Context, pipelineID int64, f store.JobFilter) ([]*store.Job, error) {
	where, args := `pipeline_id = ?`, []any{pipelineID}
	if f.BeforeStage > 0 {
		where, args = where+` AND stage_index < ?`, append(args, int64(f.BeforeStage))
	}
	js, err := list(ctx, s, s.r, scanJob, `SELECT `+jobCols+` FROM jobs WHERE `+where+` ORDER BY position, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs of pipeline %d: %w", pipelineID, err)
	}
	return js, nil
}

// UpdateJob implements store.Jobs.
func (s *Store) UpdateJob(ctx context.Context, id int64, fn func(j *store.Job) error) error {
	var fnErr error
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var read jobRead
		j, err := one(ctx, s, tx, read.scan, `SELECT `+jobCols+`, version FROM jobs WHERE id = ?`+s.d.ForUpdate, id)
		if err != nil {
			return fmt.Errorf("lock job: %w", err)
		}
		if err := fn(j); err != nil {
			fnErr = err
			return err
		}
		j.ID = id
		return s.writeJob(ctx, tx, j, read)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("update job %d: %w", id, err)
	}
	return nil
}

// jobRead is a job's columns and version as read, for writeJob.
type jobRead struct {
	args    []any
	version int64
}

// scan scans jobCols and the version into a job and r.
func (r *jobRead) scan(row scanner) (*store.Job, error) {
	j, err := scanJobAnd(row, &r.version)
	if err == nil {
		r.args = cloneArgs(jobArgs(j))
	}
	return j, err
}

// writeJob writes j if it changed since it was read, and only if its version is still the
// one read: errJobChanged when another writer changed it meanwhile.
func (s *Store) writeJob(ctx context.Context, tx *sql.Tx, j *store.Job, read jobRead) error {
	args := jobArgs(j)
	if reflect.DeepEqual(args, read.args) {
		return nil
	}
	err := s.execOne(ctx, tx, `UPDATE jobs SET `+jobSet+`, version = version + 1 WHERE id = ? AND version = ?`,
		append(args, j.ID, read.version)...)
	if errors.Is(err, store.ErrNotFound) {
		return errJobChanged
	}
	if err != nil {
		return fmt.Errorf("write job %d: %w", j.ID, err)
	}
	return nil
}

// ClaimJob implements store.Jobs. "Oldest" is the lowest ID. A claim is one statement (two
// when the request repeats an earlier one's key): it picks the oldest pending job whose tags
// the runner has, skipping rows others hold (a concurrent claim or a write), and takes it, so
// concurrent claims never wait for each other nor get the same job.
func (s *Store) ClaimJob(ctx context.Context, c store.Claim) (*store.Job, error) {
	if c.Runner == nil {
		return nil, errors.New("claim job: no runner")
	}
	if c.Key != "" {
		// The runner never got the answer with the job's token: a new one replaces it.
		// claim_key <> '' lets the partial index serve the lookup.
		j, err := one(ctx, s, s.w, scanJob, `UPDATE jobs SET token_hash = ?, lease_until = ?, version = version + 1
	WHERE runner_id = ? AND claim_key = ? AND claim_key <> '' AND status = ? RETURNING `+jobCols,
			c.TokenHash, nanos(c.LeaseUntil), c.Runner.ID, c.Key, status.Running)
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("renew earlier claim of runner %d: %w", c.Runner.ID, err)
		}
	}
	tags := "[]"
	if len(c.Runner.Tags) > 0 {
		tags = jsonText(c.Runner.Tags)
	}
	// The statuses are literals: with parameters, Postgres's generic plan of a prepared
	// statement cannot tell that few rows are pending and scans the table.
	untagged := "FALSE"
	if c.Runner.RunUntagged {
		untagged = "TRUE"
	}
	query := `UPDATE jobs SET status = 'running', runner_id = ?, token_hash = ?, claim_key = ?,
	lease_until = ?, started = ?, version = version + 1
	WHERE status = 'pending' AND NOT EXISTS (SELECT 1 FROM runners WHERE id = ? AND paused)
		AND id = (SELECT id FROM jobs WHERE status = 'pending' AND NOT retried
		AND ((tags = '' AND ` + untagged + `) OR (tags <> '' AND ` + s.d.TagsWithin + `))
		ORDER BY id LIMIT 1` + s.d.SkipLocked + `)
	RETURNING ` + jobCols
	args := []any{c.Runner.ID, c.TokenHash, c.Key, nanos(c.LeaseUntil), nanos(c.Now), c.Runner.ID, tags}
	var j *store.Job
	var err error
	if s.d.ClaimSetup == "" {
		j, err = one(ctx, s, s.w, scanJob, query, args...)
	} else {
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, s.d.ClaimSetup); err != nil {
				return fmt.Errorf("set up claim: %w", err)
			}
			j, err = one(ctx, s, tx, scanJob, query, args...)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("claim job for runner %d: %w", c.Runner.ID, err)
	}
	return j, nil
}

// Heartbeat implements store.Jobs.
func (s *Store) Heartbeat(ctx context.Context, jobID, runnerID int64, leaseUntil time.Time) (bool, error) {
	var cancel bool
	err := s.w.QueryRowContext(ctx, s.q(`UPDATE jobs SET lease_until = ?, version = version + 1 WHERE id = ? AND runner_id = ? AND status = ?
	RETURNING cancel_requested`), nanos(leaseUntil), jobID, runnerID, status.Running).Scan(&cancel)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("heartbeat job %d: %w", jobID, store.ErrLeaseLost)
	}
	if err != nil {
		return false, fmt.Errorf("heartbeat job %d: %w", jobID, s.err(err))
	}
	return cancel, nil
}

// ExpiredJobs implements store.Jobs, oldest first.
func (s *Store) ExpiredJobs(ctx context.Context, now time.Time) ([]*store.Job, error) {
	js, err := list(ctx, s, s.r, scanJob, `SELECT `+jobCols+` FROM jobs WHERE status = ? AND lease_until < ? ORDER BY id`,
		status.Running, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("list expired jobs: %w", err)
	}
	return js, nil
}

// ExtendLeases implements store.Jobs.
func (s *Store) ExtendLeases(ctx context.Context, until time.Time) error {
	_, err := s.exec(ctx, s.w, `UPDATE jobs SET lease_until = ?, version = version + 1 WHERE status = ? AND lease_until < ?`,
		nanos(until), status.Running, nanos(until))
	if err != nil {
		return fmt.Errorf("extend leases: %w", err)
	}
	return nil
}

// CountJobs implements store.Jobs.
func (s *Store) CountJobs(ctx context.Context) (map[status.Status]int, error) {
	type count struct {
		status status.Status
		n      int
	}
	cs, err := list(ctx, s, s.r, func(r scanner) (*count, error) {
		var c count
		return &c, r.Scan(&c.status, &c.n)
	}, `SELECT status, COUNT(*) FROM jobs WHERE NOT retried GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	m := make(map[status.Status]int, len(cs))
	for _, c := range cs {
		m[c.status] = c.n
	}
	return m, nil
}

// JobsByStatus implements store.Jobs.
func (s *Store) JobsByStatus(ctx context.Context, st status.Status, limit int) ([]*store.Job, error) {
	if limit <= 0 {
		limit = 1000
	}
	js, err := list(ctx, s, s.r, scanJob, `SELECT `+jobCols+` FROM jobs WHERE status = ? AND NOT retried ORDER BY id LIMIT `+
		strconv.Itoa(limit), st)
	if err != nil {
		return nil, fmt.Errorf("list %s jobs: %w", st, err)
	}
	return js, nil
}

// AcquireResource implements store.Jobs: the group's row names its holder, and inserting it
// is atomic on every database.
func (s *Store) AcquireResource(ctx context.Context, projectID int64, group string, jobID int64) (bool, error) {
	var holder int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO resource_groups (project_id, name, job_id) VALUES (?, ?, ?)
	ON CONFLICT (project_id, name) DO NOTHING`, projectID, group, jobID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, s.q(`SELECT job_id FROM resource_groups WHERE project_id = ? AND name = ?`),
			projectID, group).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // released meanwhile: not ours now; the caller tries again later
		}
		return s.err(err)
	})
	if err != nil {
		return false, fmt.Errorf("acquire resource group %q: %w", group, err)
	}
	return holder == jobID, nil
}

// ReleaseResource implements store.Jobs.
func (s *Store) ReleaseResource(ctx context.Context, projectID int64, group string, jobID int64) error {
	_, err := s.exec(ctx, s.w, `DELETE FROM resource_groups WHERE project_id = ? AND name = ? AND job_id = ?`, projectID, group, jobID)
	if err != nil {
		return fmt.Errorf("release resource group %q: %w", group, err)
	}
	return nil
}
