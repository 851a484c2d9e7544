{
  description = "A stand-in for nixpkgs, for testing flake.nix offline: mkShell and the packages the flake uses, as tiny wrappers around the host's tools";

  outputs =
    { self }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    in
    {
      lib = { inherit genAttrs; };
      legacyPackages = genAttrs systems (system: import ./packages.nix { inherit system; });
    };
}
