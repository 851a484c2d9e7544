{
  description = "Tidings: the pinned host toolchain (nix develop, or direnv's `use flake`)";

  # Bump with `nix flake update`, then `make nix-check` and `nix flake check`.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forEachSystem (pkgs: {
        default = pkgs.mkShell {
          # Host programs, pinned by flake.lock. The Python tools (ruff, mypy, pytest,
          # hadolint) are pinned by uv.lock instead, for this shell and the containers
          # alike: the shellHook syncs them into .venv, so there is one version of each.
          # Compose builds through buildx, which it looks for beside itself.
          packages = [
            pkgs.docker-compose
            pkgs.docker-buildx
            pkgs.gnumake
            pkgs.python313
            pkgs.uv
            pkgs.shellcheck
          ];

          shellHook = ''
            # The Makefile calls $COMPOSE: the pinned Compose, with the pinned buildx.
            export COMPOSE=docker-compose
            export DOCKER_CLI_PLUGIN_DIRS=${pkgs.docker-buildx}/libexec/docker/cli-plugins
            # uv uses the pinned interpreter and never downloads one of its own.
            export UV_PYTHON=${pkgs.python313}/bin/python3.13
            export UV_PYTHON_DOWNLOADS=never
            # As in the containers: Python's setup hook would fix the hash seed and add the
            # store's site-packages to every interpreter's path.
            unset PYTHONHASHSEED PYTHONPATH

            tidings_root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
            # --locked, as the Dockerfile: a uv.lock behind pyproject.toml is an error here too.
            if uv sync --locked --quiet --project "$tidings_root"; then
              export VIRTUAL_ENV="$tidings_root/.venv"
              export PATH="$VIRTUAL_ENV/bin:$PATH"
            else
              echo "tidings: 'uv sync --locked' failed (make lock updates uv.lock), so ruff, mypy and pytest are not on PATH" >&2
            fi

            echo "tidings shell: compose $(docker-compose version --short 2>/dev/null)," \
              "$(make --version | head -n 1), $(python3.13 --version), $(uv --version)," \
              "$(ruff --version 2>/dev/null || echo 'no ruff'), $(mypy --version 2>/dev/null || echo 'no mypy')"
          '';
        };
      });

      # `nix fmt`: nixfmt over the tree (a bare nixfmt would wait for standard input).
      formatter = forEachSystem (pkgs: pkgs.nixfmt-tree);

      # `nix flake check`: the Nix files are formatted, the shell scripts pass shellcheck.
      checks = forEachSystem (pkgs: {
        formatting = pkgs.runCommand "formatting" { nativeBuildInputs = [ pkgs.nixfmt-tree ]; } ''
          cp -r ${self} tree && chmod -R u+w tree && cd tree && treefmt --ci && touch $out
        '';
        shellcheck = pkgs.runCommand "shellcheck" { nativeBuildInputs = [ pkgs.shellcheck ]; } ''
          cd ${self}
          # Shell scripts as devtools/lint.py finds them: an interpreter line or a directive.
          shellcheck --external-sources $(grep -rlE --exclude-dir=.git '^(#!/usr/bin/env (ba)?sh|# shellcheck shell=(ba)?sh)$' .)
          touch $out
        '';
      });
    };
}
