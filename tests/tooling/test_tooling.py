"""The repository's tooling agrees with itself: one version per tool, LF-only scripts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from devtools.lint import shell_scripts
from devtools.stack import MAKE_EXPORTS

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


def test_shell_scripts_have_lf_line_endings_and_the_runnable_ones_are_executable():
    scripts = shell_scripts()
    assert ROOT / "scripts" / "up" in scripts
    for script in scripts:
        text = script.read_bytes()
        assert b"\r" not in text, f"{script} has CRLF line endings"
        if text.startswith(b"#!"):
            assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_the_stack_suites_drop_every_variable_make_exports():
    # A throw-away copy that inherited them would take over the checkout's own project.
    makefile = (ROOT / "Makefile").read_text()
    exported = {
        name for line in re.findall(r"^export (.+)$", makefile, re.M) for name in line.split()
    }
    assert exported <= MAKE_EXPORTS
