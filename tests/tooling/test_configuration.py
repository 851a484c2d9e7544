"""Each variable is declared once; .env.example, the docs and Compose agree with that."""

from __future__ import annotations

import re

import pytest

from app.settings import declarations
from devtools.configuration import (
    COMPOSE_FILE,
    COMPUTED,
    CONFIGURATION_DOC,
    ENV_EXAMPLE,
    ROOT,
    app_environment,
    passes_through,
    render_configuration_doc,
    render_env_example,
    stack_variables,
)

COMPOSE_FILES = (
    "docker-compose.yml",
    "compose.debug.yml",
    "compose.test.yml",
    "compose.prod.yml",
    "deploy/swarm.yml",
)


def compose_defaults() -> list[tuple[str, str]]:
    """Every `${NAME:-default}` in the Compose files, comments aside."""
    code = "\n".join(
        line
        for name in COMPOSE_FILES
        for line in (ROOT / name).read_text().splitlines()
        if not line.lstrip().startswith("#")
    )
    return re.findall(r"\$\{([A-Z_]+):-((?:[^{}]|\$\{[^}]*\})*)\}", code)


@pytest.mark.parametrize(
    ("path", "render"),
    [(ENV_EXAMPLE, render_env_example), (CONFIGURATION_DOC, render_configuration_doc)],
    ids=[".env.example", "docs/configuration.md"],
)
def test_generated_files_match_the_declarations(path, render):
    assert path.read_text() == render(), f"{path.name} is out of date: run make fmt"


def test_compose_hands_the_app_every_setting():
    environment = app_environment(COMPOSE_FILE.read_text())
    missing = declarations().keys() - environment.keys()
    assert not missing, f"add to x-app's environment in docker-compose.yml: {sorted(missing)}"


def test_compose_repeats_no_default_of_the_app():
    # The stack may give its own (SMTP_PORT: Mailpit's 1025), not repeat the app's.
    environment = app_environment(COMPOSE_FILE.read_text())
    repeated = [
        name
        for name, declared in declarations().items()
        if declared.default
        and passes_through(name, environment[name])
        and environment[name] == f"${{{name}:-{declared.default}}}"
    ]
    assert not repeated, (
        f"pass these through as ${{NAME:-}}: the app has their defaults: {repeated}"
    )


def test_compose_defaults_of_the_stack_are_the_declared_ones():
    declared = stack_variables()
    for name, default in compose_defaults():
        if name in declarations() or name in COMPUTED:
            continue
        assert name in declared, (
            f"{name} is read by Compose: declare it in devtools/configuration.py"
        )
        assert default == declared[name].default, f"{name}: Compose says {default!r}"


def test_every_secret_is_generated_on_first_run():
    # scripts/init-env replaces each change-me of .env.example with a random value.
    placeholders = set(re.findall(r"^([A-Z_]+)=change-me$", ENV_EXAMPLE.read_text(), re.M))
    secrets = {name for name, declared in declarations().items() if declared.secret}
    stack = {"POSTGRES_PASSWORD", "CACHE_PASSWORD", "BROKER_PASSWORD"}
    assert secrets - {"SECRET_KEY_FALLBACKS"} | stack == placeholders
