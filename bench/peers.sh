#!/usr/bin/env bash
# peers.sh installs the pinned benchmark peers under bench/.peers/ (git-ignored)
# and prints the path of the gitlab-ci-local binary. Safe to run repeatedly:
# anything already installed is left alone. See ../shared/PEERS.md.
set -euo pipefail

GCL_VERSION=4.73.0 # newest that runs on Node 20; 4.74+ needs Node 22.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix="$root/bench/.peers/gcl"
bin="$prefix/node_modules/.bin/gitlab-ci-local"

log() { printf 'peers: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The apt package index is refreshed at most once per run, and only when an
# install is actually needed.
apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		as_root apt-get update -qq >&2
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

command -v node >/dev/null || { log "node is required (Node 20 works with gitlab-ci-local $GCL_VERSION)"; exit 1; }
command -v npm >/dev/null || { log "npm is required"; exit 1; }

# gitlab-ci-local's shell executor copies the work tree with rsync.
if ! command -v rsync >/dev/null; then
	log "installing rsync"
	apt_install rsync
fi

installed=
if [ -f "$prefix/node_modules/gitlab-ci-local/package.json" ]; then
	installed=$(node -p "require('$prefix/node_modules/gitlab-ci-local/package.json').version" 2>/dev/null || true)
fi
if [ "$installed" != "$GCL_VERSION" ] || [ ! -x "$bin" ]; then
	log "installing gitlab-ci-local@$GCL_VERSION into $prefix"
	mkdir -p "$prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "gitlab-ci-local@$GCL_VERSION" >&2
fi

[ -x "$bin" ] || { log "gitlab-ci-local binary missing after install: $bin"; exit 1; }
echo "$bin"
