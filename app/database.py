"""PostgreSQL through SQLAlchemy 2: one engine per app, one session per app context."""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine, Enum, Executable, create_engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Seconds to wait for PostgreSQL to accept a connection; readiness must answer quickly.
CONNECT_TIMEOUT = 3
# Milliseconds one SQL statement may run: a stuck query fails its request rather than holding
# a server thread and a connection indefinitely. Migrations lift it (migrations/env.py).
STATEMENT_TIMEOUT_MS = 10_000
# Seconds between tries of a write that must not be lost, while the database is away.
RECORD_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
# The largest id a PostgreSQL integer column holds; URL rules refuse larger ones (404).
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    """Base class of every model; its metadata is what Alembic compares against."""


def pg_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A PostgreSQL enum type storing the members' values (not their names)."""
    return Enum(enum_class, name=name, values_callable=lambda members: [m.value for m in members])


@dataclass(frozen=True)
class Database:
    """The app's engine and the factory of its sessions."""

    engine: Engine
    sessions: sessionmaker[Session]


def init_app(app: Flask) -> None:
    """Create the engine from DATABASE_URL and close each context's session at its end."""
    engine = create_engine(
        app.config["DATABASE_URL"],
        pool_pre_ping=True,
        # A failed statement's message (which Flask logs) must not carry what readers sent.
        hide_parameters=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        },
    )
    app.extensions["db"] = Database(engine, sessionmaker(engine, expire_on_commit=False))
    app.teardown_appcontext(_close_session)


def get_db() -> Database:
    """The current app's Database."""
    db: Database = current_app.extensions["db"]
    return db


def session() -> Session:
    """The current app context's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = get_db().sessions()
    current: Session = g.db_session
    return current


def _close_session(_exc: BaseException | None) -> None:
    """Return the context's connection to the pool; uncommitted work is rolled back."""
    current = g.pop("db_session", None)
    if current is None:
        return
    try:
        current.close()
    except (OperationalError, InterfaceError) as exc:
        # The server ended the connection after the last statement (a restart): the request or
        # task is done, so this is no error of theirs. SQLAlchemy discards the connection.
        current_app.logger.warning("database connection lost at the end: %s", exc.orig or exc)


def commit_when_possible(statement: Executable, what: str) -> None:
    """Execute `statement` and commit, however long the database takes to come back.

    For facts the database does not hold yet and nothing else knows, such as an SMTP
    server's "250 OK": the caller takes no more work until they are recorded.
    """
    for tries in itertools.count():
        try:
            session().execute(statement)
            session().commit()
            return
        except (OperationalError, InterfaceError) as exc:  # the connection, not the SQL
            session().rollback()
            wait = RECORD_RETRY_SECONDS[min(tries, len(RECORD_RETRY_SECONDS) - 1)]
            current_app.logger.warning(
                "%s: the database is unavailable (%s); trying again in %s s",
                what,
                str(exc.orig or exc).strip(),
                wait,
            )
            time.sleep(wait)
