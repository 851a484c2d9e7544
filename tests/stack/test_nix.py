"""flake.nix, flake.lock and .envrc, tested offline (`make nix-check`).

With no binary cache or GitHub at hand, nixpkgs is replaced by the stub flake in
stub-nixpkgs/ (`--override-input nixpkgs path:...`): it provides mkShell and every package the
flake names, as wrappers around the host's tools, so that `nix develop` and direnv really
run. Needs nix (with flakes) and direnv on the host; the nix settings are passed in NIX_CONFIG.

    python3 -m unittest -v tests.stack.test_nix
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from tests.stack.stack import ROOT, copy_checkout

STUB = f"path:{ROOT}/tests/stack/stub-nixpkgs"
WITH_STUB = ["--override-input", "nixpkgs", STUB, "--no-write-lock-file"]
SYSTEMS = ("x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin")
NIX_CONFIG = "\n".join(
    (
        "experimental-features = nix-command flakes",
        "sandbox = false",
        "substituters =",
        "build-users-group =",
    )
)
PINNED = {
    "type": "github",
    "owner": "NixOS",
    "repo": "nixpkgs",
    "rev": "8fd9daa3db09ced9700431c5b7ad0e8ba199b575",
    "narHash": "sha256-Ti+ZBvW6yrWWAg2szExVTwCd4qOJ3KlVr1tFHfyfi8Q=",
    "lastModified": 1778430510,
}
FOLLOWS = {"type": "github", "owner": "NixOS", "repo": "nixpkgs", "ref": "nixos-25.11"}


def run(command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """What `command` prints; fails the test with its output when it fails."""
    result = subprocess.run(  # noqa: S603  # nix and direnv, with the test's arguments
        command,
        cwd=cwd,
        env={**os.environ, "NIX_CONFIG": NIX_CONFIG, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


FROM_FLAKE = ("docker-compose", "make", "uv", "shellcheck", "nixfmt")
FROM_VENV = ("python3.13", "ruff", "mypy", "pytest", "hadolint")
VARIABLES = ("PWD", "UV_PYTHON", "COMPOSE", "WEB_PORT")
# Prints "name=where" for each tool, then "name=value" for each variable.
WHERE_SCRIPT = "".join(
    [f'echo "{t}=$(command -v {t})";' for t in FROM_FLAKE + FROM_VENV]
    + [f'echo "{v}=${v}";' for v in VARIABLES]
)


def locate(output: str) -> tuple[dict[str, str], dict[str, str]]:
    """WHERE_SCRIPT's output: where each tool is, and each variable's value."""
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {t: values.get(t, "") for t in FROM_FLAKE + FROM_VENV}, values


def in_shell(script: str) -> str:
    """What `script` prints in `nix develop`, with the stub for nixpkgs."""
    return run(["nix", "develop", *WITH_STUB, "--command", "bash", "-c", script])


def setUpModule() -> None:
    missing = [tool for tool in ("nix", "direnv", "git") if shutil.which(tool) is None]
    if missing:
        raise unittest.SkipTest(
            f"nix-check needs {', '.join(missing)} on the host "
            "(Debian/Ubuntu: apt-get install nix-bin direnv)"
        )


class Lock(unittest.TestCase):
    """flake.lock pins what flake.nix asks for."""

    def test_the_lock_is_version_7_with_nixpkgs_pinned_to_nixos_25_11(self) -> None:
        lock = json.loads((ROOT / "flake.lock").read_text())
        node = lock["nodes"][lock["nodes"][lock["root"]]["inputs"]["nixpkgs"]]
        assert lock["version"] == 7, lock["version"]
        assert node["locked"] == PINNED, node["locked"]
        assert node["original"] == FOLLOWS, node["original"]

    def test_flake_nix_asks_for_the_input_the_lock_pins(self) -> None:
        metadata = json.loads(run(["nix", "flake", "metadata", "--json", "."]))
        assert metadata["locks"]["nodes"]["nixpkgs"]["original"] == FOLLOWS

    def test_the_shell_evaluates_for_every_system(self) -> None:
        for system in SYSTEMS:
            with self.subTest(system=system):
                attribute = f".#devShells.{system}.default.drvPath"
                assert run(["nix", "eval", *WITH_STUB, "--raw", attribute]).endswith(".drv")


class Shell(unittest.TestCase):
    """`nix develop` on this host: the pinned tools first, the locked Python tools."""

    def test_pinned_tools_come_first_and_compose_is_set(self) -> None:
        where, values = locate(in_shell(WHERE_SCRIPT))
        for tool in FROM_FLAKE:
            assert where[tool].startswith("/nix/store/"), f"{tool} is {where[tool]}"
        for tool in FROM_VENV:
            assert where[tool] == f"{values['PWD']}/.venv/bin/{tool}", f"{tool} is {where[tool]}"
        # python3.13 is the venv's, which uv made from the flake's interpreter ($UV_PYTHON).
        assert re.fullmatch(r"/nix/store/[^/]+/bin/python3\.13", values["UV_PYTHON"]), values
        assert values["COMPOSE"] == "docker-compose", values

    def test_ruff_and_mypy_are_the_uv_lock_versions(self) -> None:
        # The shell's ruff and mypy are the versions uv.lock pins, which the containers use too.
        lock = (ROOT / "uv.lock").read_text()
        for tool in ("ruff", "mypy"):
            have = in_shell(f"{tool} --version").splitlines()[-1]
            locked = lock.split(f'\nname = "{tool}"\nversion = "', 1)[1].split('"', 1)[0]
            assert f" {locked}" in have, f"{tool}: uv.lock pins {locked}, the shell has {have}"

    def test_make_help_runs(self) -> None:
        assert "Run the tests" in in_shell("make help")

    def test_make_lint_runs_through_the_pinned_compose(self) -> None:
        in_shell("make lint")


class Direnv(unittest.TestCase):
    """.envrc loads the flake's shell and .env through direnv."""

    def test_envrc_loads_through_direnv(self) -> None:
        with tempfile.TemporaryDirectory() as copy:
            directory = Path(copy)
            copy_checkout(directory)
            (directory / ".env").write_text("WEB_PORT=18000\n")
            # A lock pointing at the stub, so that `use flake` needs no network.
            run(["nix", "flake", "lock", "--override-input", "nixpkgs", STUB], directory)
            home = directory / ".home"
            env = {
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_DATA_HOME": str(home / ".local/share"),
            }
            run(["direnv", "allow", "."], directory, env)
            command = ["direnv", "exec", ".", "bash", "-c", WHERE_SCRIPT]
            where, values = locate(run(command, directory, env))
            assert where["make"].startswith("/nix/store/"), where["make"]
            assert where["ruff"] == f"{values['PWD']}/.venv/bin/ruff", where["ruff"]
            assert values["WEB_PORT"] == "18000", ".env was not loaded"


if __name__ == "__main__":
    unittest.main()
