"""The schema, the migrations, and per-test isolation."""

from __future__ import annotations

import os
import subprocess

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from app.database import Base, get_db, session
from app.subscriptions.models import Subscriber, SubscriberStatus
from devtools.testdb import as_admin, drop_test_database, with_path


def test_migrations_match_the_models(app):
    with app.app_context(), get_db().engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


@pytest.mark.parametrize("attempt", [1, 2])
def test_committed_rows_do_not_leak_between_tests(app, attempt):
    # Both runs commit the same unique address: a leak from the first breaks the second.
    with app.app_context():
        assert session().scalar(select(func.count()).select_from(Subscriber)) == 0
        session().add(Subscriber(email="leak@example.org"))
        session().commit()
    with app.app_context():
        stored = session().scalars(select(Subscriber)).one()
        assert stored.status is SubscriberStatus.PENDING
        assert stored.created_at is not None


def test_a_statement_may_not_run_longer_than_the_timeout(app):
    with app.app_context(), get_db().engine.connect() as connection:
        assert connection.scalar(text("SHOW statement_timeout")) == "10s"
        with pytest.raises(OperationalError, match="statement timeout"):
            connection.execute(text("SET statement_timeout = 50; SELECT pg_sleep(1)"))


def test_the_alembic_command_commits_its_migrations(isolated):
    # As `make up` and `make migrate` run it: alembic's own command, its own connection.
    env = {**isolated, "DATABASE_URL": with_path(isolated["DATABASE_URL"], "tidings_cli_test")}
    drop_test_database(env)
    as_admin('CREATE DATABASE "tidings_cli_test"')
    try:
        subprocess.run(  # a fixed command
            ["alembic", "upgrade", "head"],  # noqa: S607  # the venv's, on PATH
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        engine = create_engine(env["DATABASE_URL"])
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM subscribers")) == 0
            assert connection.scalar(text("SELECT version_num FROM alembic_version"))
        engine.dispose()
    finally:
        drop_test_database(env)


def test_a_connection_the_server_ends_after_the_last_statement_costs_the_request_nothing(
    live_app: Flask,
):
    # PostgreSQL shutting down between a request's last query and its end: the rollback that
    # returns the connection to the pool fails after the answer is made. It was a 500.
    app = live_app  # the engine's own pool, as in production

    @app.get("/answered-then-dropped")
    def answered_then_dropped() -> str:
        pid = session().scalar(text("SELECT pg_backend_pid()"))
        as_admin(f"SELECT pg_terminate_backend({pid}, 5000)")  # waits until it has ended
        return "answered"

    response = app.test_client().get("/answered-then-dropped")
    assert (response.status_code, response.text) == (200, "answered")
    with app.app_context():
        assert session().scalar(text("SELECT 1")) == 1  # the dropped connection was not pooled
