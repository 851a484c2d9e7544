"""Fixtures: the app from its factory against a separate test database and Redis databases.

Every test runs inside an outer transaction that is rolled back at its end; the app's own
commits land on a savepoint inside it (join_transaction_mode="create_savepoint"), so no
test sees another's rows, however often the code under test commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app import create_app
from app.database import Database
from devtools.testdb import (
    create_test_database,
    drop_test_database,
    isolated_overrides,
    wait_for_services,
)

# The processes make test runs share the PostgreSQL and Redis servers (not their databases).
# Every test holds this lock shared; one marked `alone` holds it exclusively.
SERVERS_LOCK = Path(tempfile.gettempdir()) / "tidings-tests-servers.lock"


@pytest.fixture(autouse=True)
def servers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Wait until no test marked `alone` runs, or, for one, until no other test runs."""
    alone = request.node.get_closest_marker("alone") is not None
    with SERVERS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        yield


@pytest.fixture(scope="session")
def isolated() -> dict[str, str]:
    """The settings overrides every test app and worker is built with (isolated_overrides),
    once the services answer."""
    wait_for_services()
    return isolated_overrides()


@pytest.fixture(scope="session")
def database(isolated: dict[str, str]) -> Iterator[str]:
    """Create the test database afresh and migrate it to head; drop it at the end."""
    url = create_test_database(isolated)
    yield url
    drop_test_database(isolated)


def fresh_app(isolated: dict[str, str], overrides: dict[str, str] | None = None) -> Flask:
    """An app on the test databases, with the test Redis databases emptied."""
    app = create_app({**isolated, **(overrides or {})})
    for client in (app.extensions["cache"], app.extensions["huey"].storage.conn):
        with contextlib.suppress(redis.RedisError):  # a test may point one at nothing
            client.flushdb()
    return app


@pytest.fixture
def make_app(database: str, isolated: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build apps (settings overridden by keyword) whose every session joins one transaction,
    rolled back after the test, so no test sees another's rows."""
    cleanups: list[Callable[[], None]] = []

    def make(**overrides: str) -> Flask:
        app = fresh_app(isolated, overrides)
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
def live_app(database: str, isolated: dict[str, str]) -> Iterator[Flask]:
    """An app whose commits are real, for tests shared with a worker process; emptied after."""
    app = fresh_app(isolated)
    yield app
    with app.extensions["db"].engine.begin() as connection:
        connection.execute(text("TRUNCATE deliveries, issues, subscribers RESTART IDENTITY"))
    app.extensions["db"].engine.dispose()
    app.extensions["cache"].close()


@pytest.fixture
def start_worker(isolated: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real Huey consumers, as the worker container runs them, on the test broker."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(log: Path | None = None, **overrides: str) -> subprocess.Popen[bytes]:
        """A worker with the test settings and `overrides`; its log to `log`, if given."""
        command = [sys.executable, "-m", "app.worker"]
        env = {**os.environ, **isolated, **overrides}
        with log.open("wb") if log else contextlib.nullcontext() as output:
            process = subprocess.Popen(command, env=env, stderr=output)  # noqa: S603  # fixed
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
