"""The GitHub workflows, checked offline (actionlint runs in .ci/run): every action pinned by
commit, every job bounded in time with a token that reads only unless it says why, and every
make target they call a target of the Makefile; `make ci` runs what the CI workflow runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Helpers a workflow asks make for, not work of its own.
HELPERS = re.compile(r"\.env|print-\w*")


def workflow(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in workflow(path)["jobs"].values() for step in job["steps"]]


def make_targets_called(path: Path) -> set[str]:
    """The make targets the workflow's steps run (variables like STACK=prod left out)."""
    called = set()
    for step in steps(path):
        for command in re.findall(r"\bmake ([^\n;&|)$]*)", step.get("run", "")):
            words = (word.strip("\"'") for word in command.split())
            called |= {word for word in words if word and "=" not in word and word[0] != "-"}
    return called


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_by_commit_with_its_version_beside(path):
    uses = re.findall(r"uses: (\S+)(.*)", path.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), f"{action}: say its version"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_job_has_a_timeout_and_the_token_reads_only_by_default(path):
    loaded = workflow(path)
    assert loaded["permissions"] == {"contents": "read"}
    for name, job in loaded["jobs"].items():
        assert job["timeout-minutes"] <= 60, name
    for step in steps(path):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_make_target_a_workflow_calls_exists(path):
    missing = {
        t for t in make_targets_called(path) if not HELPERS.fullmatch(t)
    } - makefile_targets()
    assert not missing, f"{path.name} calls make targets the Makefile lacks: {missing}"


def test_make_ci_runs_what_the_ci_workflow_runs():
    ci = ROOT / ".github" / "workflows" / "ci.yml"
    in_workflow = {t for t in make_targets_called(ci) if not HELPERS.fullmatch(t)}
    recipe = re.search(r"^ci:.*\n\t(.+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no ci target"
    assert set(re.findall(r"[a-z][\w-]*", recipe[1])) - {"make"} >= in_workflow
    assert in_workflow >= {"lint", "typecheck", "test", "faults"}


def test_updates_are_proposed_for_images_python_and_actions():
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in dependabot["updates"]}
    assert {"docker", "docker-compose", "uv", "github-actions"} <= ecosystems
    assert all("groups" in update for update in dependabot["updates"])
