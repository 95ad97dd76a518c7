#!/usr/bin/env bash
# ui.sh measures the web UI against the goals of issue 11 in one run and prints a markdown
# table (see README.md, "Web UI"):
#
#   server   Go benchmarks, no browser: the server's page handlers (internal/server
#            Benchmark*Page*: the pipeline page of a 200-job pipeline, the job page's first
#            response for a 50 MB log) and the template render alone
#            (internal/web BenchmarkRenderPipeline200). COUNT rounds; medians of ns/op.
#   browser  internal/server TestBrowserBench* with SLIPWAY_BENCH=1, in headless Chromium:
#            the job page's DOMContentLoaded (20 loads) and a printed log line → the open
#            job page (50 lines through the runner protocol's log PATCH); p50/p95/max.
#
# Env: COUNT (server rounds, default 5), BENCHTIME (default 1s), KEEP=1 keeps the raw
# outputs. Needs chromium (apt-get install chromium). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-1s}
out=$(mktemp -d)
if [[ ${KEEP:-} == 1 ]]; then echo "raw outputs in $out" >&2; else trap 'rm -rf "$out"' EXIT; fi

go test ./internal/server -run '^$' -bench 'Page' -benchtime "$BENCHTIME" -count "$COUNT" >"$out/server.txt"
go test ./internal/web -run '^$' -bench 'RenderPipeline200$' -benchtime "$BENCHTIME" -count "$COUNT" >"$out/web.txt"
SLIPWAY_BENCH=1 go test ./internal/server -run 'TestBrowserBench' -count 1 -v >"$out/browser.txt"

commit=$(git rev-parse --short HEAD)
echo "Web UI, $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$commit\`, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measure | result | goal |"
echo "|---|---|---|"
# Median ns/op of each benchmark, in ms; kind says what it times.
median() {
	awk -v kind="$2" '
	/^Benchmark/ && $4 == "ns/op" { name = $1; sub(/-[0-9]+$/, "", name); v[name] = v[name] " " $3; n[name]++ }
	END {
		for (name in v) {
			split(substr(v[name], 2), a, " ")
			for (i = 2; i <= n[name]; i++) { x = a[i]; j = i - 1; while (j > 0 && a[j] + 0 > x + 0) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
			m = (n[name] % 2) ? a[(n[name] + 1) / 2] : (a[n[name] / 2] + a[n[name] / 2 + 1]) / 2
			printf "| `%s` (%s, median of %d) | %.2f ms | < 20 ms |\n", name, kind, n[name], m / 1e6
		}
	}' "$1" | sort
}
median "$out/server.txt" "server handler"
median "$out/web.txt" "template only"
# The browser tests log "… : n=20 p50=…ms p95=…ms max=…ms (goal …)".
grep -E 'n=[0-9]+ p50=' "$out/browser.txt" | sed -E 's/^ *[a-z_]+\.go:[0-9]+: //' | awk '
	{ what = $0; sub(/: n=.*/, "", what); res = $0; sub(/.*: n=/, "n=", res); sub(/ \(goal.*/, "", res)
	  goal = $0; sub(/.*\(goal /, "", goal); sub(/\)$/, "", goal)
	  printf "| %s (browser) | %s | %s |\n", what, res, goal }'
echo
grep -E 'its last load' "$out/browser.txt" | sed -E 's/^ *[a-z_]+\.go:[0-9]+: +/- /' || true
