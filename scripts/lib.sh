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

# The value of KEY in FILE (default .env; the last assignment wins, as in Compose), or DEFAULT.
env_value() {
	local value
	value=$(sed -n "s/^$1=//p" "${3:-.env}" 2>/dev/null | tail -n 1)
	printf '%s' "${value:-$2}"
}
