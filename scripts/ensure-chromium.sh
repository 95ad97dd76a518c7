#!/usr/bin/env bash
# ensure-chromium.sh makes sure Debian's chromium is installed for the browser tests
# (internal/testenv.RequireBrowser), installing it with apt if it is missing, and prints the
# path of the program on stdout. Needs root for the install. Idempotent; a no-op when
# chromium is on PATH already.
set -euo pipefail

log() { printf 'ensure-chromium: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if ! command -v chromium >/dev/null; then
	[ "$(id -u)" -eq 0 ] || die "chromium is not installed and this is not root: apt-get install chromium"
	log "chromium not found: installing it"
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package index only when the package is not known yet.
	if ! apt-cache show chromium >/dev/null 2>&1; then
		apt-get update -qq
	fi
	if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
		log "install failed with the current index: refreshing it and retrying"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends chromium >/dev/null
	fi
	command -v chromium >/dev/null || die "chromium installed but still not on PATH"
fi

command -v chromium
