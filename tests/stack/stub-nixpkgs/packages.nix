# Each package is a derivation whose bin/ holds scripts that exec the host's tool of that
# name; built with `sandbox = false`, found at build time in the usual host directories.
{ system }:
let
  # Host tools are looked up here (the builder's PATH is empty), pyenv's Pythons last.
  hostDirs = "/usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin /root/.pyenv/versions/*/bin";

  # A package named `name` whose bin/ maps each command to a host command line.
  wrap =
    name: commands:
    derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [ ./wrap.sh ];
      hostDirs = hostDirs;
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
in
{
  inherit mkShell stdenv;
  docker-compose = wrap "docker-compose" { docker-compose = "docker compose"; };
  gnumake = wrap "gnumake" { make = "make"; };
  python313 = wrap "python3.13" {
    "python3.13" = "python3.13";
    python3 = "python3.13";
    python = "python3.13";
  };
  uv = wrap "uv" { uv = "uv"; };
  shellcheck = wrap "shellcheck" { shellcheck = "shellcheck"; };
  nixfmt = wrap "nixfmt" { nixfmt = "nixfmt"; };
  # nix develop runs its interactive shell from nixpkgs' bashInteractive.
  bashInteractive = wrap "bash" { bash = "bash"; };
}
