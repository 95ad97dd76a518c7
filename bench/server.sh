#!/usr/bin/env bash
# server.sh benchmarks `slipway server` as a whole process, from outside, with
# bench/serverbench (see its package comment), and prints markdown tables:
#
#   dispatch  10,000 queued jobs (100 pipelines of one job with parallel: 100, through the
#             API) drained by 100 fake runners (goroutines speaking the runner protocol over
#             keep-alive HTTP: request → one log chunk → final success): jobs claimed and
#             completed per second, and the latency of the claim. SQLite and Postgres,
#             RUNS rounds each, alternating; medians.
#   webhook   the server idle, one fake runner long-polling: HOOKS signed GitHub push
#             webhooks one after another, each for a new commit made before the clock
#             starts; webhook POST → the runner's request returns the job (p50/p99/max),
#             and the git commands of a push timed alone.
#   rss       VmRSS of an idle server 5 s after it answers, built-in runner off
#             (--runners 0) and on (--runners 2, the default).
#   logread   a 75 MB job log sent as a runner sends it, then read by 8 clients whole and
#             8 as SSE streams from 0, all at once: the server's peak RSS (VmHWM). SQLite.
#
# Woodpecker, the peer the issue names, cannot be built here (the module proxy refuses its
# modules, see ../shared/PEERS.md), so the RSS table has no peer row.
#
# Every server listens on 127.0.0.1 with a fresh data dir; on Postgres each gets a fresh
# schema (search_path) that is dropped after. The Postgres DSN is PG_DSN, else what
# scripts/ensure-postgres.sh prints (it needs root); without one the Postgres rows are
# skipped unless BENCH_REQUIRE_POSTGRES=1.
#
# Env: PARTS (default dispatch,webhook,rss,logread), RUNS (dispatch rounds, default 3),
# WEBHOOK_RUNS (default 3), HOOKS (default 200), HEARTBEAT (dispatch servers, default 10s), KEEP=1 keeps the temp dirs,
# SLIPWAY=PATH benchmarks that binary instead of building cmd/slipway.
set -euo pipefail
export LC_ALL=C

PARTS=${PARTS:-dispatch,webhook,rss,logread}
RUNS=${RUNS:-3}
WEBHOOK_RUNS=${WEBHOOK_RUNS:-3}
HOOKS=${HOOKS:-200}
# The fake runners send no heartbeat; a job's lease is three heartbeats, so the dispatch
# servers get a longer one than the default 1 s (a job claimed in a saturated server can take
# over 3 s to finish). Leases lost anyway are counted and their jobs run again.
HEARTBEAT=${HEARTBEAT:-10s}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$root/bench/.peers"
cd "$root"

log() { printf 'server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
has() { [[ ,$PARTS, == *,$1,* ]]; }

command -v git >/dev/null || die "git is required"
mkdir -p "$peers"
if [ -n "${SLIPWAY:-}" ]; then
	[ -x "$SLIPWAY" ] || die "SLIPWAY=$SLIPWAY is not an executable"
	slipway=$(cd "$(dirname "$SLIPWAY")" && pwd)/$(basename "$SLIPWAY")
else
	log "building cmd/slipway"
	go build -o "$peers/slipway" ./cmd/slipway || die "cmd/slipway does not build"
	slipway="$peers/slipway"
fi
log "building bench/serverbench"
go build -o "$peers/serverbench" ./bench/serverbench || die "bench/serverbench does not build"

dbs=sqlite
dsn=${PG_DSN:-}
if [ -z "$dsn" ] && [ "$(id -u)" -eq 0 ]; then
	dsn=$(bash "$root/scripts/ensure-postgres.sh") || dsn=
fi
if [ -n "$dsn" ]; then
	dbs=sqlite,postgres
elif [ "${BENCH_REQUIRE_POSTGRES:-}" = 1 ]; then
	die "no Postgres: set PG_DSN or run as root so that scripts/ensure-postgres.sh can start it"
else
	log "no Postgres (set PG_DSN): SQLite only"
fi

keep=()
[ "${KEEP:-}" = 1 ] && keep=(-keep)
bench() { "$peers/serverbench" -bin "$slipway" -pg-dsn "$dsn" "${keep[@]}" "$@"; }

# busy: the share of CPU time not idle since the snapshot in $1 (from /proc/stat).
cpu() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; }
busy() { read -r b0 i0 <<<"$1"; read -r b1 i1 <<<"$(cpu)"; awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN{printf "%.0f", 100*b/(b+i)}'; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
echo "## slipway server: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit ($dirty files changed in the work tree), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if has dispatch; then
	log "dispatch: 10,000 jobs, 100 fake runners, $RUNS rounds ($dbs)"
	s=$(cpu)
	echo "### Dispatch: 10,000 queued jobs, 100 fake runners"
	echo
	bench -mode dispatch -db "$dbs" -runs "$RUNS" -pipelines 100 -parallel 100 -runners 100 -heartbeat "$HEARTBEAT" -deadline 40m
	echo
	echo "CPU busy during the part: $(busy "$s") %, load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
fi
if has webhook; then
	log "webhook: $HOOKS webhooks, $WEBHOOK_RUNS rounds ($dbs)"
	s=$(cpu)
	echo "### Webhook → job running, one idle fake runner"
	echo
	bench -mode webhook -db "$dbs" -runs "$WEBHOOK_RUNS" -hooks "$HOOKS" -deadline 30m
	echo
	echo "CPU busy during the part: $(busy "$s") %, load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
fi
if has rss; then
	log "rss: idle servers, $RUNS rounds ($dbs)"
	echo "### Idle RSS"
	echo
	bench -mode rss -db "$dbs" -runs "$RUNS" -idle 5s -deadline 10m
	echo "| Woodpecker server | – | – | – | cannot be built here: the module proxy refuses its modules (../shared/PEERS.md) |"
	echo
fi
if has logread; then
	log "logread: a 75 MB log, 8 clients whole and 8 streams, $RUNS rounds (sqlite)"
	s=$(cpu)
	echo "### Log reads: a 75 MB log, 8 clients whole and 8 as streams"
	echo
	bench -mode logread -db sqlite -runs "$RUNS" -readers 8 -log-mb 75 -deadline 20m
	echo
	echo "CPU busy during the part: $(busy "$s") %, load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
fi
log "finished after $SECONDS s"
