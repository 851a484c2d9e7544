# shellcheck shell=bash
# A small runner for the shell-level suites (tests/nix/check, tests/host/check). Source it,
# define each test as a function, call `run_requested_test "$@"`, then `check` each test
# and finish with `report`.
#
# Each test runs as its own process (`SCRIPT --run NAME`), so `set -e` holds inside it:
# bash ignores errexit in a function whose exit status is being tested.

passed=0 failed=0

# Run test NAME (with ARGS) in a child process; print PASS, or FAIL and its last output.
check() {
	local name=$1 output
	shift
	if output=$("$0" --run "$@" 2>&1); then
		printf 'PASS  %s\n' "$name"
		passed=$((passed + 1))
	else
		printf 'FAIL  %s\n' "$name"
		printf '%s\n' "$output" | tail -n 25 | sed 's/^/      /'
		failed=$((failed + 1))
	fi
}

# In the child process: run the one test asked for, with errexit in force, and exit.
run_requested_test() {
	if [ "${1:-}" = --run ]; then
		shift
		set -euo pipefail
		"$@"
		exit 0
	fi
}

# Copy the checkout's tracked files (as a fresh clone would have them) into directory $1.
copy_tracked_files() {
	(cd "$(dirname "${BASH_SOURCE[0]}")/.." &&
		git ls-files -z | xargs -0 cp --parents --target-directory "$1")
}

# The closing line CI reads; the exit status says whether everything passed.
report() {
	printf '\n%d passed, %d failed\n' "$passed" "$failed"
	[ "$failed" -eq 0 ]
}
