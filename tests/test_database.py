"""The schema, the migrations, and per-test isolation."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from app.database import Base, get_db, session
from app.subscriptions.models import Subscriber, SubscriberStatus


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
