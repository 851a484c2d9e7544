"""Every linter, in the dev container (`make lint`): Python, the Dockerfile, the shell scripts.

Runs them all and fails if any failed, so that one run shows every problem.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELL_SCRIPTS = ("scripts/*", ".ci/run", "tests/stack/stub-nixpkgs/*.sh")


def checks() -> dict[str, list[str]]:
    """Each linter's command line, by what it checks."""
    scripts = sorted(str(p.relative_to(ROOT)) for g in SHELL_SCRIPTS for p in ROOT.glob(g))
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
