# Builder of a stub package: for each "command=host command line" in $commands, write
# $out/bin/command, which execs the host command found in $hostDirs. A host command that is
# missing fails the build, naming it: a wrapper that fails later would be cached.
# shellcheck shell=sh
# Nix sets out, commands and hostDirs from the derivation's attributes.
# shellcheck disable=SC2154
set -eu
PATH=/usr/bin:/bin
mkdir -p "$out/bin"
echo "$commands" | while IFS='=' read -r command host; do
	program=${host%% *}
	rest=${host#"$program"}
	found=""
	for dir in $hostDirs; do
		if [ -x "$dir/$program" ]; then
			found="$dir/$program"
			break
		fi
	done
	[ -n "$found" ] || {
		echo "stub: the host has no $program (searched: $hostDirs)" >&2
		exit 1
	}
	mkdir -p "$(dirname "$out/bin/$command")"
	printf '#!/bin/sh\nexec %s%s "$@"\n' "$found" "$rest" >"$out/bin/$command"
	chmod +x "$out/bin/$command"
done
