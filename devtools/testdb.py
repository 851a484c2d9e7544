"""The test databases: the app's settings pointed at a PostgreSQL database and a Redis
database of their own, made afresh and dropped, for the tests (tests/app) and the benchmark
(bench/services.py), in the test stack's containers (once they answer); never the
development data.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from werkzeug.security import generate_password_hash

# Redis keeps the development stack's data in database 0; tests use their own, counting down
# from the last (15) for each process pytest-xdist runs them in.
LAST_REDIS_DB = 15
# The owner's password in the tests, and its hash (pbkdf2 with few rounds: tests are fast).
OWNER_PASSWORD = "test-owner-password"  # noqa: S105  # the tests' own, fake
# Seconds the test stack's services may take to answer: scripts/test-stack starts them without
# waiting, so that the tests' process starts meanwhile.
SERVICES_WAIT_SECONDS = 60
# Fixed values, fake secrets: tests must not depend on anyone's .env.
TEST_SETTINGS = {
    "SECRET_KEY": "test-secret-key-" + "x" * 32,
    "ADMIN_TOKEN": "test-admin-token-" + "y" * 32,
    "MAIL_FROM": "Tidings Test <newsletter@tidings.test>",
    "ADMIN_PASSWORD_HASH": generate_password_hash(OWNER_PASSWORD, "pbkdf2:sha256:1000"),
    "OWNER_EMAIL": "owner@tidings.test",
}
# The admin API's header, with the test ADMIN_TOKEN.
ADMIN = {"Authorization": f"Bearer {TEST_SETTINGS['ADMIN_TOKEN']}"}


def with_path(url: str, path: str) -> str:
    """`url` with its path (database name or number) replaced."""
    return urlunsplit(urlsplit(url)._replace(path="/" + path))


def wait_for_services() -> None:
    """Return once PostgreSQL, the cache, the broker and Mailpit answer; fail naming the first
    that does not within SERVICES_WAIT_SECONDS."""
    mailpit = os.environ.get("MAILPIT_API_URL", "http://mailpit:8025")
    checks: dict[str, Callable[[], object]] = {
        "PostgreSQL (DATABASE_URL)": lambda: as_admin("SELECT 1"),
        "the cache (CACHE_URL)": lambda: _ping_redis(os.environ["CACHE_URL"]),
        "the broker (BROKER_URL)": lambda: _ping_redis(os.environ["BROKER_URL"]),
        "Mailpit (MAILPIT_API_URL)": lambda: urllib.request.urlopen(  # noqa: S310  # the stack's
            f"{mailpit}/readyz", timeout=2
        ).close(),
    }
    deadline = time.monotonic() + SERVICES_WAIT_SECONDS
    for name, check in checks.items():
        while True:
            try:
                check()
                break
            except (OperationalError, redis.RedisError, OSError) as exc:  # not up yet
                if time.monotonic() > deadline:
                    message = f"{name} did not answer within {SERVICES_WAIT_SECONDS} s: {exc}"
                    raise RuntimeError(message) from exc
                time.sleep(0.1)


def _ping_redis(url: str) -> None:
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        client.ping()


def isolated_overrides() -> dict[str, str]:
    """Overrides that point the app at test-only databases, built from the configured ones:
    one set for each pytest-xdist process (gw0, gw1, ...), so that they run side by side."""
    database = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    process = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    redis_db = str(LAST_REDIS_DB - int(process.removeprefix("gw")))
    return {
        **TEST_SETTINGS,
        "APP_ENV": "test",
        "DATABASE_URL": with_path(os.environ["DATABASE_URL"], f"{database}_{process}_test"),
        "CACHE_URL": with_path(os.environ["CACHE_URL"], redis_db),
        "BROKER_URL": with_path(os.environ["BROKER_URL"], redis_db),
    }


def create_test_database(env: dict[str, str]) -> str:
    """Create env's DATABASE_URL database afresh, migrated to head; its URL."""
    drop_test_database(env)
    url = env["DATABASE_URL"]
    as_admin(f'CREATE DATABASE "{database_name(url)}"')
    migrate(create_engine(url), "head")
    return url


def drop_test_database(env: dict[str, str]) -> None:
    """Drop env's DATABASE_URL database, if it exists, whoever is connected."""
    as_admin(f'DROP DATABASE IF EXISTS "{database_name(env["DATABASE_URL"])}" WITH (FORCE)')


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def as_admin(statement: str) -> None:
    """Run `statement` outside a transaction on the configured (not the test) database."""
    admin = create_engine(os.environ["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(statement))
    admin.dispose()


def migrate(engine: Engine, revision: str) -> None:
    """Run `alembic upgrade revision` on `engine`, through the project's own Alembic setup."""
    config = Config(toml_file="pyproject.toml")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()
