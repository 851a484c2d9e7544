{
  description = "Tidings: the pinned host toolchain (nix develop, or direnv's `use flake`)";

  # Bump with `nix flake update` (rewrites flake.lock), then `make nix-check`.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

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
          packages = [
            pkgs.docker-compose
            pkgs.gnumake
            pkgs.python313
            pkgs.uv
            pkgs.shellcheck
            pkgs.nixfmt
          ];

          shellHook = ''
            # The Makefile calls $COMPOSE: use the pinned Compose, not the Docker CLI plugin.
            export COMPOSE=docker-compose
            # uv uses the pinned interpreter and never downloads one of its own.
            export UV_PYTHON=${pkgs.python313}/bin/python3.13
            export UV_PYTHON_DOWNLOADS=never

            tidings_root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
            if uv sync --frozen --quiet --project "$tidings_root"; then
              export VIRTUAL_ENV="$tidings_root/.venv"
              export PATH="$VIRTUAL_ENV/bin:$PATH"
            else
              echo "tidings: 'uv sync' failed, so ruff, mypy and pytest from uv.lock are not on PATH" >&2
            fi

            echo "tidings shell: compose $(docker-compose version --short 2>/dev/null)," \
              "$(make --version | head -n 1), $(python3.13 --version), $(uv --version)," \
              "$(ruff --version 2>/dev/null || echo 'no ruff'), $(mypy --version 2>/dev/null || echo 'no mypy')"
          '';
        };
      });

      formatter = forEachSystem (pkgs: pkgs.nixfmt);
    };
}
