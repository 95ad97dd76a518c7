package sqlstore

import (
	"context"
	"fmt"

	"github.com/slipway/slipway/internal/store"
)

const projectCols = `id, path, name, clone_url, default_branch, webhook_secret, forge, forge_url, forge_repo, forge_token, hooks, tags,
	protected_branches, job_token_allowlist, visibility, created`

func scanProject(r scanner) (*store.Project, error) {
	var p store.Project
	var hooks, tags, protected, allow string
	var created int64
	if err := r.Scan(&p.ID, &p.Path, &p.Name, &p.CloneURL, &p.DefaultBranch, &p.WebhookSecret, &p.Forge, &p.ForgeURL,
		&p.ForgeRepo, &p.ForgeToken, &hooks, &tags, &protected, &allow, &p.Visibility, &created); err != nil {
		return nil, err
	}
	p.Created = fromNanos(created)
	for _, c := range []struct {
		text string
		dst  *[]string
	}{{hooks, &p.Hooks}, {tags, &p.Tags}, {protected, &p.ProtectedBranches}, {allow, &p.JobTokenAllowlist}} {
		if err := fromJSON(c.text, c.dst); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// CreateProject implements store.Projects. p.Created is the current time unless set, and an
// empty p.Visibility is set to store.VisibilityPrivate.
func (s *Store) CreateProject(ctx context.Context, p *store.Project) error {
	if p.Created.IsZero() {
		p.Created = now()
	}
	if p.Visibility == "" {
		p.Visibility = store.VisibilityPrivate
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO projects (path, name, clone_url, default_branch, webhook_secret, forge,
	forge_url, forge_repo, forge_token, hooks, tags, protected_branches, job_token_allowlist, visibility, created)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		p.Path, p.Name, p.CloneURL, p.DefaultBranch, p.WebhookSecret, p.Forge, p.ForgeURL, p.ForgeRepo, p.ForgeToken,
		jsonText(p.Hooks), jsonText(p.Tags), jsonText(p.ProtectedBranches), jsonText(p.JobTokenAllowlist), p.Visibility,
		nanos(p.Created)).Scan(&p.ID)
	if err != nil {
		return fmt.Errorf("create project %q: %w", p.Path, s.err(err))
	}
	return nil
}

// UpdateProject implements store.Projects; an empty p.Visibility is set to
// store.VisibilityPrivate.
func (s *Store) UpdateProject(ctx context.Context, p *store.Project) error {
	if p.Visibility == "" {
		p.Visibility = store.VisibilityPrivate
	}
	err := s.execOne(ctx, s.w, `UPDATE projects SET path = ?, name = ?, clone_url = ?, default_branch = ?, webhook_secret = ?,
	forge = ?, forge_url = ?, forge_repo = ?, forge_token = ?, hooks = ?, tags = ?, protected_branches = ?,
	job_token_allowlist = ?, visibility = ? WHERE id = ?`,
		p.Path, p.Name, p.CloneURL, p.DefaultBranch, p.WebhookSecret, p.Forge, p.ForgeURL, p.ForgeRepo, p.ForgeToken,
		jsonText(p.Hooks), jsonText(p.Tags), jsonText(p.ProtectedBranches), jsonText(p.JobTokenAllowlist), p.Visibility, p.ID)
	if err != nil {
		return fmt.Errorf("update project %d: %w", p.ID, err)
	}
	return nil
}

// Project implements store.Projects.
func (s *Store) Project(ctx context.Context, id int64) (*store.Project, error) {
	p, err := one(ctx, s, s.r, scanProject, `SELECT `+projectCols+` FROM projects WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get project %d: %w", id, err)
	}
	return p, nil
}

// ProjectByPath implements store.Projects.
func (s *Store) ProjectByPath(ctx context.Context, path string) (*store.Project, error) {
	p, err := one(ctx, s, s.r, scanProject, `SELECT `+projectCols+` FROM projects WHERE path = ?`, path)
	if err != nil {
		return nil, fmt.Errorf("get project %q: %w", path, err)
	}
	return p, nil
}

// ListProjects implements store.Projects.
func (s *Store) ListProjects(ctx context.Context) ([]*store.Project, error) {
	ps, err := list(ctx, s, s.r, scanProject, `SELECT `+projectCols+` FROM projects ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

// SetVariable implements store.Projects.
func (s *Store) SetVariable(ctx context.Context, v *store.Variable) error {
	_, err := s.exec(ctx, s.w, `INSERT INTO variables (project_id, key, environment, value, masked, protected, file)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (project_id, key, environment) DO UPDATE SET value = excluded.value, masked = excluded.masked,
	protected = excluded.protected, file = excluded.file`,
		v.ProjectID, v.Key, v.Environment, v.Value, v.Masked, v.Protected, v.File)
	if err != nil {
		return fmt.Errorf("set variable %q: %w", v.Key, err)
	}
	return nil
}

// DeleteVariable implements store.Projects.
func (s *Store) DeleteVariable(ctx context.Context, projectID int64, key, environment string) error {
	err := s.execOne(ctx, s.w, `DELETE FROM variables WHERE project_id = ? AND key = ? AND environment = ?`, projectID, key, environment)
	if err != nil {
		return fmt.Errorf("delete variable %q: %w", key, err)
	}
	return nil
}

// Variables implements store.Projects, ordered by key then environment.
func (s *Store) Variables(ctx context.Context, projectID int64) ([]*store.Variable, error) {
	vs, err := list(ctx, s, s.r, func(r scanner) (*store.Variable, error) {
		var v store.Variable
		err := r.Scan(&v.ProjectID, &v.Key, &v.Environment, &v.Value, &v.Masked, &v.Protected, &v.File)
		return &v, err
	}, `SELECT project_id, key, environment, value, masked, protected, file FROM variables WHERE project_id = ?
	ORDER BY key, environment`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list variables: %w", err)
	}
	return vs, nil
}

const scheduleCols = `id, project_id, description, cron, timezone, ref, vars, active, next_run`

func scanSchedule(r scanner) (*store.Schedule, error) {
	var sc store.Schedule
	var vars string
	var next int64
	if err := r.Scan(&sc.ID, &sc.ProjectID, &sc.Description, &sc.Cron, &sc.Timezone, &sc.Ref, &vars, &sc.Active, &next); err != nil {
		return nil, err
	}
	sc.NextRun = fromNanos(next)
	if err := fromJSON(vars, &sc.Vars); err != nil {
		return nil, err
	}
	return &sc, nil
}

// CreateSchedule implements store.Projects.
func (s *Store) CreateSchedule(ctx context.Context, sc *store.Schedule) error {
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO schedules (project_id, description, cron, timezone, ref, vars, active, next_run)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		sc.ProjectID, sc.Description, sc.Cron, sc.Timezone, sc.Ref, jsonMap(sc.Vars), sc.Active, nanos(sc.NextRun)).Scan(&sc.ID)
	if err != nil {
		return fmt.Errorf("create schedule: %w", s.err(err))
	}
	return nil
}

// UpdateSchedule implements store.Projects.
func (s *Store) UpdateSchedule(ctx context.Context, sc *store.Schedule) error {
	err := s.execOne(ctx, s.w, `UPDATE schedules SET project_id = ?, description = ?, cron = ?, timezone = ?, ref = ?, vars = ?,
	active = ?, next_run = ? WHERE id = ?`,
		sc.ProjectID, sc.Description, sc.Cron, sc.Timezone, sc.Ref, jsonMap(sc.Vars), sc.Active, nanos(sc.NextRun), sc.ID)
	if err != nil {
		return fmt.Errorf("update schedule %d: %w", sc.ID, err)
	}
	return nil
}

// DeleteSchedule implements store.Projects.
func (s *Store) DeleteSchedule(ctx context.Context, id int64) error {
	if err := s.execOne(ctx, s.w, `DELETE FROM schedules WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete schedule %d: %w", id, err)
	}
	return nil
}

// Schedules implements store.Projects, ordered by ID.
func (s *Store) Schedules(ctx context.Context, projectID int64) ([]*store.Schedule, error) {
	q, args := `SELECT `+scheduleCols+` FROM schedules ORDER BY id`, []any(nil)
	if projectID != 0 {
		q, args = `SELECT `+scheduleCols+` FROM schedules WHERE project_id = ? ORDER BY id`, []any{projectID}
	}
	scs, err := list(ctx, s, s.r, scanSchedule, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return scs, nil
}
