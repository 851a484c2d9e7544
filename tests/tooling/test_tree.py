"""docs/architecture.md's tree is the tree: each path it gives exists, and it names every
module of the app and every top-level file and directory."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Known to everyone who opened the repository; or made by tools, and git-ignored.
UNNAMED = {
    "README.md",
    "backups",
    "htmlcov",
    "result",
    "e2e-artifacts",
    "docker-compose.override.yml",
}


def tree() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"## The tree\n\n```\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no tree"
    return block[1]


def test_every_path_the_tree_gives_exists():
    paths = [line.split()[0] for line in tree().splitlines() if line and not line[0].isspace()]
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f"in the tree, not in the repository: {missing}"


def test_the_tree_names_every_module_and_top_level_entry():
    top = {path.name for path in ROOT.iterdir() if not path.name.startswith(".")} - UNNAMED
    top = {name for name in top if not name.startswith("result-")}
    modules = {path.name for path in (ROOT / "app").rglob("*.py")} - {"__init__.py"}
    names = set(re.findall(r"[\w.-]+", tree()))
    unnamed = sorted((top | modules) - names)
    assert not unnamed, f"in the repository, not in docs/architecture.md's tree: {unnamed}"
