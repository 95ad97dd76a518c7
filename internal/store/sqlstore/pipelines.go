package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/internal/store"
)

const pipelineCols = `id, project_id, iid, status, ref, tag, sha, before_sha, source, name, message, author_name, author_email,
	vars, merge_request, protected, parent_id, depth, coverage, created, started, finished`

func scanPipeline(r scanner) (*store.Pipeline, error) {
	var p store.Pipeline
	var vars string
	var cov sql.NullFloat64
	var created, started, finished, depth int64
	if err := r.Scan(&p.ID, &p.ProjectID, &p.IID, &p.Status, &p.Ref, &p.Tag, &p.SHA, &p.BeforeSHA, &p.Source, &p.Name,
		&p.Message, &p.AuthorName, &p.AuthorEmail, &vars, &p.MergeRequest, &p.Protected, &p.ParentID, &depth, &cov,
		&created, &started, &finished); err != nil {
		return nil, err
	}
	p.Depth = int(depth)
	p.Coverage = floatPtr(cov)
	p.Created, p.Started, p.Finished = fromNanos(created), fromNanos(started), fromNanos(finished)
	if err := fromJSON(vars, &p.Vars); err != nil {
		return nil, err
	}
	return &p, nil
}

// pipelineArgs are the columns UpdatePipeline writes, ending with the ID.
func pipelineArgs(p *store.Pipeline) []any {
	return []any{p.Status, p.Ref, p.Tag, p.SHA, p.BeforeSHA, p.Source, p.Name, p.Message, p.AuthorName, p.AuthorEmail,
		jsonMap(p.Vars), p.MergeRequest, nullFloat(p.Coverage), nanos(p.Started), nanos(p.Finished), p.ID}
}

// CreatePipeline implements store.Pipelines. The project's row keeps the last IID given:
// incrementing it locks the row, so concurrent creations in a project number in turn.
// Created times are the current time unless set.
func (s *Store) CreatePipeline(ctx context.Context, p *store.Pipeline, jobs []*store.Job) error {
	if p.Created.IsZero() {
		p.Created = now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`UPDATE projects SET last_iid = last_iid + 1 WHERE id = ? RETURNING last_iid`),
			p.ProjectID).Scan(&p.IID); err != nil {
			return fmt.Errorf("number pipeline: %w", s.err(err))
		}
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO pipelines (project_id, iid, status, ref, tag, sha, before_sha, source,
	name, message, author_name, author_email, vars, merge_request, protected, parent_id, depth, coverage, created, started,
	finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			p.ProjectID, p.IID, p.Status, p.Ref, p.Tag, p.SHA, p.BeforeSHA, p.Source, p.Name, p.Message, p.AuthorName,
			p.AuthorEmail, jsonMap(p.Vars), p.MergeRequest, p.Protected, p.ParentID, int64(p.Depth), nullFloat(p.Coverage),
			nanos(p.Created), nanos(p.Started), nanos(p.Finished)).Scan(&p.ID); err != nil {
			return fmt.Errorf("insert: %w", s.err(err))
		}
		for _, j := range jobs {
			if err := s.insertJob(ctx, tx, p, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create pipeline: %w", err)
	}
	return nil
}

// Pipeline implements store.Pipelines.
func (s *Store) Pipeline(ctx context.Context, id int64) (*store.Pipeline, error) {
	p, err := one(ctx, s, s.r, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get pipeline %d: %w", id, err)
	}
	return p, nil
}

// Pipelines implements store.Pipelines.
func (s *Store) Pipelines(ctx context.Context, projectID int64, f store.PipelineFilter) ([]*store.Pipeline, error) {
	var where []string
	var args []any
	if projectID != 0 {
		where, args = append(where, "project_id = ?"), append(args, projectID)
	}
	if f.Ref != "" {
		where, args = append(where, "ref = ?"), append(args, f.Ref)
	}
	if f.Source != "" {
		where, args = append(where, "source = ?"), append(args, f.Source)
	}
	if f.ParentID != 0 {
		where, args = append(where, "parent_id = ?"), append(args, f.ParentID)
	}
	if len(f.Status) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Status))+")")
		for _, st := range f.Status {
			args = append(args, st)
		}
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + pipelineCols + ` FROM pipelines`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	ps, err := list(ctx, s, s.r, scanPipeline, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return ps, nil
}

// ActivePipelines implements store.Pipelines.
func (s *Store) ActivePipelines(ctx context.Context) ([]*store.Pipeline, error) {
	ps, err := list(ctx, s, s.r, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines
	WHERE status NOT IN (`+placeholders(len(finalStatuses))+`) ORDER BY id`, finalStatuses...)
	if err != nil {
		return nil, fmt.Errorf("list active pipelines: %w", err)
	}
	return ps, nil
}

// UpdatePipeline implements store.Pipelines. The pipeline's row lock orders the calls on one
// pipeline; its jobs are written only if their version is the one read (no other writer
// waits for the whole pipeline), else the transaction is rolled back and run again.
func (s *Store) UpdatePipeline(ctx context.Context, id int64, fn func(p *store.Pipeline, jobs *[]*store.Job) error) error {
	for try := 1; ; try++ {
		err := s.updatePipeline(ctx, id, fn)
		if !errors.Is(err, errJobChanged) {
			return err
		}
		if try == maxTries {
			return fmt.Errorf("update pipeline %d: its jobs kept changing, %d tries: %w", id, try, err)
		}
	}
}

// maxTries bounds the runs of an UpdatePipeline whose jobs keep changing under it.
const maxTries = 50

// errJobChanged: a job changed between UpdatePipeline's read and its write.
var errJobChanged = errors.New("a job changed meanwhile")

func (s *Store) updatePipeline(ctx context.Context, id int64, fn func(p *store.Pipeline, jobs *[]*store.Job) error) error {
	var fnErr error
	err := s.tx(ctx, func(tx *sql.Tx) error {
		p, err := one(ctx, s, tx, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines WHERE id = ?`+s.d.ForUpdate, id)
		if err != nil {
			return fmt.Errorf("lock pipeline: %w", err)
		}
		before := map[int64]jobRead{}
		jobs, err := list(ctx, s, tx, func(r scanner) (*store.Job, error) {
			var read jobRead
			j, err := read.scan(r)
			if err == nil {
				before[j.ID] = read
			}
			return j, err
		}, `SELECT `+jobCols+`, version FROM jobs WHERE pipeline_id = ? ORDER BY position, id`, id)
		if err != nil {
			return fmt.Errorf("read jobs: %w", err)
		}
		pBefore := cloneArgs(pipelineArgs(p))
		if err := fn(p, &jobs); err != nil {
			fnErr = err
			return err
		}
		p.ID = id
		if args := pipelineArgs(p); !reflect.DeepEqual(args, pBefore) {
			if _, err := s.exec(ctx, tx, `UPDATE pipelines SET status = ?, ref = ?, tag = ?, sha = ?, before_sha = ?, source = ?,
	name = ?, message = ?, author_name = ?, author_email = ?, vars = ?, merge_request = ?, coverage = ?, started = ?,
	finished = ? WHERE id = ?`, args...); err != nil {
				return fmt.Errorf("write pipeline: %w", err)
			}
		}
		for _, j := range jobs {
			old, ok := before[j.ID]
			if !ok || j.ID == 0 {
				if err := s.insertJob(ctx, tx, p, j); err != nil {
					return err
				}
				continue
			}
			if err := s.writeJob(ctx, tx, j, old); err != nil {
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil && !errors.Is(err, errJobChanged) {
		return fmt.Errorf("update pipeline %d: %w", id, err)
	}
	return err
}

func cloneArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if b, ok := a.([]byte); ok {
			a = append([]byte(nil), b...)
			if len(b) == 0 {
				a = []byte(nil)
			}
		}
		out[i] = a
	}
	return out
}

// DeletePipelines implements store.Pipelines. It locks the pipelines it deletes, so a
// pipeline being retried meanwhile is either deleted before or kept.
func (s *Store) DeletePipelines(ctx context.Context, before time.Time) ([]string, error) {
	var paths []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		args := append([]any{nanos(before)}, finalStatuses...)
		ids, err := list(ctx, s, tx, scanID, `SELECT id FROM pipelines WHERE created < ? AND status IN (`+
			placeholders(len(finalStatuses))+`)`+s.d.ForUpdate, args...)
		if err != nil {
			return fmt.Errorf("select: %w", err)
		}
		for len(ids) > 0 {
			n := min(len(ids), 500)
			in := idList(ids[:n])
			ids = ids[n:]
			jobs := `SELECT id FROM jobs WHERE pipeline_id IN (` + in + `)`
			rows, err := list(ctx, s, tx, func(r scanner) (*string, error) {
				var p string
				return &p, r.Scan(&p)
			}, `SELECT path FROM artifacts WHERE job_id IN (`+jobs+`) ORDER BY job_id, kind`)
			if err != nil {
				return fmt.Errorf("list artifacts: %w", err)
			}
			for _, p := range rows {
				paths = append(paths, *p)
			}
			for _, q := range []string{
				`DELETE FROM artifacts WHERE job_id IN (` + jobs + `)`,
				`DELETE FROM log_chunks WHERE job_id IN (` + jobs + `)`,
				`DELETE FROM resource_groups WHERE job_id IN (` + jobs + `)`,
				`DELETE FROM jobs WHERE pipeline_id IN (` + in + `)`,
				`DELETE FROM pipelines WHERE id IN (` + in + `)`,
			} {
				if _, err := s.exec(ctx, tx, q); err != nil {
					return fmt.Errorf("delete: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete pipelines: %w", err)
	}
	return paths, nil
}

func scanID(r scanner) (*int64, error) {
	var id int64
	return &id, r.Scan(&id)
}

// idList is ids as SQL literals: ints need no placeholders and make no injection.
func idList(ids []*int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(*id, 10))
	}
	return b.String()
}
