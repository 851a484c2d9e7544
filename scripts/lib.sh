# shellcheck shell=bash
# Shared helpers for the scripts behind the Makefile. Source it; it sets strict mode.
set -euo pipefail

if [ -t 1 ]; then
	_bold=$'\e[1m' _red=$'\e[31m' _green=$'\e[32m' _reset=$'\e[0m'
else
	_bold='' _red='' _green='' _reset=''
fi

step() { printf '%s==> %s%s\n' "$_bold" "$*" "$_reset"; }
ok() { printf '%s✔ %s%s\n' "$_green" "$*" "$_reset"; }
# warn MESSAGE [ADVICE]: something to know that does not stop anything.
warn() {
	printf '! %s\n' "$1" >&2
	[ -z "${2:-}" ] || printf '    %s\n' "$2" >&2
}
fail() { printf '%s✘ %s%s\n' "$_red" "$*" "$_reset" >&2; }
die() {
	fail "$*"
	exit 1
}

# Compose for the development stack, or for the test stack with `compose_test`. $COMPOSE
# names the Compose command ("docker compose" unless the Nix shell pins docker-compose).
read -ra _compose <<<"${COMPOSE:-docker compose}"
compose() { "${_compose[@]}" "$@"; }
compose_test() {
	compose --project-name "${COMPOSE_PROJECT_NAME:?}-test" \
		--file docker-compose.yml --file compose.test.yml "$@"
}
# Seconds since the epoch, to the microsecond where bash has EPOCHREALTIME (5.0 and later).
now() {
	local t=${EPOCHREALTIME:-$(date +%s)}
	printf '%s\n' "${t/,/.}"
}
# Seconds, to a tenth, since a time `now` gave (milliseconds with `ms` as $2).
elapsed_since() {
	awk -v from="$1" -v to="$(now)" -v unit="${2:-s}" \
		'BEGIN { if (unit == "ms") printf "%d", (to - from) * 1000; else printf "%.1f", to - from }'
}

# A service's container in this checkout's project (Compose names it project-service-1):
# `docker` on it answers faster than `compose`, which reads the whole configuration first.
container_of() { printf '%s-%s-1\n' "$COMPOSE_PROJECT_NAME" "$1"; }

# The dependency hash (DEPS_HASH) an image, or a container through its image, was built with.
deps_hash_of() { docker inspect --format '{{ index .Config.Labels "tidings.deps-hash" }}' "$1" 2>/dev/null || true; }

# The value of KEY in FILE (default .env; the last assignment wins, as in Compose), or DEFAULT.
env_value() {
	local value
	value=$(sed -n "s/^$1=//p" "${3:-.env}" 2>/dev/null | tail -n 1)
	printf '%s' "${value:-$2}"
}

# Each published port's variable and its default (as in docker-compose.yml).
# shellcheck disable=SC2034  # used by the scripts that source this file
published_ports=(WEB_PORT:8000 MAILPIT_UI_PORT:8025 DB_PORT:5432)
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The first port from $1 on that nothing listens on.
free_port_from() {
	local port=$1
	while port_in_use "$port"; do port=$((port + 1)); done
	echo "$port"
}

# This checkout's Compose project, which names its containers, volumes and dev image:
# - .env's COMPOSE_PROJECT_NAME, which init-env writes, so a plain `docker compose` agrees;
# - before there is a .env: the directory's name and a hash of its path, so two clones
#   both called "tidings" never share a database; init-env writes this one;
# - an older .env without the key: the directory's name, as Compose itself would use.
project_name() {
	local name
	name=$(env_value COMPOSE_PROJECT_NAME "")
	if [ -n "$name" ]; then
		printf '%s\n' "$name"
	elif [ -f .env ]; then
		basename "$(pwd -P)" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_\n-'
	else
		generated_project_name
	fi
}

# The name init-env gives this checkout: the directory's name and a hash of its path. Runs
# of other characters become one "-": image names allow no "-_" or "_-".
generated_project_name() {
	local path name
	path=$(pwd -P)
	name=$(basename "$path" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')
	printf '%s-%x\n' "${name:-tidings}" "$(printf '%s' "$path" | cksum | cut -d' ' -f1)"
}

# The checkout .env's project was made for (init-env notes it), else where that project's
# containers were started from; empty if neither is known.
project_made_for() {
	local made_for
	made_for=$(sed -n 's/^# COMPOSE_PROJECT_NAME made for: //p' .env 2>/dev/null | tail -n 1)
	[ -n "$made_for" ] || made_for=$(docker ps --all --filter "label=com.docker.compose.project=$1" \
		--format '{{ .Label "com.docker.compose.project.working_dir" }}' 2>/dev/null | sort -u | head -n 1)
	printf '%s\n' "$made_for"
}
# Scripts run on their own (not from make) find the same project as make does.
COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-$(project_name)}
export COMPOSE_PROJECT_NAME
