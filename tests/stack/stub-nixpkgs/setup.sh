# The stub stdenv's setup, sourced by `nix develop`: put each input's bin/ on PATH, the
# first input first, as nixpkgs' stdenv does.
# shellcheck shell=bash
# Nix sets nativeBuildInputs from the derivation; PATH starts empty on purpose, as in Nix.
# shellcheck disable=SC2154,SC2123
PATH=
for input in $nativeBuildInputs; do
	if [ -d "$input/bin" ]; then
		PATH="${PATH:+$PATH:}$input/bin"
	fi
done
export PATH
