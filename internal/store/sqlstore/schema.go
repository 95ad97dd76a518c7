package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// migration is one step of the schema, known by its version. In its text, {{id}} is the
// dialect's id column type and {{blob}} its bytes type; every statement ends with ";\n".
type migration struct {
	version int
	text    string
}

// migrations are the schema's steps, in order of version. Steps are only ever added, each with
// a version of its own; versions need not be consecutive (a step developed on a branch keeps
// the number it was given), and a database gets every step it has not recorded, whatever the
// versions it has.
var migrations = []migration{
	{1, `
CREATE TABLE projects (
	id {{id}},
	path TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	clone_url TEXT NOT NULL,
	default_branch TEXT NOT NULL,
	webhook_secret TEXT NOT NULL,
	forge TEXT NOT NULL,
	forge_url TEXT NOT NULL,
	forge_repo TEXT NOT NULL,
	forge_token TEXT NOT NULL,
	hooks TEXT NOT NULL,
	tags TEXT NOT NULL,
	last_iid BIGINT NOT NULL DEFAULT 0,
	created BIGINT NOT NULL
);
CREATE TABLE variables (
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	key TEXT NOT NULL,
	environment TEXT NOT NULL,
	value TEXT NOT NULL,
	masked BOOLEAN NOT NULL,
	protected BOOLEAN NOT NULL,
	file BOOLEAN NOT NULL,
	PRIMARY KEY (project_id, key, environment)
);
CREATE TABLE schedules (
	id {{id}},
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	description TEXT NOT NULL,
	cron TEXT NOT NULL,
	timezone TEXT NOT NULL,
	ref TEXT NOT NULL,
	vars TEXT NOT NULL,
	active BOOLEAN NOT NULL,
	next_run BIGINT NOT NULL
);
CREATE INDEX schedules_project ON schedules (project_id);
CREATE TABLE pipelines (
	id {{id}},
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	iid BIGINT NOT NULL,
	status TEXT NOT NULL,
	ref TEXT NOT NULL,
	tag BOOLEAN NOT NULL,
	sha TEXT NOT NULL,
	before_sha TEXT NOT NULL,
	source TEXT NOT NULL,
	name TEXT NOT NULL,
	message TEXT NOT NULL,
	author_name TEXT NOT NULL,
	author_email TEXT NOT NULL,
	vars TEXT NOT NULL,
	merge_request BIGINT NOT NULL,
	coverage DOUBLE PRECISION,
	created BIGINT NOT NULL,
	started BIGINT NOT NULL,
	finished BIGINT NOT NULL,
	UNIQUE (project_id, iid)
);
CREATE INDEX pipelines_status ON pipelines (status, id);
CREATE INDEX pipelines_created ON pipelines (created);
CREATE TABLE jobs (
	id {{id}},
	pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	project_id BIGINT NOT NULL,
	name TEXT NOT NULL,
	stage TEXT NOT NULL,
	stage_index BIGINT NOT NULL,
	position BIGINT NOT NULL,
	status TEXT NOT NULL,
	spec {{blob}},
	tags TEXT NOT NULL,
	resource_group TEXT NOT NULL,
	attempt BIGINT NOT NULL,
	retried BOOLEAN NOT NULL,
	run_at BIGINT NOT NULL,
	runner_id BIGINT NOT NULL,
	failure_reason TEXT NOT NULL,
	exit_code BIGINT NOT NULL,
	token_hash TEXT NOT NULL,
	claim_key TEXT NOT NULL,
	lease_until BIGINT NOT NULL,
	cancel_requested BOOLEAN NOT NULL,
	dotenv {{blob}},
	coverage DOUBLE PRECISION,
	created BIGINT NOT NULL,
	queued BIGINT NOT NULL,
	started BIGINT NOT NULL,
	finished BIGINT NOT NULL,
	log_size BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_pipeline ON jobs (pipeline_id, position, id);
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_token ON jobs (token_hash) WHERE token_hash <> '';
CREATE INDEX jobs_claim ON jobs (runner_id, claim_key) WHERE claim_key <> '';
CREATE TABLE log_chunks (
	job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	off BIGINT NOT NULL,
	data {{blob}} NOT NULL,
	PRIMARY KEY (job_id, off)
);
CREATE TABLE artifacts (
	job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	size BIGINT NOT NULL,
	sha256 TEXT NOT NULL,
	path TEXT NOT NULL,
	expire_at BIGINT NOT NULL,
	created BIGINT NOT NULL,
	PRIMARY KEY (job_id, kind)
);
CREATE INDEX artifacts_expire ON artifacts (expire_at) WHERE expire_at <> 0;
CREATE TABLE runners (
	id {{id}},
	name TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	tags TEXT NOT NULL,
	run_untagged BOOLEAN NOT NULL,
	executor TEXT NOT NULL,
	last_seen BIGINT NOT NULL,
	created BIGINT NOT NULL
);
CREATE TABLE tokens (
	id {{id}},
	name TEXT NOT NULL,
	kind TEXT NOT NULL,
	hash TEXT NOT NULL UNIQUE,
	created BIGINT NOT NULL,
	last_used BIGINT NOT NULL
);
CREATE TABLE deliveries (
	id {{id}},
	project_id BIGINT NOT NULL,
	forge TEXT NOT NULL,
	guid TEXT NOT NULL,
	event TEXT NOT NULL,
	status BIGINT NOT NULL,
	outcome TEXT NOT NULL,
	pipeline_id BIGINT NOT NULL,
	created BIGINT NOT NULL
);
CREATE UNIQUE INDEX deliveries_guid ON deliveries (project_id, forge, guid) WHERE guid <> '';
CREATE INDEX deliveries_project ON deliveries (project_id, id);
CREATE TABLE resource_groups (
	project_id BIGINT NOT NULL,
	name TEXT NOT NULL,
	job_id BIGINT NOT NULL,
	PRIMARY KEY (project_id, name)
);
`},
	// Every write of a job's columns but its log size counts up its version: UpdatePipeline
	// writes a job only if it still has the version it read.
	{2, `
ALTER TABLE jobs ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
`},
	// Deliveries are pruned by age across projects (and by count within each, on
	// deliveries_project).
	{3, `
CREATE INDEX deliveries_created ON deliveries (created);
`},
	// Protected branches and the job token allowlist of projects; whether a pipeline gets
	// protected variables, decided at its creation. Pipelines created before are not
	// protected: their protection was decided by a rule that did not check the commit.
	{4, `
ALTER TABLE projects ADD COLUMN protected_branches TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN job_token_allowlist TEXT NOT NULL DEFAULT '';
ALTER TABLE pipelines ADD COLUMN protected BOOLEAN NOT NULL DEFAULT FALSE;
`},
	// The pipeline whose job token made a pipeline, and how deep that chain is (a job token
	// of a pipeline at the depth limit makes no more); the server's cache archives, with their
	// sizes and last use (the per-project quota evicts the least recently used, retention
	// deletes those unused for long).
	{6, `
ALTER TABLE pipelines ADD COLUMN parent_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN depth BIGINT NOT NULL DEFAULT 0;
CREATE TABLE caches (
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	protected BOOLEAN NOT NULL,
	key TEXT NOT NULL,
	size BIGINT NOT NULL,
	used BIGINT NOT NULL,
	PRIMARY KEY (project_id, protected, key)
);
CREATE INDEX caches_used ON caches (used);
CREATE INDEX caches_project_used ON caches (project_id, used);
`},
	// People: users (usernames unique whatever their case), their sessions (the SHA-256 of the
	// cookie's token), personal tokens (kind "personal", tied to a user; expiry and
	// revocation), project members with their roles, and project visibility (existing
	// projects are private: members and admins only).
	{7, `
CREATE TABLE users (
	id {{id}},
	username TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	admin BOOLEAN NOT NULL,
	disabled BOOLEAN NOT NULL,
	created BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE TABLE sessions (
	hash TEXT PRIMARY KEY,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	created BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	last_seen BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);
CREATE INDEX sessions_last_seen ON sessions (last_seen);
ALTER TABLE tokens ADD COLUMN user_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN expires BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN revoked BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tokens_user ON tokens (user_id) WHERE user_id <> 0;
CREATE TABLE members (
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role BIGINT NOT NULL,
	PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user ON members (user_id);
ALTER TABLE projects ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private';
`},
	// The summary of a job's JUnit reports (JSON of jobapi.JUnit), which runners send with
	// the job's end.
	{8, `
ALTER TABLE jobs ADD COLUMN junit {{blob}};
`},
	// Runners: the version of Slipway each said it runs, and whether an admin paused it.
	{9, `
ALTER TABLE runners ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE runners ADD COLUMN paused BOOLEAN NOT NULL DEFAULT FALSE;
`},
}

// migrate brings the schema to the newest version in one transaction: under the dialect's
// migration lock it creates schema_migrations if need be, then runs each step it has not
// recorded, in order, and records it. Opening a migrated database changes nothing; a database
// with a step this program does not know is refused.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.MigrationLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.MigrationLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	applied BIGINT NOT NULL
)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read versions: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("read versions: %w", err)
			}
			applied[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read versions: %w", err)
		}
		for v := range applied {
			if !slices.ContainsFunc(migrations, func(m migration) bool { return m.version == v }) {
				return fmt.Errorf("schema version %d is unknown to this program (newer?)", v)
			}
		}
		for _, m := range migrations {
			if applied[m.version] {
				continue
			}
			text := strings.NewReplacer("{{id}}", s.d.ID, "{{blob}}", s.d.Blob).Replace(m.text)
			for stmt := range strings.SplitSeq(text, ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("step %d: %w", m.version, err)
				}
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, m.version, nanos(now())); err != nil {
				return fmt.Errorf("record step %d: %w", m.version, err)
			}
		}
		return nil
	})
}
