#!/usr/bin/env bash
# ensure-postgres.sh starts the Debian PostgreSQL 15 cluster (installing
# postgresql via apt if absent), waits until it accepts connections, creates
# the role slipway (password slipway) and the database slipway_test if they are
# missing, and prints the DSN on stdout. Needs root. Idempotent.
set -euo pipefail

# Only the DSN goes to the caller's stdout: everything the tools print
# (pg_ctlcluster says "Removed stale pid file." after a crash) goes to stderr.
exec 3>&1 1>&2

PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
ROLE=slipway
PASSWORD=slipway
DB=slipway_test
DSN="postgres://$ROLE:$PASSWORD@127.0.0.1:$PG_PORT/$DB?sslmode=disable"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it starts the cluster and runs psql as postgres)"

if ! command -v pg_ctlcluster >/dev/null || [ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]; then
	log "postgresql $PG_VERSION not found: installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-cache show "postgresql-$PG_VERSION" >/dev/null 2>&1; then
		apt-get update -qq
	fi
	if ! apt-get install -y -qq --no-install-recommends postgresql >/dev/null; then
		log "install failed with the current index: refreshing it and retrying"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	fi
fi

# The package creates the cluster; a stripped image might not have it.
if ! pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" 2>/dev/null | grep -q .; then
	log "creating cluster $PG_VERSION/$PG_CLUSTER"
	pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >/dev/null
fi

status=$(pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" | awk '{print $4}')
if [ "$status" != online ]; then
	log "starting cluster $PG_VERSION/$PG_CLUSTER"
	# 3>&-: the server must not inherit the pipe the DSN goes to (the caller would wait for it).
	pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 3>&-
fi

ready=
for _ in $(seq 1 30); do
	if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
		ready=1
		break
	fi
	sleep 1
done
[ -n "$ready" ] || die "postgres on 127.0.0.1:$PG_PORT not ready after 30 s; see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"

psql_admin() {
	# Local socket connections use peer auth: run psql as the OS user postgres.
	# cd / so psql does not complain about an unreadable working directory.
	(cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@")
}

if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
	log "creating role $ROLE"
	psql_admin -c "CREATE ROLE $ROLE"
fi
# Always (re)set the attributes: CREATEDB lets tests make throwaway databases.
psql_admin -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'"
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
	log "creating database $DB"
	psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi

# Check the DSN itself: password auth over TCP, as the tests will connect.
psql -X -q -d "$DSN" -tAc 'SELECT 1' >/dev/null 2>&1 ||
	die "cannot connect with $DSN (check pg_hba.conf allows password auth on 127.0.0.1)"

echo "$DSN" >&3
