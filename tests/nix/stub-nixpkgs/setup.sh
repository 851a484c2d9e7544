# The stub stdenv's setup, sourced by `nix develop`: put each input's bin/ on PATH, the
# first input first, as nixpkgs' stdenv does.
# shellcheck shell=bash
PATH=
for input in $nativeBuildInputs; do
	if [ -d "$input/bin" ]; then
		PATH="${PATH:+$PATH:}$input/bin"
	fi
done
export PATH
