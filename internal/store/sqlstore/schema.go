package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations are the schema's versions: migrations[i] takes it to version i+1. Steps are
// only ever appended. In their text, {{id}} is the dialect's id column type and {{blob}} its
// bytes type; every statement ends with ";\n".
var migrations = []string{
	`
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
`,
	// Every write of a job's columns but its log size counts up its version: UpdatePipeline
	// writes a job only if it still has the version it read.
	`
ALTER TABLE jobs ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
`,
	// Deliveries are pruned by age across projects (and by count within each, on
	// deliveries_project).
	`
CREATE INDEX deliveries_created ON deliveries (created);
`,
}

// migrate brings the schema to the newest version in one transaction: under the dialect's
// migration lock it creates schema_migrations if need be, then runs each missing step and
// records it. Opening a migrated database changes nothing.
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
		var version int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this program's %d", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			text := strings.NewReplacer("{{id}}", s.d.ID, "{{blob}}", s.d.Blob).Replace(migrations[i])
			for stmt := range strings.SplitSeq(text, ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("step %d: %w", i+1, err)
				}
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, i+1, nanos(now())); err != nil {
				return fmt.Errorf("record step %d: %w", i+1, err)
			}
		}
		return nil
	})
}
