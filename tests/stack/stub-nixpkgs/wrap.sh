# Builder of a stub package: for each "command=host command line" in $commands, write
# $out/bin/command, which execs the host command found in $hostDirs (or fails clearly).
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
	if [ -n "$found" ]; then
		printf '#!/bin/sh\nexec %s%s "$@"\n' "$found" "$rest" >"$out/bin/$command"
	else
		printf '#!/bin/sh\necho "stub %s: no host %s" >&2\nexit 127\n' "$command" "$program" >"$out/bin/$command"
	fi
	chmod +x "$out/bin/$command"
done
