"""`.env.example` and docs/configuration.md, generated from the declarations of every variable.

The app's settings are declared in app/settings.py; the variables only the stack reads
(ports, images, the database's own user) are declared here. `make fmt` rewrites both files
(`python -m devtools.configuration`); tests/tooling/test_configuration.py fails when they, or
docker-compose.yml, disagree with the declarations.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from app.settings import Setting, declarations

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"


@dataclass(frozen=True)
class StackVariable:
    """A variable Compose reads from .env (not the app): its default and what it is for."""

    name: str
    default: str
    doc: str


STACK_VARIABLES: dict[str, tuple[StackVariable, ...]] = {
    "Compose": (
        StackVariable(
            "COMPOSE_PROJECT_NAME",
            "",
            "Names this checkout's containers, volumes and dev image. The first `make up` "
            "fills it in: the directory's name and a hash of its path, so two checkouts never "
            "share a database.",
        ),
    ),
    "Database (PostgreSQL)": (
        StackVariable(
            "POSTGRES_USER",
            "tidings",
            "The database user; DATABASE_URL is built from these three in docker-compose.yml.",
        ),
        StackVariable("POSTGRES_DB", "tidings", "The database."),
        StackVariable(
            "POSTGRES_PASSWORD",
            "change-me",
            "Random on the first `make up`. Letters and digits only: it is placed in a URL.",
        ),
    ),
    "Redis (the cache and the broker)": (
        StackVariable(
            "CACHE_PASSWORD",
            "change-me",
            "The cache's password; CACHE_URL is built from it. Random on the first `make up`.",
        ),
        StackVariable(
            "BROKER_PASSWORD",
            "change-me",
            "The broker's password; BROKER_URL is built from it. Random on the first `make up`.",
        ),
        StackVariable(
            "CACHE_MAXMEMORY",
            "64mb",
            "Memory the cache Redis may use before it evicts the least recently used keys.",
        ),
        StackVariable(
            "BROKER_MAXMEMORY",
            "256mb",
            "Memory the broker Redis may use; when full, new jobs are refused (nothing is "
            "evicted) and wait in the database until the resume and the sweep queue them.",
        ),
    ),
    "Published ports (host side)": (
        StackVariable(
            "BIND_ADDRESS",
            "127.0.0.1",
            "Where the ports below listen; 0.0.0.0 exposes the stack to your network.",
        ),
        StackVariable("WEB_PORT", "8000", "The app."),
        StackVariable("MAILPIT_UI_PORT", "8025", "Mailpit's web UI: every email the app sends."),
        StackVariable("DB_PORT", "5432", "PostgreSQL, for your own client."),
        StackVariable("PROD_PORT", "8080", "The production stack's proxy (make prod-up)."),
    ),
    "Images (keep the majors the project supports)": (
        StackVariable("POSTGRES_IMAGE", "postgres:17", "PostgreSQL."),
        StackVariable("REDIS_IMAGE", "redis:8", "Redis, for the cache and the broker."),
        StackVariable("MAILPIT_IMAGE", "axllent/mailpit:v1.27", "The mail catcher."),
        StackVariable("NGINX_IMAGE", "nginx:1.26", "The production stack's reverse proxy."),
    ),
    "Docker Swarm (make swarm-up)": (
        StackVariable("SWARM_PORT", "8090", "Where the swarm's proxy listens."),
        StackVariable("WEB_REPLICAS", "2", "web's replicas on the swarm."),
        StackVariable("WORKER_REPLICAS", "3", "worker's replicas on the swarm."),
    ),
    "Development": (
        StackVariable(
            "FLASK_DEBUG",
            "0",
            "1: Flask's interactive debugger on errors in web "
            "(development only; it runs code on request).",
        ),
        StackVariable(
            "RELOAD_POLLING",
            "auto",
            "How web and worker notice code changes: auto "
            "(poll where file events do not cross the bind mount), true or false. "
            "`make doctor` tests the mount.",
        ),
        StackVariable(
            "WEB_CONCURRENCY",
            "1",
            "gunicorn processes serving web, 4 threads each (production defaults to 2).",
        ),
        StackVariable(
            "WEB_DEBUG_PORT",
            "5678",
            "Where `make debug` publishes debugpy for web (always on 127.0.0.1).",
        ),
        StackVariable("WORKER_DEBUG_PORT", "5679", "The same, for the worker."),
    ),
}
# Set by the Makefile for Compose, never by people.
COMPUTED = frozenset({"APP_UID", "APP_GID", "DEPS_HASH", "DEV_IMAGE"})


def stack_variables() -> dict[str, StackVariable]:
    """Every stack variable by name."""
    return {v.name: v for group in STACK_VARIABLES.values() for v in group}


def app_environment(compose: str) -> dict[str, str]:
    """The environment docker-compose.yml gives web and worker (its `x-app` block)."""
    environment: dict[str, object] = yaml.safe_load(compose)["x-app"]["environment"]
    return {name: str(value) for name, value in environment.items()}


def passes_through(name: str, value: str) -> bool:
    """Whether Compose hands the app the variable from .env (`${NAME:-...}` or `${NAME:?...}`)."""
    return value.startswith((f"${{{name}:-", f"${{{name}:?"))


def stack_value(value: str) -> str:
    """A value from docker-compose.yml as a reader wants it: no quotes, no error messages."""
    return re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", r"${\1}", value.strip('"'))


def stack_default(name: str, value: str) -> str:
    """What the stack gives `name` when .env leaves it empty (`${NAME:-default}`)."""
    return value.removeprefix(f"${{{name}:-")[:-1] if value.startswith(f"${{{name}:-") else ""


def _comment(text: str) -> str:
    return textwrap.fill(text, 92, initial_indent="# ", subsequent_indent="# ")


def _app_lines(name: str, declared: Setting, compose_value: str) -> list[str]:
    if not passes_through(name, compose_value):
        return [f"# {name}={stack_value(compose_value)} is set by docker-compose.yml."]
    doc = declared.doc
    if default := stack_default(name, compose_value):
        doc += f" Empty here: {default}."
    value = declared.example if declared.example is not None else declared.default or ""
    return [_comment(doc), f"{name}={value}"]


def render_env_example() -> str:
    """The text of `.env.example`."""
    environment = app_environment(COMPOSE_FILE.read_text())
    lines = [
        "# Tidings configuration: `make up` copies this file to .env on first run, with random",
        "# secrets; .env is never committed. This file is generated from app/settings.py and",
        "# devtools/configuration.py by `make fmt`: edit those. More: docs/configuration.md.",
        "",
        "# --- The app (app/settings.py) ---",
    ]
    for name, declared in declarations().items():
        lines += _app_lines(name, declared, environment.get(name, ""))
    for group, variables in STACK_VARIABLES.items():
        lines += ["", f"# --- {group} ---"]
        for variable in variables:
            lines += [_comment(variable.doc), f"{variable.name}={variable.default}"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_configuration_doc() -> str:
    """The text of docs/configuration.md."""
    environment = app_environment(COMPOSE_FILE.read_text())
    lines = [
        "# Configuration",
        "",
        "<!-- generated from app/settings.py and devtools/configuration.py by `make fmt` -->",
        "",
        "Every variable, where it is declared, and its default. The app reads its settings once",
        "at start-up and stops with the name of each bad one. In the development stack, Compose",
        "reads `.env` and passes the app's variables through; in production, set them in the",
        "service's environment. Any of them may instead come from a file: `NAME_FILE` gives its",
        "path (Docker secrets, a Kubernetes Secret mounted as files), so that no secret sits in",
        "the environment.",
        "",
        "## The app (app/settings.py)",
        "",
        "| Variable | Default | In the dev stack | What it is for |",
        "|---|---|---|---|",
    ]
    for name, declared in declarations().items():
        default = {None: "required", "": "(empty)"}.get(declared.default, f"`{declared.default}`")
        value = environment.get(name, "")
        stack = "from `.env`" if passes_through(name, value) else f"`{stack_value(value)}`"
        lines.append(f"| `{name}` | {_cell(default)} | {_cell(stack)} | {_cell(declared.doc)} |")
    lines += [
        "",
        "## The stack (devtools/configuration.py, read by Compose)",
        "",
        "| Variable | Default | What it is for |",
        "|---|---|---|",
    ]
    for variable in stack_variables().values():
        default = f"`{variable.default}`" if variable.default else "(empty)"
        lines.append(f"| `{variable.name}` | {default} | {_cell(variable.doc)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Rewrite both files from the declarations."""
    ENV_EXAMPLE.write_text(render_env_example())
    CONFIGURATION_DOC.parent.mkdir(exist_ok=True)
    CONFIGURATION_DOC.write_text(render_configuration_doc())


if __name__ == "__main__":
    main()
