# Each package is a derivation whose bin/ holds scripts that exec the host's tool of that
# name; built with `sandbox = false`. A tool the host lacks fails the build, so that nothing
# wrong is ever cached. The host's directories come from ./host-dirs.nix, which
# tests/stack/test_nix.py writes from its PATH into its own copy of this stub.
{ system }:
let
  hostDirs = import ./host-dirs.nix;

  # A package named `name` whose bin/ maps each command to a host command line; `plugins`
  # are Docker CLI plugins, found among the host's.
  wrap =
    name: commands:
    derivation {
      inherit name system hostDirs;
      builder = "/bin/sh";
      args = [ ./wrap.sh ];
      commands = builtins.concatStringsSep "\n" (
        builtins.attrValues (builtins.mapAttrs (command: host: "${command}=${host}") commands)
      );
    };

  stdenv = derivation {
    name = "stub-stdenv";
    inherit system;
    builder = "/bin/sh";
    args = [
      "-c"
      "PATH=/usr/bin:/bin; mkdir $out; cp ${./setup.sh} $out/setup"
    ];
  };

  mkShell =
    {
      name ? "nix-shell",
      packages ? [ ],
      nativeBuildInputs ? [ ],
      shellHook ? "",
      ...
    }:
    derivation {
      inherit name system stdenv shellHook;
      # get-env.sh, which nix develop runs, writes to each of $outputs.
      outputs = [ "out" ];
      builder = "/bin/bash";
      args = [
        "-c"
        "echo 'this derivation is only for nix develop' > $out"
      ];
      nativeBuildInputs = packages ++ nativeBuildInputs;
    };

  # As nixpkgs' runCommand: run `script` with the inputs' bin/ on PATH; it makes $out.
  runCommand =
    name: attributes: script:
    derivation {
      inherit name system script;
      builder = "/bin/bash";
      args = [
        "-c"
        "source ${stdenv}/setup; PATH=$PATH:/usr/bin:/bin; cd $(mktemp -d); eval \"$script\""
      ];
      nativeBuildInputs = attributes.nativeBuildInputs or [ ];
    };
in
{
  inherit mkShell stdenv runCommand;
  docker-compose = wrap "docker-compose" { docker-compose = "docker compose"; };
  # Compose finds it in $out/libexec/docker/cli-plugins, as nixpkgs' docker-buildx lays it out.
  docker-buildx = wrap "docker-buildx" { "../libexec/docker/cli-plugins/docker-buildx" = "docker-buildx"; };
  gnumake = wrap "gnumake" { make = "make"; };
  python313 = wrap "python3.13" {
    "python3.13" = "python3.13";
    python3 = "python3.13";
    python = "python3.13";
  };
  uv = wrap "uv" { uv = "uv"; };
  shellcheck = wrap "shellcheck" { shellcheck = "shellcheck"; };
  nixfmt-tree = wrap "nixfmt-tree" { treefmt = "treefmt"; };
  # nix develop runs its interactive shell from nixpkgs' bashInteractive.
  bashInteractive = wrap "bash" { bash = "bash"; };
}
