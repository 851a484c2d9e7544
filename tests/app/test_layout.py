"""Importing the app is enough for the worker and Alembic: it declares every task and table."""

from __future__ import annotations

import subprocess
import sys

# What the worker and Alembic see: every task's name and every table's.
REPORT = (
    "from app.database import Base; from app.jobs import huey; "
    "print(sorted(huey._registry._registry), sorted(Base.metadata.tables))"
)
EVERY_MODULE = (
    "import importlib, pkgutil, app; "
    "[importlib.import_module(m.name) for m in pkgutil.walk_packages(app.__path__, 'app.') "
    "if m.name != 'app.wsgi']"  # the one module that builds an app as it is imported
)


def declared_after(code: str) -> str:
    """The tasks and tables declared once `code` has run, in a fresh interpreter."""
    return subprocess.run(  # noqa: S603  # the current interpreter, fixed code
        [sys.executable, "-c", f"{code}; {REPORT}"], capture_output=True, text=True, check=True
    ).stdout


def test_importing_the_app_declares_every_task_and_table_any_module_declares():
    everything = declared_after(EVERY_MODULE)
    assert "deliver_issue" in everything
    assert "subscribers" in everything
    assert declared_after("import app") == everything, (
        "a module that declares a task or a model is not imported by the app: import it from "
        "its feature's service (tasks) or models"
    )
