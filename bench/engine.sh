#!/usr/bin/env bash
# engine.sh times whole-process lint and plan of a large pipeline:
# `slipway lint` and `slipway jobs --json` against gitlab-ci-local --list.
#
# It generates a JOBS-job .gitlab-ci.yml (bench/gen) into a throwaway git repo
# that looks like a GitLab clone (branch main, origin on gitlab.com,
# origin/HEAD set), then alternates RUNS timed runs of each command and prints
# a markdown table of medians. Any tool error fails the script. If
# cmd/slipway does not build yet, the slipway rows are skipped with a message
# (set BENCH_REQUIRE_SLIPWAY=1 to fail instead).
#
# Env: JOBS (default 1000), RUNS (default 5), KEEP=1 keeps the temp dir,
# SLIPWAY=PATH times that binary instead of building cmd/slipway,
# SLIPWAY_BASE=PATH times that binary's `jobs --json` too (a "before" row).
#
# cmd/slipway is built with CGO_ENABLED=0: the one static binary the README describes (with
# cgo, the net and os/user packages make it dynamically linked, and it starts slower).
set -euo pipefail

export LC_ALL=C # EPOCHREALTIME with a decimal point

JOBS=${JOBS:-1000}
RUNS=${RUNS:-5}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$root/bench/.peers"
cd "$root"

log() { printf 'engine: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

gcl=$("$root/bench/peers.sh")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")
cleanup() {
	if [ "${KEEP:-}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# --- build ---------------------------------------------------------------
mkdir -p "$peers"
slipway=
if [ -n "${SLIPWAY:-}" ]; then
	[ -x "$SLIPWAY" ] || die "SLIPWAY=$SLIPWAY is not an executable"
	slipway=$(cd "$(dirname "$SLIPWAY")" && pwd)/$(basename "$SLIPWAY")
elif [ -d "$root/cmd/slipway" ] && CGO_ENABLED=0 go build -o "$peers/slipway" ./cmd/slipway 2>"$tmp/build.err"; then
	slipway="$peers/slipway"
else
	if [ "${BENCH_REQUIRE_SLIPWAY:-}" = 1 ]; then
		cat "$tmp/build.err" >&2 2>/dev/null || true
		die "cmd/slipway does not build"
	fi
	log "SKIP slipway: cmd/slipway does not build yet"
	[ -s "$tmp/build.err" ] && head -n 5 "$tmp/build.err" | sed 's/^/engine:   /' >&2
fi
go build -o "$peers/gen" ./bench/gen
base=
if [ -n "${SLIPWAY_BASE:-}" ]; then
	[ -x "$SLIPWAY_BASE" ] || die "SLIPWAY_BASE=$SLIPWAY_BASE is not an executable"
	base=$(cd "$(dirname "$SLIPWAY_BASE")" && pwd)/$(basename "$SLIPWAY_BASE")
fi

# --- a repo that looks like a GitLab clone ---------------------------------
repo="$tmp/repo"
mkdir -p "$repo"
"$peers/gen" -jobs "$JOBS" -o "$repo/.gitlab-ci.yml"
(
	cd "$repo"
	git init -q -b main
	git config user.name bench
	git config user.email bench@example.test
	git add .gitlab-ci.yml
	git commit -q -m "bench pipeline"
	git remote add origin git@gitlab.com:bench/big.git
	git update-ref refs/remotes/origin/main HEAD
	git symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
)

# --- runners ---------------------------------------------------------------
# Each runs one whole process in the repo, output to files under $tmp.
# The subshell execs the tool: one fork per run, for every tool alike.
run_slipway_lint() { (cd "$repo" && exec "$slipway" lint); }
run_slipway_jobs() { (cd "$repo" && exec "$slipway" jobs --json); }
run_base_jobs() { (cd "$repo" && exec "$base" jobs --json); }
run_gcl_list() {
	# A fresh empty HOME and no state from the previous run: a cold start.
	local home
	home=$(mktemp -d "$tmp/home.XXXXXX")
	rm -rf "$repo/.gitlab-ci-local"
	(cd "$repo" && HOME="$home" exec "$gcl" --list --no-color)
}

names=()
declare -A tool cmd fn
add() { names+=("$1"); tool[$1]=$2; cmd[$1]=$3; fn[$1]=$4; }
if [ -n "$slipway" ]; then
	add lint slipway "slipway lint" run_slipway_lint
	add jobs slipway "slipway jobs --json" run_slipway_jobs
fi
if [ -n "$base" ]; then
	add base "slipway (SLIPWAY_BASE)" "slipway jobs --json" run_base_jobs
fi
add gcl "gitlab-ci-local 4.73.0" "gitlab-ci-local --list --no-color" run_gcl_list

# once runs a benchmark and fails the script, showing its stderr, if it fails.
once() {
	local name=$1
	if ! "${fn[$name]}" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		log "${cmd[$name]} failed:"
		tail -n 20 "$tmp/$name.err" >&2
		tail -n 5 "$tmp/$name.out" >&2
		exit 1
	fi
}

# --- warm-up and sanity checks ---------------------------------------------
for n in "${names[@]}"; do once "$n"; done
gcl_jobs=$(($(wc -l <"$tmp/gcl.out") - 1))
log "gitlab-ci-local --list listed $gcl_jobs jobs"
if [ "$gcl_jobs" -lt $((JOBS * 8 / 10)) ]; then
	die "gitlab-ci-local listed $gcl_jobs jobs, expected about $JOBS"
fi
if [ -n "$slipway" ]; then
	# Best effort: the JSON shape is slipway's; count top-level or .jobs entries.
	count=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if isinstance(d, dict):
    d = d.get("jobs", d)
print(len(d))' "$tmp/jobs.out" 2>/dev/null) || count="?"
	log "slipway jobs --json listed $count jobs"
fi

if [ -n "$base" ] && [ -n "$slipway" ] && ! cmp -s "$tmp/jobs.out" "$tmp/base.out"; then
	log "warning: SLIPWAY_BASE prints other jobs than slipway"
fi

# --- timed, alternating runs -----------------------------------------------
# CPU load over the timed runs: busy % of all CPUs from /proc/stat (other work included).
cpu_sample() { awk '/^cpu / {idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t, idle}' /proc/stat; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_before=$(cpu_sample)
declare -A times
for ((r = 0; r < RUNS; r++)); do
	# Rotate the order each round so no tool always runs first.
	k=${#names[@]}
	for ((j = 0; j < k; j++)); do
		n=${names[$(((r + j) % k))]}
		# Timed from just before the fork to just after the exit, with bash's clock: no
		# process of the measurement's own in the timed region.
		t0=$EPOCHREALTIME
		once "$n"
		t1=$EPOCHREALTIME
		times[$n]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) * 1000}') "
	done
	log "round $((r + 1))/$RUNS done"
done

busy=$(awk -v a="$cpu_before" -v b="$(cpu_sample)" 'BEGIN {split(a, x, " "); split(b, y, " "); dt = y[1] - x[1]; di = y[2] - x[2]; if (dt > 0) printf "%.0f", 100 * (dt - di) / dt; else print "?"}')

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.0f\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minimum() { tr ' ' '\n' | grep . | sort -n | head -n 1 | awk '{printf "%.0f\n", $1}'; }

ref=
[ -n "$slipway" ] && ref=$(median <<<"${times[jobs]}")

echo
echo "$JOBS-job pipeline ($(wc -l <"$repo/.gitlab-ci.yml") lines), $RUNS alternating runs each, whole process;" \
	"$(nproc) CPUs, Node $(node --version), gitlab-ci-local listed $gcl_jobs jobs"
echo
echo "| tool | command | median ms | min ms | ratio vs slipway jobs |"
echo "|---|---|---:|---:|---:|"
for n in "${names[@]}"; do
	med=$(median <<<"${times[$n]}")
	mn=$(minimum <<<"${times[$n]}")
	if [ -n "$ref" ] && [ "$ref" -gt 0 ]; then
		ratio=$(awk -v a="$med" -v b="$ref" 'BEGIN {printf "%.1fx", a / b}')
	else
		ratio="n/a"
	fi
	echo "| ${tool[$n]} | \`${cmd[$n]}\` | $med | $mn | $ratio |"
done
if [ -z "$slipway" ]; then
	echo
	echo "(slipway rows skipped: cmd/slipway does not build yet)"
fi
echo
echo "Load: average $load_before before the timed runs, $(cut -d' ' -f1-3 /proc/loadavg) after;" \
	"CPU busy ${busy} % of $(nproc) CPUs during them (other work included)."
