"""Fixtures: the app from its factory against a separate test database and Redis databases.

Every test runs inside an outer transaction that is rolled back at its end; the app's own
commits land on a savepoint inside it (STYLE.md point 13), so no test sees another's rows.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from app import create_app
from app.database import Database

# Redis keeps the development stack's data in database 0; tests use their own.
TEST_REDIS_DB = "15"
# Fixed values, fake secrets: tests must not depend on anyone's .env.
TEST_SETTINGS = {
    "SECRET_KEY": "test-secret-key-" + "x" * 32,
    "ADMIN_TOKEN": "test-admin-token-" + "y" * 32,
    "MAIL_FROM": "Tidings Test <newsletter@tidings.test>",
}


def with_path(url: str, path: str) -> str:
    """`url` with its path (database name or number) replaced."""
    return urlunsplit(urlsplit(url)._replace(path="/" + path))


def test_environment() -> dict[str, str]:
    """Overrides that point the app at test-only databases, built from the configured ones."""
    database = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    return {
        **TEST_SETTINGS,
        "APP_ENV": "test",
        "DATABASE_URL": with_path(os.environ["DATABASE_URL"], f"{database}_test"),
        "CACHE_URL": with_path(os.environ["CACHE_URL"], TEST_REDIS_DB),
        "BROKER_URL": with_path(os.environ["BROKER_URL"], TEST_REDIS_DB),
    }


@pytest.fixture(scope="session")
def test_env() -> dict[str, str]:
    """The environment overrides every test app and worker is built with."""
    return test_environment()


@pytest.fixture(scope="session")
def test_database(test_env: dict[str, str]) -> Iterator[str]:
    """Create the test database afresh and migrate it to head; drop it at the end."""
    url = create_test_database(test_env)
    yield url
    drop_test_database(test_env)


def create_test_database(env: dict[str, str]) -> str:
    """Create env's DATABASE_URL database afresh, migrated to head; its URL."""
    drop_test_database(env)
    url = env["DATABASE_URL"]
    _as_admin(f'CREATE DATABASE "{_database_name(url)}"')
    migrate(create_engine(url), "head")
    return url


def drop_test_database(env: dict[str, str]) -> None:
    """Drop env's DATABASE_URL database, if it exists, whoever is connected."""
    _as_admin(f'DROP DATABASE IF EXISTS "{_database_name(env["DATABASE_URL"])}" WITH (FORCE)')


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _as_admin(statement: str) -> None:
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


def fresh_app(test_env: dict[str, str], overrides: dict[str, str] | None = None) -> Flask:
    """An app on the test databases, with the test Redis databases emptied."""
    app = create_app({**test_env, **(overrides or {})})
    for client in (app.extensions["cache"], app.extensions["huey"].storage.conn):
        with contextlib.suppress(redis.RedisError):  # a test may point one at nothing
            client.flushdb()
    return app


@pytest.fixture
def make_app(test_database: str, test_env: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build apps (settings overridden by keyword) whose every session joins one transaction,
    rolled back after the test, so no test sees another's rows."""
    cleanups: list[Callable[[], None]] = []

    def make(**overrides: str) -> Flask:
        app = fresh_app(test_env, overrides)
        db: Database = app.extensions["db"]
        connection = db.engine.connect()
        outer = connection.begin()
        db.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")

        def cleanup() -> None:
            outer.rollback()
            connection.close()
            db.engine.dispose()
            app.extensions["cache"].close()

        cleanups.append(cleanup)
        return app

    yield make
    for cleanup in cleanups:
        cleanup()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app with the test settings, isolated in a rolled-back transaction."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for `app`."""
    return app.test_client()


@pytest.fixture
def live_app(test_database: str, test_env: dict[str, str]) -> Iterator[Flask]:
    """An app whose commits are real, for tests shared with a worker process; emptied after."""
    app = fresh_app(test_env)
    yield app
    with app.extensions["db"].engine.begin() as connection:
        connection.execute(text("TRUNCATE deliveries, issues, subscribers RESTART IDENTITY"))
    app.extensions["db"].engine.dispose()
    app.extensions["cache"].close()


@pytest.fixture
def start_worker(test_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real Huey consumers, as the worker container runs them, on the test broker."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**overrides: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "huey.bin.huey_consumer", "app.worker.huey", "-w", "2"]
        env = {**os.environ, **test_env, **overrides}
        process = subprocess.Popen(command, env=env)  # noqa: S603  # a fixed command
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
