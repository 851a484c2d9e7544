"""Where the worker finds every task: the modules that declare one, each beside its feature.

A task is declared with `@task()` or `@periodic_task()` (app/jobs.py) in the module of the
feature it serves; a module that declares its first task joins TASK_MODULES. A test fails
when one is missing.
"""

import importlib

TASK_MODULES = ("app.newsletter.delivery", "app.subscriptions.emails")


def register() -> None:
    """Import every task module, so that the consumer knows each task by its name."""
    for module in TASK_MODULES:
        importlib.import_module(module)
