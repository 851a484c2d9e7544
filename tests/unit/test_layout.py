"""The module lists others rely on are complete: tasks for the worker, models for Alembic."""

from __future__ import annotations

import re
from pathlib import Path

from app.database import MODEL_MODULES
from app.tasks import TASK_MODULES

APP = Path(__file__).resolve().parents[2] / "app"


def modules_matching(pattern: str) -> set[str]:
    """The app's modules whose source matches `pattern` (a line-anchored regex)."""
    return {
        ".".join(path.relative_to(APP.parent).with_suffix("").parts)
        for path in APP.rglob("*.py")
        if re.search(pattern, path.read_text(), re.M)
    }


def test_every_module_that_declares_a_task_is_a_task_module():
    declaring = modules_matching(r"^@(task|periodic_task|on_consumer_start)\b")
    assert declaring == set(TASK_MODULES), "list them in TASK_MODULES (app/tasks.py)"


def test_every_module_that_declares_a_model_is_a_model_module():
    declaring = modules_matching(r"^class \w+\(Base\):")
    assert declaring == set(MODEL_MODULES), "list them in MODEL_MODULES (app/database.py)"
