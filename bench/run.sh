#!/usr/bin/env bash
# run.sh times `slipway run` (local pipeline runs) side by side with gitlab-ci-local and with
# the physical limits of this machine, in four parts:
#
#   a  a 20-job, 4-stage shell pipeline of `echo`s: `slipway run --executor shell` against
#      `gitlab-ci-local --shell-isolation` and plain `gitlab-ci-local` (whole process).
#   b  one docker job `true` on slipway-test/busybox:1: `slipway run --executor docker`
#      (whole process, and the job's own duration from --json-events) and the in-process
#      Go benchmark BenchmarkTrueJob, against `docker run --rm slipway-test/busybox:1 true`.
#   c  100 MB of job output (`yes … | head -c 100000000`) through the log path, to
#      /dev/null: throughput and peak RSS, text and --json-events; gitlab-ci-local once,
#      capped at PEER_CAP seconds.
#   d  build-dir preparation for a committed 10,000-file repo (1 KiB files in 100 dirs):
#      a 5-job and a 1-job pipeline of `true` (shell) back to back, cold (no state), and the
#      1-job one again warm (the state of the previous run kept), against gitlab-ci-local
#      (with and without --shell-isolation) and `cp -a` / `cp -al` of the tree.
#
# Every part alternates the tools round by round (order rotated), takes medians and prints
# markdown tables with ratios; CPU load (busy % from /proc/stat, load average, CPU pressure)
# is printed for every part because the machine is shared. gitlab-ci-local gets a fresh
# empty HOME and no .gitlab-ci-local/ state for every cold run. Any failed Slipway, docker
# or gitlab-ci-local run fails the script (except gitlab-ci-local in part c, which is
# reported). The whole run keeps to BUDGET seconds by dropping rounds (it says so).
#
# Env: PARTS (default abcd), RUNS (rounds of a and b, default 5), RUNS_C (default 3),
# RUNS_D (default 5), PEER_CAP (default 120), BUDGET (default 840), KEEP=1 keeps the temp
# dir, SLIPWAY=PATH times that binary instead of building cmd/slipway, SLIPWAY_BASE=PATH also
# times that binary (say, a build of main) in part d, the same way and in the same rounds.
set -euo pipefail
export LC_ALL=C

PARTS=${PARTS:-abcd}
RUNS=${RUNS:-5}
RUNS_C=${RUNS_C:-3}
RUNS_D=${RUNS_D:-5}
PEER_CAP=${PEER_CAP:-120}
BUDGET=${BUDGET:-840}
CAP=${CAP:-300} # any one timed command
IMAGE=slipway-test/busybox:1
# gitlab-ci-local takes any GCL_* environment variable as an option (GCL_FOO=1 is --foo=1).
for v in ${!GCL_@}; do unset "$v"; done
LOGLINE='some log line of about sixty bytes of text here.....'

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$root/bench/.peers"
cd "$root"

log() { printf 'run: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v git >/dev/null || die "git is required"
[ -x /usr/bin/time ] || die "/usr/bin/time is required (apt-get install time)"
gcl=$("$root/bench/peers.sh")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-run-bench.XXXXXX")
cleanup() {
	if [ "${KEEP:-}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
	log "finished after $SECONDS s"
}
trap cleanup EXIT

has() { [[ $PARTS == *$1* ]]; }

# --- build -------------------------------------------------------------------
mkdir -p "$peers"
if [ -n "${SLIPWAY:-}" ]; then
	[ -x "$SLIPWAY" ] || die "SLIPWAY=$SLIPWAY is not an executable"
	slipway=$(cd "$(dirname "$SLIPWAY")" && pwd)/$(basename "$SLIPWAY")
else
	log "building cmd/slipway"
	go build -o "$peers/slipway" ./cmd/slipway || die "cmd/slipway does not build"
	slipway="$peers/slipway"
fi
base=
if [ -n "${SLIPWAY_BASE:-}" ]; then
	[ -x "$SLIPWAY_BASE" ] || die "SLIPWAY_BASE=$SLIPWAY_BASE is not an executable"
	base=$(cd "$(dirname "$SLIPWAY_BASE")" && pwd)/$(basename "$SLIPWAY_BASE")
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)

if has b; then
	if ! timeout 20 docker info >/dev/null 2>&1; then
		bash "$root/scripts/ensure-docker.sh" || die "no Docker engine (part b); run with PARTS=acd to skip it"
	fi
	if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
		log "building $IMAGE (go test ./internal/testenv -run TestImages)"
		go test ./internal/testenv -run TestImages -count=1 >&2 || die "could not build $IMAGE"
	fi
	log "building the docker executor's test binary"
	go test -c -o "$peers/docker.test" ./internal/executor/docker || die "internal/executor/docker tests do not build"
fi

# --- measuring -----------------------------------------------------------------
# A command is timed from just before its fork to just after its exit, with bash's
# EPOCHREALTIME (no extra process on either side). A sleep started beforehand caps it; the
# command runs in a process group of its own (set -m), so that a capped gitlab-ci-local is
# stopped with the job processes it started.
declare -A times # name -> "ms ms ms "
rc=0
ms=0
# capped CAP OUT ERR CMD...: runs CMD in the current directory with stdout to OUT and stderr
# to ERR; sets ms (wall time) and rc (124 when it was stopped after CAP seconds).
capped() {
	local cap=$1 out=$2 err=$3 first= t0 t1 sp pid
	shift 3
	sleep "$cap" &
	sp=$!
	t0=$EPOCHREALTIME
	set -m
	"$@" </dev/null >"$out" 2>"$err" &
	pid=$!
	set +m
	rc=0
	wait -n -p first "$pid" "$sp" || rc=$?
	t1=$EPOCHREALTIME
	if [ "$first" = "$sp" ]; then
		rc=124
		kill -TERM -- "-$pid" 2>/dev/null || true
		sleep 2
		kill -KILL -- "-$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		sleep 1
	else
		kill "$sp" 2>/dev/null || true
		wait "$sp" 2>/dev/null || true
	fi
	ms=$(((${t1/./} - ${t0/./}) / 1000))
}

# fail NAME: a timed run failed; show why and stop.
fail() {
	log "$1 failed (exit $rc):"
	tail -n 15 "$tmp/$1.err" >&2 || true
	tail -n 8 "$tmp/$1.out" >&2 || true
	exit 1
}

median() { tr ' ' '\n' | awk NF | sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
minimum() { tr ' ' '\n' | awk NF | sort -n | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "n/a" }'; }
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }

# CPU load over a part: busy % of all CPUs from /proc/stat between two samples, the load
# average and CPU pressure at the end.
cpu_sample() { awk '/^cpu / {idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t, idle}' /proc/stat; }
part_start() {
	part_t0=$SECONDS
	part_cpu=$(cpu_sample)
}
load_note() {
	local now busy pressure
	now=$(cpu_sample)
	busy=$(awk -v a="$part_cpu" -v b="$now" 'BEGIN {split(a, x, " "); split(b, y, " "); dt = y[1] - x[1]; di = y[2] - x[2]; if (dt > 0) printf "%.0f", 100 * (dt - di) / dt; else print "?"}')
	pressure=$(awk '/^some/ {sub("avg60=", "", $3); print $3}' /proc/pressure/cpu 2>/dev/null || echo "?")
	echo
	echo "Load during this part ($((SECONDS - part_t0)) s): CPU busy ${busy} % of $(nproc) CPUs (other work included)," \
		"load average $(cut -d' ' -f1-3 /proc/loadavg), CPU pressure (some, avg60) ${pressure} %."
}

# rounds NAMES...: the rounds loop; calls run_NAME for each name, order rotated per round,
# for up to $want rounds, fewer when another round would end after $deadline (seconds of
# the whole script: each part has its share of BUDGET), counting $reserve seconds per round
# for work done after the rounds.
rounds_done=0
reserve=0
rounds() {
	local k=$# r j n names=("$@") t
	rounds_done=0
	for ((r = 0; r < want; r++)); do
		t=$SECONDS
		for ((j = 0; j < k; j++)); do
			n=${names[$(((r + j) % k))]}
			"run_$n"
		done
		rounds_done=$((r + 1))
		log "round $rounds_done/$want done ($((SECONDS - t)) s)"
		if ((SECONDS + (SECONDS - t) + reserve * (rounds_done + 1) > deadline && rounds_done < want)); then
			log "time budget: stopping after $rounds_done of $want rounds"
			break
		fi
	done
}

# report PART: what follows goes to PART's report, printed at the end in part order.
report() { exec 3>&1 >"$tmp/report.$1"; }
report_end() { exec 1>&3 3>&-; }

# record NAME: add the last timed run's ms to NAME's times.
record() { times[$1]+="$ms "; }

# new_repo DIR: an empty git repo that looks like a GitLab clone (branch main, origin on
# gitlab.com, origin/HEAD set); neither tool's state directory is part of its work tree.
new_repo() {
	mkdir -p "$1"
	(
		cd "$1"
		git init -q -b main
		git config user.name bench
		git config user.email bench@example.test
		git remote add origin git@gitlab.com:bench/run.git
		printf '.slipway/\n.gitlab-ci-local/\n' >>.git/info/exclude
	)
}
commit_repo() {
	(
		cd "$1"
		git add -A
		git commit -q -m "${2:-bench}"
		git update-ref refs/remotes/origin/main HEAD
		git symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
	)
}
# clean_state: no state of either tool in the current repo. The state is moved aside, not
# deleted: on ext4, creating files soon after deleting many is slow (the allocator skips
# inodes freed in the last minutes), which would charge one tool's cleanup to the next
# tool's run. empty_trash deletes it between parts.
trash_n=0
clean_state() {
	local d
	mkdir -p "$tmp/trash"
	for d in .slipway .gitlab-ci-local; do
		if [ -e "$d" ]; then
			trash_n=$((trash_n + 1))
			mv "$d" "$tmp/trash/$trash_n"
		fi
	done
}
empty_trash() { rm -rf "$tmp/trash" 2>/dev/null || { sleep 2; rm -rf "$tmp/trash"; }; }
fresh_home() { mktemp -d "$tmp/home.XXXXXX"; }

# slipway_ok NAME JOBS: the text output ends in "pipeline success" with JOBS successful jobs.
slipway_ok() {
	grep -q '^pipeline success' "$tmp/$1.out" || { rc=1; fail "$1"; }
	local n
	n=$(awk '/^JOB  *STAGE/ {t = 1; next} t && NF >= 3 && $3 == "success" {c++} END {print c + 0}' "$tmp/$1.out")
	[ "$n" -eq "$2" ] || { log "$1: $n successful jobs, want $2"; rc=1; fail "$1"; }
}
# events_ok NAME JOBS: the last JSON event is a successful pipeline of JOBS jobs.
events_ok() {
	python3 - "$tmp/$1.out" "$2" <<-'EOF' || { rc=1; fail "$1"; }
		import json, sys
		last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
		ok = last.get("type") == "pipeline" and last.get("status") == "success"
		n = sum(1 for j in last.get("jobs", []) if j.get("status") == "success")
		if not ok or n != int(sys.argv[2]):
		    sys.exit(f"last event {last.get('type')} {last.get('status')}, {n} successful jobs")
	EOF
}
# gcl_ok NAME JOBS: gitlab-ci-local passed JOBS jobs.
gcl_ok() {
	local n
	n=$(grep -c 'PASS ' "$tmp/$1.out" || true)
	[ "$n" -eq "$2" ] || { log "$1: $n PASS lines, want $2"; rc=1; fail "$1"; }
}
# job_ms NAME: the durations of the jobs in the last --json-events output, in ms.
job_ms() {
	python3 -c '
import json, sys
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(" ".join(str(round(j["duration_s"] * 1000)) for j in last["jobs"]))' "$tmp/$1.out"
}

# machine facts, once
machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	echo "$(nproc) CPUs ($cpu), $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM," \
		"kernel $(uname -r), $(go version | awk '{print $3}'), Node $(node --version)," \
		"gitlab-ci-local $("$gcl" --version 2>/dev/null | tail -n 1), $(git --version | awk '{print "git " $3}')$(has b && docker version --format ', Docker Engine {{.Server.Version}}' 2>/dev/null || true)"
}

report 0
echo "# slipway run benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "Slipway at $commit$( [ "$dirty" -gt 0 ] && echo " plus $dirty modified tracked files" ). Machine: $(machine)."
report_end

# =============================================================================
# (a) 20 jobs, 4 stages, shell
# =============================================================================
if has a; then
	log "part a: 20-job shell pipeline"
	part_start
	repo="$tmp/a"
	new_repo "$repo"
	{
		echo "stages: [one, two, three, four]"
		i=0
		for s in one two three four; do
			for _ in 1 2 3 4 5; do
				printf '\njob%02d:\n  stage: %s\n  script:\n    - echo "hello from job %d"\n' "$i" "$s" "$i"
				i=$((i + 1))
			done
		done
	} >"$repo/.gitlab-ci.yml"
	commit_repo "$repo"
	cd "$repo"

	run_a_slip() {
		clean_state
		capped "$CAP" "$tmp/a_slip.out" "$tmp/a_slip.err" "$slipway" run --executor shell
		[ "$rc" -eq 0 ] || fail a_slip
		slipway_ok a_slip 20
		record a_slip
	}
	run_a_gcl_iso() {
		clean_state
		local h
		h=$(fresh_home)
		capped "$CAP" "$tmp/a_gcl_iso.out" "$tmp/a_gcl_iso.err" env HOME="$h" "$gcl" --shell-isolation
		[ "$rc" -eq 0 ] || fail a_gcl_iso
		gcl_ok a_gcl_iso 20
		record a_gcl_iso
	}
	run_a_gcl() {
		clean_state
		local h
		h=$(fresh_home)
		capped "$CAP" "$tmp/a_gcl.out" "$tmp/a_gcl.err" env HOME="$h" "$gcl"
		[ "$rc" -eq 0 ] || fail a_gcl
		gcl_ok a_gcl 20
		record a_gcl
	}
	# The floor for any tool that starts a shell per job: 4 stages of 5 parallel bash.
	run_a_ref() {
		capped "$CAP" "$tmp/a_ref.out" "$tmp/a_ref.err" bash -c \
			'for s in 1 2 3 4; do for j in 1 2 3 4 5; do bash -c "echo hello from job $s$j" & done; wait; done'
		[ "$rc" -eq 0 ] || fail a_ref
		record a_ref
	}
	# warm-up (not recorded)
	run_a_slip
	run_a_gcl
	times[a_slip]= times[a_gcl]=
	want=$RUNS deadline=$((BUDGET * 28 / 100))
	rounds a_slip a_gcl_iso a_gcl a_ref
	# Where Slipway's time goes: one more run with events, untimed.
	clean_state
	capped "$CAP" "$tmp/a_ev.out" "$tmp/a_ev.err" "$slipway" run --executor shell --json-events
	[ "$rc" -eq 0 ] || fail a_ev
	events_ok a_ev 20
	a_ev_ms=$ms
	a_crit=$(python3 -c '
import json, sys
last = json.loads(open(sys.argv[1]).read().splitlines()[-1])
stages = {}
for j in last["jobs"]:
    stages[j["stage"]] = max(stages.get(j["stage"], 0), j["duration_s"])
jobs = [j["duration_s"] for j in last["jobs"]]
print(round(sum(stages.values()) * 1000), round(sum(jobs) / len(jobs) * 1000))' "$tmp/a_ev.out")
	clean_state
	empty_trash
	cd "$root"

	report a

	ref=$(median <<<"${times[a_slip]}")
	echo
	echo "## (a) 20 jobs in 4 stages, shell executor, trivial scripts (whole process)"
	echo
	echo "Jobs print one line each; medians of $rounds_done alternating rounds; ratio = that tool's median / Slipway's."
	echo
	echo "| tool | command | median ms | min ms | ratio vs slipway |"
	echo "|---|---|---:|---:|---:|"
	for n in a_slip a_gcl_iso a_gcl a_ref; do
		case $n in
		a_ref) t="reference" c="4 stages × 5 parallel bash -c echo" ;;
		a_slip) t="slipway" c="slipway run --executor shell" ;;
		a_gcl_iso) t="gitlab-ci-local 4.73.0" c="gitlab-ci-local --shell-isolation" ;;
		a_gcl) t="gitlab-ci-local 4.73.0" c="gitlab-ci-local" ;;
		esac
		med=$(median <<<"${times[$n]}")
		echo "| $t | \`$c\` | $med | $(minimum <<<"${times[$n]}") | $(ratio "$med" "$ref") |"
	done
	a_ratio_iso=$(ratio "$(median <<<"${times[a_gcl_iso]}")" "$ref")
	a_ratio=$(ratio "$(median <<<"${times[a_gcl]}")" "$ref")
	read -r crit avg <<<"$a_crit"
	echo
	echo "Where Slipway's time goes (one more run, with --json-events, $a_ev_ms ms): a job's \`duration_s\` averaged"
	echo "$avg ms (bash start-up and the script); the four stages' longest jobs add up to $crit ms. The rest"
	echo "($((a_ev_ms - crit)) ms) is process start, git, load and plan, the snapshot, build dirs and scheduling."
	load_note
	report_end
fi

# =============================================================================
# (b) one docker job `true`
# =============================================================================
if has b; then
	log "part b: docker per-job overhead"
	part_start
	repo="$tmp/b"
	new_repo "$repo"
	printf 'job:\n  image: %s\n  script:\n    - "true"\n' "$IMAGE" >"$repo/.gitlab-ci.yml"
	commit_repo "$repo"
	cd "$repo"

	declare -A bench_ms
	run_b_slip() {
		clean_state
		capped "$CAP" "$tmp/b_slip.out" "$tmp/b_slip.err" "$slipway" run --executor docker --json-events
		[ "$rc" -eq 0 ] || fail b_slip
		events_ok b_slip 1
		record b_slip
		times[b_slip_job]+="$(job_ms b_slip) "
	}
	run_b_docker() {
		capped "$CAP" "$tmp/b_docker.out" "$tmp/b_docker.err" docker run --rm "$IMAGE" true
		[ "$rc" -eq 0 ] || fail b_docker
		record b_docker
	}
	run_b_bench() {
		capped "$CAP" "$tmp/b_bench.out" "$tmp/b_bench.err" "$peers/docker.test" -test.run '^$' \
			-test.bench '^BenchmarkTrueJob$' -test.benchtime 1x
		[ "$rc" -eq 0 ] || fail b_bench
		local line
		line=$(grep '^BenchmarkTrueJob' "$tmp/b_bench.out") || { log "no benchmark result (docker skipped?)"; rc=1; fail b_bench; }
		record b_bench_proc
		# BenchmarkTrueJob-2  1  2345678 ns/op  8.1 cleanup-ms/op  3.0 prepare-ms/op  2300 run-ms/op
		read -r op prep runp clean < <(awk '{for (i = 3; i < NF; i++) {if ($(i+1) == "ns/op") o = $i; if ($(i+1) == "prepare-ms/op") p = $i; if ($(i+1) == "run-ms/op") r = $i; if ($(i+1) == "cleanup-ms/op") c = $i}} END {printf "%d %d %d %d\n", o / 1e6, p, r, c}' <<<"$line")
		times[b_bench]+="$op "
		times[b_bench_prepare]+="$prep "
		times[b_bench_run]+="$runp "
		times[b_bench_cleanup]+="$clean "
	}
	# warm-up (not recorded)
	run_b_docker
	run_b_slip
	times[b_docker]= times[b_slip]= times[b_slip_job]=
	want=$RUNS deadline=$((BUDGET * 40 / 100))
	rounds b_slip b_docker b_bench
	clean_state
	empty_trash
	cd "$root"

	report b

	ref=$(median <<<"${times[b_docker]}")
	echo
	echo "## (b) Docker executor: one job \`true\` on $IMAGE"
	echo
	echo "Medians of $rounds_done alternating rounds; ratio = median / \`docker run --rm\`'s median (the physical limit)."
	echo
	echo "| what | median ms | min ms | ratio vs docker run |"
	echo "|---|---:|---:|---:|"
	row() { local med; med=$(median <<<"${times[$2]}"); echo "| $1 | $med | $(minimum <<<"${times[$2]}") | $(ratio2 "$med" "$ref") |"; }
	row "\`docker run --rm $IMAGE true\` (whole process)" b_docker
	row "\`slipway run --executor docker --json-events\` (whole process)" b_slip
	row "… the job alone (its \`duration_s\` event: prepare, run, cleanup)" b_slip_job
	row "BenchmarkTrueJob, in-process (ns/op of one iteration)" b_bench
	row "… prepare (image inspect)" b_bench_prepare
	row "… run (create, attach, start, wait, remove)" b_bench_run
	row "… cleanup (list and remove what is left)" b_bench_cleanup
	row "(the benchmark's whole test process)" b_bench_proc
	b_ratio_proc=$(ratio2 "$(median <<<"${times[b_slip]}")" "$ref")
	b_ratio_bench=$(ratio2 "$(median <<<"${times[b_bench]}")" "$ref")
	load_note
	report_end
fi

# =============================================================================
# (c) 100 MB of job output
# =============================================================================
if has c; then
	log "part c: 100 MB of job output"
	part_start
	repo="$tmp/c"
	new_repo "$repo"
	# `yes` dies of SIGPIPE when head exits; under GitLab's `set -o pipefail` (bash) that
	# fails the job (exit 141), so the benchmark job ignores yes's status.
	cmd="(yes \"$LOGLINE\" || true) | head -c 100000000"
	printf 'log:\n  script:\n    - %s\n' "'$cmd'" >"$repo/.gitlab-ci.yml"
	commit_repo "$repo"
	cd "$repo"

	declare -A rss
	# timed_rss NAME CMD...: capped and wrapped in /usr/bin/time for the peak RSS (KiB);
	# stdout to $to (default /dev/null).
	timed_rss() {
		local n=$1
		shift
		capped "$CAP" "${to:-/dev/null}" "$tmp/$n.err" /usr/bin/time -f 'maxrss %M' -o "$tmp/$n.time" "$@"
		[ "$rc" -eq 0 ] || fail "$n"
		record "$n"
		rss[$n]+="$(awk '/^maxrss/ {print $2}' "$tmp/$n.time") "
	}
	run_c_raw() { timed_rss c_raw bash -c "set -eo pipefail; $cmd"; }
	run_c_slip() { clean_state; timed_rss c_slip "$slipway" run --executor shell; }
	run_c_json() { clean_state; timed_rss c_json "$slipway" run --executor shell --json-events; }
	# /dev/null is a character device: a tool that takes any character device for a
	# terminal behaves differently there, so the same run also goes to a regular file.
	run_c_file() {
		clean_state
		to="$tmp/c_file.out" timed_rss c_file "$slipway" run --executor shell
		rm -f "$tmp/c_file.out"
	}

	# Check (and warm up) once: the whole output, kept and counted.
	clean_state
	capped "$CAP" "$tmp/c_check.out" "$tmp/c_check.err" "$slipway" run --executor shell
	[ "$rc" -eq 0 ] || fail c_check
	slipway_ok c_check 1
	c_bytes=$(wc -c <"$tmp/c_check.out")
	c_lines=$(grep -c "^log │ $LOGLINE\$" "$tmp/c_check.out" || true)
	rm -f "$tmp/c_check.out"
	# 100,000,000 bytes of 53-byte lines: 1,886,792 whole lines and a cut one.
	[ "$c_lines" -ge 1886792 ] || { log "slipway printed $c_lines whole log lines, want 1886792"; rc=1; fail c_check; }
	want=$RUNS_C deadline=$((BUDGET * 55 / 100))
	rounds c_slip c_json c_file c_raw
	c_rounds=$rounds_done
	clean_state
	empty_trash
	cd "$root"

	mbps() { awk -v ms="$1" 'BEGIN { if (ms > 0) printf "%.1f", 100000000 / 1e6 / (ms / 1000); else print "n/a" }'; }
	mib() { awk -v k="$1" 'BEGIN { if (k > 0) printf "%.0f", k / 1024; else print "n/a" }'; }
	secs() { awk -v m="$1" 'BEGIN {printf "%.2f", m / 1000}'; }
	c_ref=$(median <<<"${times[c_slip]}")
	report c
	echo
	echo "## (c) 100 MB of job output through the log path (shell executor, stdout to /dev/null)"
	echo
	echo "Job: \`$cmd\` (1,886,792 lines of 53 bytes and a cut one). Counted once, Slipway printed $c_bytes bytes"
	echo "($c_lines whole log lines, each behind its \`log │ \` prefix). Medians of $c_rounds alternating rounds;"
	echo "MB/s = 100 MB of job output / whole-process wall time; peak RSS from \`/usr/bin/time\` (largest of the runs)."
	echo
	echo "| what | median s | MB/s | peak RSS MiB | time vs slipway (text) |"
	echo "|---|---:|---:|---:|---:|"
	for n in c_raw c_slip c_json c_file; do
		case $n in
		c_file) w="\`slipway run --executor shell > FILE\` (a regular file)" ;;
		c_raw) w="the job's pipeline alone: \`bash -c '…' > /dev/null\` (physical limit)" ;;
		c_slip) w="\`slipway run --executor shell > /dev/null\`" ;;
		c_json) w="\`slipway run --executor shell --json-events > /dev/null\`" ;;
		esac
		med=$(median <<<"${times[$n]}")
		mx=$(tr ' ' '\n' <<<"${rss[$n]}" | awk NF | sort -n | tail -n 1)
		echo "| $w | $(secs "$med") | $(mbps "$med") | $(mib "$mx") | $(ratio2 "$med" "$c_ref") |"
	done
	load_note
	report_end
fi

# =============================================================================
# (c), continued: gitlab-ci-local on the 100 MB job, once, capped
# =============================================================================
if has c; then
	# Leave part d at least a fifth of the budget.
	cap=$((BUDGET * 80 / 100 - SECONDS))
	((cap > PEER_CAP)) && cap=$PEER_CAP
	report c2
	echo
	if ((cap < 10)); then
		echo "gitlab-ci-local on the same job: not run (no time left in the budget)."
	else
		log "part c: gitlab-ci-local on the 100 MB job (cap $cap s)"
		part_start
		cd "$tmp/c"
		clean_state
		h=$(fresh_home)
		capped "$cap" /dev/null "$tmp/c_gcl.err" /usr/bin/time -f 'maxrss %M' -o "$tmp/c_gcl.time" env HOME="$h" "$gcl"
		gcl_rc=$rc c_gcl_ms=$ms
		gcl_rss=$(awk '/^maxrss/ {print $2}' "$tmp/c_gcl.time" 2>/dev/null || true)
		case $gcl_rc in
		0) gcl_note="finished" ;;
		124) gcl_note="stopped after the ${cap} s cap" ;;
		*) gcl_note="failed (exit $gcl_rc): $(tail -n 1 "$tmp/c_gcl.err")" ;;
		esac
		clean_state
		empty_trash
		cd "$root"
		echo "gitlab-ci-local on the same job, one run after the rounds above, capped at $cap s:"
		echo
		echo "| what | s | MB/s | peak RSS MiB | time vs slipway (text) |"
		echo "|---|---:|---:|---:|---:|"
		echo "| \`gitlab-ci-local > /dev/null\` ($gcl_note) | $(secs "$c_gcl_ms") |" \
			"$( ((gcl_rc == 0)) && mbps "$c_gcl_ms" || echo "— (did not finish)")" \
			"| $(mib "${gcl_rss:-0}") | $( ((gcl_rc == 124)) && echo "≥ ")$(ratio2 "$c_gcl_ms" "$c_ref") |"
		load_note
	fi
	report_end
fi

# =============================================================================
# (d) build-dir preparation, 10,000-file repo
# =============================================================================
if has d; then
	log "part d: 10,000-file repo"
	part_start
	repo="$tmp/d"
	new_repo "$repo"
	python3 - "$repo" <<-'EOF'
		import os, sys
		root = sys.argv[1]
		pad = b"".join(b"%063d\n" % i for i in range(16))
		for d in range(100):
		    dd = os.path.join(root, "src", "d%03d" % d)
		    os.makedirs(dd)
		    for f in range(100):
		        head = b"file %d/%d\n" % (d, f)
		        with open(os.path.join(dd, "f%03d.txt" % f), "wb") as fh:
		            fh.write(head + pad[: 1024 - len(head)])
	EOF
	printf 'job:\n  script:\n    - "true"\n' >"$repo/.gitlab-ci.yml"
	for i in 1 2 3 4 5; do printf 'job%d:\n  script:\n    - "true"\n' "$i"; done >"$repo/five.yml"
	commit_repo "$repo" "10,000 files"
	d_files=$(git -C "$repo" ls-files | wc -l)
	sync # the new files' write-back is not charged to the first timed run
	cd "$repo"

	# Each tool runs, back to back: the 5-job pipeline (five.yml) cold, the 1-job pipeline
	# cold, and the 1-job pipeline again warm (its state kept). The per-job cost is taken
	# from each round's pair of cold runs, so that a change of load between rounds does not
	# pass for it.
	declare -A last
	# d_one NAME JOBS CHECK CMD...: one timed run, checked, recorded under NAME.
	d_one() {
		local n=$1 jobs=$2 check=$3
		shift 3
		capped "$CAP" "$tmp/$n.out" "$tmp/$n.err" "$@"
		[ "$rc" -eq 0 ] || fail "$n"
		"$check" "$n" "$jobs"
		record "$n"
		last[$n]=$ms
	}
	per_job() { times[$1_per]+="$(((last[${1}5] - last[${1}1]) / 4)) "; }
	run_d_slip() {
		clean_state
		d_one d_slip5 5 events_ok "$slipway" run --executor shell --json-events --file five.yml
		clean_state
		d_one d_slip1 1 events_ok "$slipway" run --executor shell --json-events
		times[d_slip_job1]+="$(job_ms d_slip1) "
		d_one d_slip_warm1 1 events_ok "$slipway" run --executor shell --json-events
		per_job d_slip
	}
	# The same for the baseline binary (SLIPWAY_BASE), when given.
	run_d_base() {
		clean_state
		d_one d_base5 5 events_ok "$base" run --executor shell --json-events --file five.yml
		clean_state
		d_one d_base1 1 events_ok "$base" run --executor shell --json-events
		times[d_base_job1]+="$(job_ms d_base1) "
		d_one d_base_warm1 1 events_ok "$base" run --executor shell --json-events
		per_job d_base
	}
	run_d_gcl_iso() {
		local h
		clean_state
		h=$(fresh_home)
		d_one d_gcl_iso5 5 gcl_ok env HOME="$h" "$gcl" --shell-isolation --file five.yml
		clean_state
		h=$(fresh_home)
		d_one d_gcl_iso1 1 gcl_ok env HOME="$h" "$gcl" --shell-isolation
		d_one d_gcl_iso_warm1 1 gcl_ok env HOME="$h" "$gcl" --shell-isolation
		per_job d_gcl_iso
	}
	run_d_gcl() {
		local h
		clean_state
		h=$(fresh_home)
		d_one d_gcl5 5 gcl_ok env HOME="$h" "$gcl" --file five.yml
		clean_state
		h=$(fresh_home)
		d_one d_gcl1 1 gcl_ok env HOME="$h" "$gcl"
		per_job d_gcl
	}
	no_check() { :; }
	run_d_cp() {
		trash_n=$((trash_n + 1))
		mkdir -p "$tmp/trash/$trash_n"
		d_one d_cp1 0 no_check cp -a src .gitlab-ci.yml five.yml "$tmp/trash/$trash_n/"
		trash_n=$((trash_n + 1))
		mkdir -p "$tmp/trash/$trash_n"
		d_one d_cpl1 0 no_check cp -al src .gitlab-ci.yml five.yml "$tmp/trash/$trash_n/"
	}

	# The trash (about 180,000 files a round) is deleted on exit, ≈ 30 s a round at load 3:
	# leave time for that.
	want=$RUNS_D deadline=$((BUDGET - 30)) reserve=45
	d_tools=(d_slip d_gcl_iso d_gcl d_cp)
	[ -n "$base" ] && d_tools=(d_slip d_base d_gcl_iso d_gcl d_cp)
	rounds "${d_tools[@]}"
	reserve=0
	d_rounds=$rounds_done
	clean_state
	cd "$root"

	report d
	echo
	echo "## (d) Build-dir preparation: $d_files committed files (1 KiB each in 100 dirs), jobs \`true\` (shell)"
	echo
	echo "Whole process. Cold: no state of either tool; warm: the state of the same tool's previous run"
	echo "kept. Each tool runs its 5-job (one stage), 1-job cold and 1-job warm runs back to back; medians of"
	echo "$d_rounds rounds, tools alternating. Times are \"median (min)\" in ms; per extra job = median over"
	echo "rounds of (5-job − 1-job) / 4. Both tools' state is moved aside, not deleted, between runs."
	echo "The repo's file system: $(stat -f -c %T "$repo") (Slipway's build dirs are reflinks on btrfs/xfs, else copies)."
	[ -n "$base" ] && echo "Baseline: \`$base\` (SLIPWAY_BASE), timed the same way in the same rounds."
	echo
	echo "| tool | what | 1 job | 5 jobs | per extra job | 1 job: ratio vs slipway | 5 jobs: ratio vs slipway |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	r1=$(median <<<"${times[d_slip1]}")
	r5=$(median <<<"${times[d_slip5]}")
	cell() { # cell NAME: "median (min)", or — when NAME has no runs
		if [ -z "${times[$1]:-}" ]; then echo "—"; else echo "$(median <<<"${times[$1]}") ($(minimum <<<"${times[$1]}"))"; fi
	}
	rat() { if [ -z "${times[$1]:-}" ]; then echo "—"; else ratio "$(median <<<"${times[$1]}")" "$2"; fi; }
	d_rows=(d_slip d_slip_warm d_slip_job)
	[ -n "$base" ] && d_rows+=(d_base d_base_warm d_base_job)
	for n in "${d_rows[@]}" d_gcl_iso d_gcl_iso_warm d_gcl d_cp d_cpl; do
		case $n in
		d_slip) t="slipway" c="\`slipway run --executor shell --json-events\`, cold" ;;
		d_slip_warm) t="slipway" c="… warm (removes the previous build dir first)" ;;
		d_slip_job) t="slipway" c="… the job's \`duration_s\` (preparing its build dir not included)" ;;
		d_base) t="slipway baseline" c="the same with SLIPWAY_BASE, cold" ;;
		d_base_warm) t="slipway baseline" c="… warm" ;;
		d_base_job) t="slipway baseline" c="… the job's \`duration_s\`" ;;
		d_gcl_iso) t="gitlab-ci-local 4.73.0" c="\`gitlab-ci-local --shell-isolation\`, cold" ;;
		d_gcl_iso_warm) t="gitlab-ci-local 4.73.0" c="… warm (rsync only updates)" ;;
		d_gcl) t="gitlab-ci-local 4.73.0" c="\`gitlab-ci-local\`, cold (it still rsyncs the tree once)" ;;
		d_cp) t="reference" c="\`cp -a\` of the work tree into an empty dir" ;;
		d_cpl) t="reference" c="\`cp -al\`: the same tree as hard links" ;;
		esac
		per="—"
		[ -n "${times[${n}_per]:-}" ] && per=$(median <<<"${times[${n}_per]}")
		q1=$(rat "${n}1" "$r1") q5=$(rat "${n}5" "$r5")
		case $n in d_slip_job | d_base_job) q1="—" q5="—" ;; esac
		echo "| $t | $c | $(cell "${n}1") | $(cell "${n}5") | $per | $q1 | $q5 |"
	done
	d_ratio1=$(ratio "$(median <<<"${times[d_gcl_iso1]}")" "$r1")
	d_ratio5=$(ratio "$(median <<<"${times[d_gcl_iso5]}")" "$r5")
	load_note
	report_end
fi

# =============================================================================
report z
echo
echo "## Goals"
echo
echo "| goal | result | met? |"
echo "|---|---|---|"
met() { awk -v r="${1%×}" -v g="$2" -v dir="$3" 'BEGIN { if (r !~ /^[0-9.]+$/) { print "n/a"; exit } ok = (dir == "ge") ? (r >= g) : (r <= g); print ok ? "met" : "**NOT met**" }'; }
if has a; then
	echo "| (a) Slipway ≥ 10× faster than \`gitlab-ci-local --shell-isolation\` | $a_ratio_iso | $(met "$a_ratio_iso" 10 ge) |"
	echo "| (a) … than plain \`gitlab-ci-local\` | $a_ratio | $(met "$a_ratio" 10 ge) |"
fi
if has b; then
	echo "| (b) docker job ≤ 1.2× \`docker run --rm\`, whole \`slipway run\` | $b_ratio_proc | $(met "$b_ratio_proc" 1.2 le) |"
	echo "| (b) … in-process (BenchmarkTrueJob) | $b_ratio_bench | $(met "$b_ratio_bench" 1.2 le) |"
fi
if has c; then
	echo "| (c) (no numeric goal) 100 MB of job output to /dev/null: text / --json-events; text to a file | $(mbps "$c_ref") / $(mbps "$(median <<<"${times[c_json]}")"); $(mbps "$(median <<<"${times[c_file]}")") MB/s, peak RSS $(mib "$(tr ' ' '\n' <<<"${rss[c_slip]}" | awk NF | sort -n | tail -n 1)") MiB | — |"
fi
if has d; then
	echo "| (d) (no numeric goal) 10,000 files, 1 job: gitlab-ci-local --shell-isolation / slipway | $d_ratio1 | — |"
	echo "| (d) … 5 jobs | $d_ratio5 | — |"
fi
report_end
for part in 0 a b c c2 d z; do
	[ -f "$tmp/report.$part" ] && cat "$tmp/report.$part"
done
log "done in $SECONDS s"
