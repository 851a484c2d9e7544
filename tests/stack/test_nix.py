"""flake.nix, flake.lock and .envrc, tested offline (`make nix-check`).

With no binary cache or GitHub at hand, nixpkgs is replaced by the stub flake in
stub-nixpkgs/ (`--override-input nixpkgs path:...`): it provides mkShell, runCommand and each
package the flake names as wrappers around this host's tools, so that `nix develop`,
`nix flake check` and direnv really run. A tool the host lacks fails the stub's build; this
module stops first, naming what to install. The nix settings are passed in NIX_CONFIG.

What this cannot check (nixpkgs' real packages, their versions, `nix flake check` building
the checks on each system) the GitHub Actions workflow does, with the network.

    python3 -m unittest -v tests.stack.test_nix    (make nix-check)
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
from typing import Any

from devtools.stack import ROOT, copy_checkout

SYSTEMS = ("x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin")
NIX_CONFIG = "\n".join(
    (
        "experimental-features = nix-command flakes",
        "sandbox = false",
        "substituters =",
        "build-users-group =",
    )
)
# What the stub wraps, and what the tests run: missing ones stop the suite at once.
HOST_TOOLS = ("nix", "direnv", "git", "docker", "make", "uv", "python3.13", "shellcheck")
# Where Docker keeps its CLI plugins (buildx) on Linux hosts.
PLUGIN_DIRS = ("/usr/libexec/docker/cli-plugins", "/usr/lib/docker/cli-plugins")
FROM_FLAKE = ("docker-compose", "make", "uv", "shellcheck")
FROM_VENV = ("python3.13", "ruff", "mypy", "pytest", "hadolint")
VARIABLES = (
    *("PWD", "UV_PYTHON", "COMPOSE", "DOCKER_CLI_PLUGIN_DIRS", "WEB_PORT"),
    *("PYTHONHASHSEED", "PYTHONPATH"),
)
# Prints "name=where" for each tool, "name=value" for each variable that is set, and
# "name_version=..." for the linters.
WHERE_SCRIPT = "".join(
    [f'echo "{t}=$(command -v {t})";' for t in FROM_FLAKE + FROM_VENV]
    + [f'[ -z "${{{v}+set}}" ] || echo "{v}=${v}";' for v in VARIABLES]
    + [f'echo "{t}_version=$({t} --version)";' for t in ("ruff", "mypy")]
)


def make_stub(directory: Path, host_dirs: list[str]) -> str:
    """A copy of the stub in `directory` that looks for the host's tools in `host_dirs`; its
    flake reference."""
    shutil.copytree(ROOT / "tests/stack/stub-nixpkgs", directory)
    (directory / "host-dirs.nix").write_text(json.dumps(" ".join(host_dirs)) + "\n")
    return f"path:{directory}"


def program_dirs(tool: str) -> list[str]:
    """The directories `tool` really is in: its own on PATH or, behind a version manager's
    shim (pyenv's, asdf's: what the shim runs depends on the directory), every version's."""
    found = shutil.which(tool)
    if found is None:
        return []
    if Path(found).parent.name != "shims":
        return [str(Path(found).parent)]
    root = Path(found).parent.parent
    return sorted(
        {
            str(p.parent)
            for p in (*root.glob(f"versions/*/bin/{tool}"), *root.glob(f"installs/*/*/bin/{tool}"))
        }
    )


def host_dirs() -> list[str]:
    """Where the stub finds the host's tools: each tool's directories, then the rest of PATH
    (not shims, the Nix store or a .venv), then Docker's plugins."""
    tools = [d for tool in HOST_TOOLS for d in program_dirs(tool)]
    path = os.environ["PATH"].split(":")
    rest = [
        d
        for d in path
        if d and not d.startswith("/nix/") and ".venv" not in d and not d.endswith("/shims")
    ]
    return list(dict.fromkeys([*tools, *rest, *PLUGIN_DIRS]))


MISSING = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
if MISSING:
    raise SystemExit(
        f"make nix-check needs on this host: {', '.join(MISSING)} "
        "(Debian/Ubuntu: apt-get install nix-bin direnv shellcheck; uv: pip install uv)"
    )
WORK = Path(tempfile.mkdtemp(prefix="tidings-nix-"))
STUB = make_stub(WORK / "stub", host_dirs())
WITH_STUB = ["--override-input", "nixpkgs", STUB, "--no-write-lock-file"]


def tearDownModule() -> None:
    shutil.rmtree(WORK, ignore_errors=True)


def attempt(
    command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`command` run with the test's nix settings, its output captured."""
    return subprocess.run(  # noqa: S603  # nix and direnv, with the test's arguments
        command,
        cwd=cwd,
        env={**os.environ, "NIX_CONFIG": NIX_CONFIG, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def run(command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """What `command` prints on its standard output; fails the test unless it succeeds."""
    result = attempt(command, cwd, env)
    if result.returncode:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def evaluate(output: str, apply: str) -> Any:  # JSON of any shape
    """The flake's `output`, with `apply` applied, evaluated with the stub for nixpkgs."""
    return json.loads(run(["nix", "eval", *WITH_STUB, "--json", f".#{output}", "--apply", apply]))


def in_shell(script: str, stub: str = STUB, cwd: Path = ROOT) -> str:
    """What `script` prints in `nix develop`, with `stub` for nixpkgs."""
    override = ["--override-input", "nixpkgs", stub, "--no-write-lock-file"]
    return run(["nix", "develop", *override, "--command", "bash", "-c", script], cwd)


def locate(output: str) -> tuple[dict[str, str], dict[str, str]]:
    """WHERE_SCRIPT's output: where each tool is, and each variable's value."""
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {t: values.get(t, "") for t in FROM_FLAKE + FROM_VENV}, values


def locked_nixpkgs() -> dict[str, dict[str, object]]:
    lock = json.loads((ROOT / "flake.lock").read_text())
    assert lock["version"] == 7, lock["version"]
    node: dict[str, dict[str, object]] = lock["nodes"][
        lock["nodes"][lock["root"]]["inputs"]["nixpkgs"]
    ]
    return node


class Lock(unittest.TestCase):
    """flake.lock pins, to one commit and its content hash, the branch flake.nix follows."""

    def test_the_lock_pins_the_branch_flake_nix_follows(self) -> None:
        branch = re.search(
            r'nixpkgs\.url = "github:NixOS/nixpkgs/([^"]+)"', (ROOT / "flake.nix").read_text()
        )
        assert branch, "flake.nix: inputs.nixpkgs.url is not github:NixOS/nixpkgs/<branch>"
        node = locked_nixpkgs()
        assert node["original"] == {
            "type": "github",
            "owner": "NixOS",
            "repo": "nixpkgs",
            "ref": branch[1],
        }
        locked = node["locked"]
        assert {locked["type"], locked["owner"], locked["repo"]} == {"github", "NixOS", "nixpkgs"}
        assert re.fullmatch(r"[0-9a-f]{40}", str(locked["rev"])), locked
        assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", str(locked["narHash"])), locked
        assert isinstance(locked["lastModified"], int), locked

    def test_nix_reads_the_lock_as_flake_nix_asks(self) -> None:
        metadata = run(["nix", "flake", "metadata", "--json", "--no-write-lock-file", "."])
        assert json.loads(metadata)["locks"]["nodes"]["nixpkgs"] == locked_nixpkgs()


class Outputs(unittest.TestCase):
    """Every output evaluates for every system."""

    def test_the_shell_the_checks_and_the_formatter_evaluate_for_every_system(self) -> None:
        shells = evaluate("devShells", "builtins.mapAttrs (system: shells: shells.default.drvPath)")
        formatters = evaluate("formatter", "builtins.mapAttrs (system: f: f.drvPath)")
        checks = evaluate(
            "checks", "builtins.mapAttrs (system: builtins.mapAttrs (n: c: c.drvPath))"
        )
        for system in SYSTEMS:
            with self.subTest(system=system):
                assert shells[system].endswith(".drv"), shells
                assert formatters[system].endswith(".drv"), formatters
                assert sorted(checks[system]) == ["formatting", "shellcheck"], checks
                assert all(path.endswith(".drv") for path in checks[system].values()), checks


class Shell(unittest.TestCase):
    """`nix develop` on this host behaves as the containers do."""

    def test_pinned_tools_come_first_and_the_environment_is_the_containers(self) -> None:
        where, values = locate(in_shell(WHERE_SCRIPT))
        for tool in FROM_FLAKE:
            assert where[tool].startswith("/nix/store/"), f"{tool} is {where[tool]}"
        for tool in FROM_VENV:
            assert where[tool] == f"{values['PWD']}/.venv/bin/{tool}", f"{tool} is {where[tool]}"
        # python3.13 is the venv's, which uv made from the flake's interpreter ($UV_PYTHON).
        assert re.fullmatch(r"/nix/store/[^/]+/bin/python3\.13", values["UV_PYTHON"]), values
        assert values["COMPOSE"] == "docker-compose", values
        buildx = Path(values["DOCKER_CLI_PLUGIN_DIRS"]) / "docker-buildx"
        assert buildx.is_file(), values  # Compose builds through it
        assert "PYTHONHASHSEED" not in values, values
        assert "PYTHONPATH" not in values, values
        lock = (ROOT / "uv.lock").read_text()
        for tool in ("ruff", "mypy"):
            locked = lock.split(f'\nname = "{tool}"\nversion = "', 1)[1].split('"', 1)[0]
            assert f" {locked}" in values[f"{tool}_version"], f"{tool}: uv.lock pins {locked}"

    def test_a_lock_behind_pyproject_is_refused_as_the_image_build_refuses_it(self) -> None:
        copy = WORK / "stale"
        copy.mkdir()
        copy_checkout(copy)
        pyproject = copy / "pyproject.toml"
        pyproject.write_text(
            pyproject.read_text().replace('"redis>=5",', '"redis>=5",\n    "rich>=13",')
        )
        entered = attempt(["nix", "develop", *WITH_STUB, "--command", "true"], copy)
        assert "'uv sync --locked' failed" in entered.stderr, entered.stderr

    def test_make_help_and_make_lint_run_through_the_pinned_compose(self) -> None:
        assert "Run the tests" in in_shell("make help")
        in_shell("make lint")


class Direnv(unittest.TestCase):
    """.envrc loads the flake's shell, and nothing of .env into the host's shell."""

    def test_envrc_loads_the_shell_and_leaves_env_to_compose(self) -> None:
        copy = WORK / "direnv"
        copy.mkdir()
        copy_checkout(copy)
        (copy / ".env").write_text("WEB_PORT=18000\n")
        # A lock pointing at the stub, so that `use flake` needs no network.
        run(["nix", "flake", "lock", "--override-input", "nixpkgs", STUB], copy)
        # direnv's list of allowed files, and nix-direnv's cache, of this test's own; uv's
        # cache the host's (empty, it would download every package again).
        xdg = copy / ".xdg"
        env = {f"XDG_{kind}_HOME": str(xdg / kind.lower()) for kind in ("CONFIG", "DATA", "CACHE")}
        env["UV_CACHE_DIR"] = run(["uv", "cache", "dir"]).strip()
        run(["direnv", "allow", "."], copy, env)
        where, values = locate(run(["direnv", "exec", ".", "bash", "-c", WHERE_SCRIPT], copy, env))
        assert where["make"].startswith("/nix/store/"), where["make"]
        assert where["ruff"] == f"{values['PWD']}/.venv/bin/ruff", where["ruff"]
        assert "WEB_PORT" not in values, ".env's values reached the host's shell"
