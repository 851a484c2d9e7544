"""The repository's tooling agrees with itself: one version per tool, LF-only scripts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.stack.stack import MAKE_EXPORTS

ROOT = Path(__file__).resolve().parents[2]


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    version: str = next(p["version"] for p in lock["package"] if p["name"] == package)
    return version


def test_pre_commit_ruff_is_the_locked_ruff():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    match = re.search(r"ruff-pre-commit\n\s+rev: v(\S+)", config)
    assert match, "ruff-pre-commit is missing from .pre-commit-config.yaml"
    assert match.group(1) == locked_version("ruff"), "update rev: to the ruff in uv.lock"


def test_pre_commit_mypy_comes_from_the_lock():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "entry: uv run --frozen mypy" in config


def test_scripts_have_lf_line_endings_and_are_executable():
    scripts = [*(ROOT / "scripts").iterdir(), ROOT / ".ci" / "run"]
    for script in scripts:
        assert b"\r" not in script.read_bytes(), f"{script} has CRLF line endings"
        if script.name != "lib.sh":
            assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_the_stack_suites_drop_every_variable_make_exports():
    # A throw-away copy that inherited them would take over the checkout's own project.
    makefile = (ROOT / "Makefile").read_text()
    exported = {
        name for line in re.findall(r"^export (.+)$", makefile, re.M) for name in line.split()
    }
    assert exported <= MAKE_EXPORTS
