#!/usr/bin/env bash
# ensure-docker.sh makes sure a Docker Engine answers `docker info`.
# If none does, it installs Debian's docker.io when dockerd is missing, starts
# dockerd in the background (log: /var/log/dockerd.log) and waits up to 60 s.
# Needs root for the install and start. Idempotent.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

docker_ok() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

if docker_ok; then
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "no Docker daemon answers and this is not root: start dockerd yourself"

if ! command -v dockerd >/dev/null; then
	log "dockerd not found: installing docker.io"
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package index only when the package is not known yet.
	if ! apt-cache show docker.io >/dev/null 2>&1; then
		apt-get update -qq
	fi
	if ! apt-get install -y -qq --no-install-recommends docker.io >/dev/null; then
		log "install failed with the current index: refreshing it and retrying"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends docker.io >/dev/null
	fi
	command -v dockerd >/dev/null || die "docker.io installed but dockerd is still not on PATH"
fi

# A daemon may be starting already (another caller, a slow boot): only start
# one if no dockerd process exists.
if pgrep -x dockerd >/dev/null; then
	log "dockerd is running but not answering yet: waiting"
else
	log "starting dockerd (log: /var/log/dockerd.log)"
	# A stale pid file from a killed daemon stops a new one from starting.
	if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
		rm -f /var/run/docker.pid
	fi
	nohup setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
	if docker_ok; then
		log "docker is ready"
		exit 0
	fi
	if ! pgrep -x dockerd >/dev/null; then
		tail -n 20 /var/log/dockerd.log >&2 || true
		die "dockerd exited; see /var/log/dockerd.log"
	fi
	sleep 1
done

tail -n 20 /var/log/dockerd.log >&2 || true
die "docker info still fails after 60 s; see /var/log/dockerd.log"
