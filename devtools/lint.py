"""Every linter, in the dev container (`make lint`): Python, the Dockerfile, the shell scripts.

Runs them all and fails if any failed, so that one run shows every problem.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What makes a file a shell script, here and in flake.nix's check: its interpreter line, or
# shellcheck's directive in a file that is sourced.
SHELL_SCRIPT = re.compile(rb"^(#!/usr/bin/env (ba)?sh|# shellcheck shell=(ba)?sh)$", re.M)
NOT_OURS = {".git", ".venv", "node_modules", ".direnv", "__pycache__", "e2e-artifacts"}


def shell_scripts() -> list[Path]:
    """Every shell script of the checkout (directories of other tools' not entered)."""
    found = []
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [name for name in subdirectories if name not in NOT_OURS]
        paths = (Path(directory, name) for name in files)
        found += [path for path in paths if SHELL_SCRIPT.search(_start_of(path))]
    return sorted(found)


def _start_of(path: Path) -> bytes:
    """The file's first bytes; none of a file this user may not read (.env, a link into the
    host's own tools, say)."""
    try:
        with path.open("rb") as file:
            return file.read(4096)
    except OSError:
        return b""


def checks() -> dict[str, list[str]]:
    """Each linter's command line, by what it checks."""
    scripts = [str(path.relative_to(ROOT)) for path in shell_scripts()]
    return {
        "ruff (code)": ["ruff", "check", "."],
        "ruff (format)": ["ruff", "format", "--check", "."],
        "hadolint (Dockerfile)": ["hadolint", "Dockerfile"],
        "shellcheck (scripts)": ["shellcheck", "--external-sources", *scripts],
    }


def main() -> int:
    """Run every check; 1 if any failed."""
    failed = []
    for name, command in checks().items():
        print(f"==> {name}", flush=True)
        if subprocess.run(command, cwd=ROOT, check=False).returncode:  # noqa: S603  # fixed
            failed.append(name)
    print(f"lint failed: {', '.join(failed)}" if failed else "lint passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
