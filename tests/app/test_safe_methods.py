"""No safe method changes anything: every route, every safe method, with and without the
admin token and the owner's session, valid and invalid tokens; the database and the job
queue are compared whole.

Mail scanners and link previews fetch (GET, HEAD) every link in a message, and browsers send
OPTIONS on their own: a route that acted on one of them would act for nobody in particular.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from app.database import MAX_ID, Base, session
from app.newsletter import service
from app.newsletter.models import Issue
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, make_token
from devtools.testdb import ADMIN
from tests.app.support import unique_address

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def snapshot(app: Flask) -> dict[str, Any]:
    """Every row of every table, and the jobs waiting in the broker."""
    with app.app_context():
        tables = {
            table.name: session().execute(text(f"SELECT * FROM {table.name} ORDER BY 1")).all()  # noqa: S608  # the models' own names
            for table in Base.metadata.sorted_tables
        }
        session().rollback()
    return {**tables, "jobs": app.extensions["huey"].pending_count()}


def route_arguments(app: Flask) -> dict[str, list[object]]:
    """For each URL argument a route takes, values that name something, and values that do not."""
    with app.app_context():
        pending = Subscriber(email=unique_address("pending"), status=SubscriberStatus.PENDING)
        confirmed = Subscriber(email=unique_address("reader"), status=SubscriberStatus.CONFIRMED)
        session().add_all([pending, confirmed])
        draft, published = Issue(subject="Draft", body="b"), Issue(subject="Out", body="b")
        session().add_all([draft, published])
        session().commit()
        service.publish(published.id)
        tokens = [
            make_token(purpose, subscriber)
            for purpose in Purpose
            for subscriber in (pending, confirmed)
        ]
        return {
            "token": [*tokens, "not-a-token"],
            "issue_id": [draft.id, published.id, MAX_ID],
            "subscriber_id": [pending.id, confirmed.id, MAX_ID],
            "filename": ["favicon.svg", "missing.css"],
        }


def test_no_safe_method_changes_anything_on_any_route(app, client):
    arguments = route_arguments(app)
    before = snapshot(app)
    urls = app.url_map.bind("localhost")
    tried = 0
    for rule in app.url_map.iter_rules():
        missing = rule.arguments - arguments.keys()
        assert not missing, f"{rule}: give this test values for {sorted(missing)}"
        names = sorted(rule.arguments)
        for values in itertools.product(*(arguments[name] for name in names)):
            path = urls.build(rule.endpoint, dict(zip(names, values, strict=True)))
            for method, owner, headers in itertools.product(
                SAFE_METHODS, (False, True), ({}, ADMIN)
            ):
                with client.session_transaction() as signed_in:
                    signed_in["owner"] = owner
                with client.open(path, method=method, headers=headers) as response:
                    assert response.status_code < 500, (method, path, response.status_code)
                tried += 1
    assert tried > 100
    assert snapshot(app) == before


@pytest.mark.parametrize("purpose", list(Purpose))
def test_head_on_an_email_link_shows_the_page_and_acts_for_no_one(app, client, purpose):
    status = SubscriberStatus.PENDING if purpose is Purpose.CONFIRM else SubscriberStatus.CONFIRMED
    with app.app_context():
        reader = Subscriber(email=unique_address(), status=status)
        session().add(reader)
        session().commit()
        token = make_token(purpose, reader)
    response = client.head(f"/{purpose.name.lower()}/{token}")
    assert response.status_code == 200
    with app.app_context():
        assert session().get_one(Subscriber, reader.id).status is status
