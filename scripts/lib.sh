# shellcheck shell=bash
# What the host scripts share (everything in scripts/ runs on your machine, from make; what
# runs in the dev container is in devtools/). Source it; it sets strict mode.
set -euo pipefail

if [ -t 1 ]; then _bold=$'\e[1m' _red=$'\e[31m' _green=$'\e[32m' _reset=$'\e[0m'; else _bold='' _red='' _green='' _reset=''; fi
step() { printf '%s==> %s%s\n' "$_bold" "$*" "$_reset"; }
ok() { printf '%s✔ %s%s\n' "$_green" "$*" "$_reset"; }
# warn MESSAGE [ADVICE]: something to know that stops nothing.
warn() { printf '! %s\n' "$1" >&2 && [ -z "${2:-}" ] || printf '    %s\n' "$2" >&2; }
fail() { printf '%s✘ %s%s\n' "$_red" "$*" "$_reset" >&2; }
die() { fail "$*"; exit 1; }

# Compose for the development stack, or for the test stack (compose_test). $COMPOSE names
# the command: "docker compose" unless the Nix shell pins docker-compose.
read -ra _compose <<<"${COMPOSE:-docker compose}"
compose() { "${_compose[@]}" "$@"; }
compose_test() { compose --project-name "${COMPOSE_PROJECT_NAME:?}-test" --file docker-compose.yml --file compose.test.yml "$@"; }

# Seconds since the epoch, to the microsecond (bash 5), and the time elapsed since one of them
# in seconds to a tenth (or whole milliseconds with `ms` as $2).
now() { local t=${EPOCHREALTIME:-$(date +%s)} && printf '%s\n' "${t/,/.}"; }
elapsed_since() { awk -v d="$(now)-$1" -v unit="${2:-s}" 'BEGIN { split(d, t, "-"); if (unit == "ms") printf "%d", (t[1] - t[2]) * 1000; else printf "%.1f", t[1] - t[2] }'; }

# A service's container (Compose names it project-service-1): `docker` answers faster than
# `compose`, which reads the whole configuration first.
container_of() { printf '%s-%s-1\n' "$COMPOSE_PROJECT_NAME" "$1"; }
# The dependency hash (DEPS_HASH) an image, or a container's image, was built with.
deps_hash_of() { docker inspect --format '{{ index .Config.Labels "tidings.deps-hash" }}' "$1" 2>/dev/null || true; }
# KEY's value in FILE (default $ENV_FILE, else .env; the last assignment wins, as in
# Compose), or DEFAULT.
env_value() {
	local value
	value=$(sed -n "s/^$1=//p" "${3:-${ENV_FILE:-.env}}" 2>/dev/null | tail -n 1)
	printf '%s' "${value:-$2}"
}

# Each published port's variable and default (as in docker-compose.yml); the first free from $1.
# shellcheck disable=SC2034  # used by the scripts that source this file
published_ports=(WEB_PORT:8000 MAILPIT_UI_PORT:8025 DB_PORT:5432)
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port_from() {
	local port=$1
	while port_in_use "$port"; do port=$((port + 1)); done
	echo "$port"
}

# The name init-env gives this checkout: the directory's name and a hash of its path, so two
# clones both called "tidings" never share a database. Runs of other characters become one
# "-" (image names allow no "-_").
generated_project_name() {
	local path name
	path=$(pwd -P)
	name=$(basename "$path" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')
	printf '%s-%x\n' "${name:-tidings}" "$(printf '%s' "$path" | cksum | cut -d' ' -f1)"
}
# This checkout's Compose project, which names its containers, volumes and dev image: .env's
# COMPOSE_PROJECT_NAME (init-env writes it, so a plain `docker compose` agrees); before there
# is a .env, the one init-env will write; an older .env without it, the directory's name, as
# Compose itself would.
project_name() {
	if [ -n "$(env_value COMPOSE_PROJECT_NAME "")" ]; then
		env_value COMPOSE_PROJECT_NAME ""
	elif [ -f .env ]; then
		basename "$(pwd -P)" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-'
	else
		generated_project_name
	fi
}
# The checkout project $1 was made for (init-env notes it in .env), else where its containers
# were started from; empty if neither is known.
project_made_for() {
	local made_for
	made_for=$(sed -n 's/^# COMPOSE_PROJECT_NAME made for: //p' .env 2>/dev/null | tail -n 1)
	[ -n "$made_for" ] || made_for=$(docker ps --all --filter "label=com.docker.compose.project=$1" \
		--format '{{ .Label "com.docker.compose.project.working_dir" }}' 2>/dev/null | sort -u | head -n 1)
	printf '%s\n' "$made_for"
}
# Scripts run on their own (not from make) find the project make would.
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-$(project_name)}
