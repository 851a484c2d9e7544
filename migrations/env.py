"""Alembic environment: the database and metadata come from the Tidings app itself."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

# Importing the app imports every model (each feature's views reach its models).
from app import create_app_or_exit
from app.database import Base

target_metadata = Base.metadata


def run_offline() -> None:
    """Emit SQL for `alembic upgrade --sql` without connecting."""
    url = create_app_or_exit().config["DATABASE_URL"]
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    """Apply migrations on `connection`, in one transaction."""
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        # The app's statement timeout is for requests; a migration may rewrite a large table.
        # LOCAL, inside Alembic's transaction: a statement before it would open a transaction
        # of SQLAlchemy's that Alembic then leaves to its caller, and nothing would commit.
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        context.run_migrations()


def main() -> None:
    """Use the caller's connection (tests pass one), else the app's engine."""
    if context.is_offline_mode():
        run_offline()
        return
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        run_online(given)
        return
    engine = create_app_or_exit().extensions["db"].engine
    with engine.connect() as connection:
        run_online(connection)


main()
