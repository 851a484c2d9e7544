"""Delivering an issue: the fan-out, one SMTP transaction per try, deferrals and refusals as
mail servers give them, and what is recorded, against PostgreSQL, Redis and Mailpit."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import database, jobs
from app.database import session
from app.mail import RETRY_FOR, MailServerUnavailableError
from app.newsletter import delivery
from app.newsletter.models import Delivery, DeliveryStatus, Issue
from app.subscriptions.models import Subscriber, SubscriberStatus
from devtools.testdb import ADMIN
from tests.app.support import (
    add_subscribers,
    create_issue,
    messages_to,
    publish_and_fan_out,
    scripted_smtp,
    wait_for_messages,
)


def deliveries(app, issue_id: int) -> dict[str, DeliveryStatus]:
    """Each delivery of the issue: the subscriber's address and the delivery's status."""
    with app.app_context():
        rows = session().execute(
            select(Subscriber.email, Delivery.status)
            .join(Delivery.subscriber)
            .where(Delivery.issue_id == issue_id)
        )
        return dict(rows.all())


def the_delivery(app, issue_id: int) -> Delivery:
    """The issue's one delivery, fresh from the database."""
    with app.app_context():
        row = session().scalars(select(Delivery).where(Delivery.issue_id == issue_id)).one()
        session().refresh(row)
        return row


def queued(app) -> list[tuple[str, tuple[object, ...]]]:
    """The tasks waiting in the (test) broker: name and arguments."""
    return [(task.name, task.args) for task in app.extensions["huey"].pending()]


def shown(app, issue_id: int) -> dict[str, object]:
    """The issue as the admin API shows it."""
    response = app.test_client().get(f"/api/issues/{issue_id}", headers=ADMIN)
    body: dict[str, object] = response.get_json()
    return body


def back_to_mailpit(app) -> None:
    """Point the app at the stack's mail catcher again."""
    app.config.update(SMTP_HOST=os.environ["SMTP_HOST"], SMTP_PORT=int(os.environ["SMTP_PORT"]))


def published_to(app, **statuses: SubscriberStatus) -> tuple[int, dict[str, str]]:
    """Subscribers by keyword, and an issue published and fanned out to them: its id."""
    people = add_subscribers(app, **statuses)
    client = app.test_client()
    issue_id = create_issue(client)
    publish_and_fan_out(client, issue_id)
    return issue_id, people


def test_publishing_writes_no_delivery_itself_it_queues_the_fan_out(app, client):
    add_subscribers(app, ann=SubscriberStatus.CONFIRMED)
    issue_id = create_issue(client)
    response = client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    assert response.status_code == 202
    assert response.get_json()["fanned_out"] is False
    assert deliveries(app, issue_id) == {}
    assert queued(app) == [("fan_out", (issue_id,))]


def test_the_fan_out_writes_one_delivery_per_confirmed_subscriber_once(app, client):
    issue_id, people = published_to(
        app,
        ann=SubscriberStatus.CONFIRMED,
        bob=SubscriberStatus.CONFIRMED,
        cid=SubscriberStatus.PENDING,
        dee=SubscriberStatus.UNSUBSCRIBED,
    )
    again = client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    assert again.status_code == 200
    with app.app_context():
        delivery.fan_out.call_local(issue_id)  # a second run adds nothing
    assert deliveries(app, issue_id) == {
        people["ann"]: DeliveryStatus.PENDING,
        people["bob"]: DeliveryStatus.PENDING,
    }
    assert again.get_json()["fanned_out"] is True
    assert again.get_json()["deliveries"] == {"pending": 2, "deferred": 0, "sent": 0, "failed": 0}
    assert queued(app) == [("fan_out", (issue_id,)), ("deliver_issue", (issue_id,))]


def test_the_fan_out_goes_in_batches_and_resumes_where_it_stopped(app, client, monkeypatch):
    monkeypatch.setattr(delivery, "FANOUT_BATCH", 2)
    people = add_subscribers(app, **{f"r{n}": SubscriberStatus.CONFIRMED for n in range(5)})
    issue_id = create_issue(client)
    client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    with app.app_context():
        assert delivery._fan_out_batch(issue_id) == 2  # and then the worker dies
    assert len(deliveries(app, issue_id)) == 2
    assert shown(app, issue_id)["fanned_out"] is False
    with app.app_context():
        delivery.fan_out.call_local(issue_id)  # resumed
    assert set(deliveries(app, issue_id)) == set(people.values())
    assert shown(app, issue_id)["fanned_out"] is True


def test_a_large_issue_is_queued_in_batches_for_every_worker(app, client):
    with app.app_context():
        session().execute(
            insert(Subscriber).from_select(
                ["email", "status"],
                select(
                    func.concat("batch-", func.generate_series(1, 250), "@example.org"),
                    literal(SubscriberStatus.CONFIRMED, Subscriber.status.type),
                ),
            )
        )
        session().commit()
    issue_id = create_issue(client)
    publish_and_fan_out(client, issue_id)
    # 250 deliveries, batches of 100: three tasks.
    assert queued(app) == [("fan_out", (issue_id,))] + [("deliver_issue", (issue_id,))] * 3


def test_delivery_sends_the_markdown_as_text_and_safe_html_with_an_unsubscribe_link(app, client):
    people = add_subscribers(app, eve=SubscriberStatus.CONFIRMED)
    body = "First *paragraph* & more.\n\n<script>alert(1)</script>"
    issue_id = create_issue(client, subject="News & <views>", body=body)
    publish_and_fan_out(client, issue_id)
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 1
    [message] = wait_for_messages(app, people["eve"])
    assert message["Subject"] == "News & <views>"
    assert body in message["Text"].replace("\r\n", "\n")  # the Markdown, as written
    assert "<em>paragraph</em> &amp; more" in message["HTML"]
    assert "<script>" not in message["HTML"]
    assert "alert(1)" not in message["HTML"]
    unsubscribe = message["ListUnsubscribe"]["Links"][0]
    assert "/unsubscribe/" in unsubscribe
    assert unsubscribe in message["Text"]
    assert deliveries(app, issue_id) == {people["eve"]: DeliveryStatus.SENT}


def test_a_5xx_fails_the_delivery_at_once_with_the_reason_and_no_address(make_app, caplog):
    with scripted_smtp({"RCPT": "550 5.1.1 <fay@example.org>: no such mailbox"}) as smtp:
        app = make_app(**smtp)
        issue_id, people = published_to(app, fay=SubscriberStatus.CONFIRMED)
        with app.app_context():
            assert delivery.deliver_pending(issue_id, limit=10) == 1
            assert delivery.deliver_pending(issue_id, limit=10) == 0
    row = the_delivery(app, issue_id)
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 1)
    reason = "550 5.1.1 <<address>>: no such mailbox"
    assert row.last_error == reason
    assert shown(app, issue_id)["errors"] == [{"reason": reason, "deliveries": 1}]
    assert "fay@example.org" not in caplog.text
    assert people["fay"] not in caplog.text


DEFERRALS = {
    "a 451 at RCPT (greylisting)": ({"RCPT": "451 4.7.1 greylisted, try again later"}, {}),
    "a 450 at MAIL": ({"MAIL": "450 4.2.0 mailbox busy"}, {}),
    "a 452 for the message": ({"END": "452 4.3.1 insufficient storage"}, {}),
    "the connection dropped during DATA": ({"END": "hang up"}, {}),
    "a server slower than SMTP_TIMEOUT": ({}, {"RCPT": 2.0}),
}


@pytest.mark.parametrize(("replies", "stalls"), DEFERRALS.values(), ids=DEFERRALS.keys())
def test_a_deferral_waits_its_turn_then_the_delivery_goes_once(make_app, replies, stalls):
    with scripted_smtp(replies, stalls) as smtp:
        app = make_app(**smtp, SMTP_TIMEOUT="1")
        issue_id, people = published_to(app, gus=SubscriberStatus.CONFIRMED)
        with app.app_context():
            assert delivery.deliver_pending(issue_id, limit=10) == 1
            # Not due yet: no other try, whichever task asks.
            assert delivery.deliver_pending(issue_id, limit=10) == 0
    row = the_delivery(app, issue_id)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert row.last_error
    wait = row.next_attempt_at - datetime.now(UTC)
    assert timedelta(seconds=50) < wait <= timedelta(minutes=1)
    assert shown(app, issue_id)["deliveries"] == {
        "pending": 0,
        "deferred": 1,
        "sent": 0,
        "failed": 0,
    }
    with app.app_context():
        session().execute(update(Delivery).values(next_attempt_at=func.now()))
        session().commit()
    back_to_mailpit(app)
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 1
    row = the_delivery(app, issue_id)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert len(wait_for_messages(app, people["gus"])) == 1


def test_a_delivery_deferred_for_longer_than_the_retry_period_fails(make_app):
    with scripted_smtp({"RCPT": "451 4.7.1 try again later"}) as smtp:
        app = make_app(**smtp)
        issue_id, _ = published_to(app, hal=SubscriberStatus.CONFIRMED)
        with app.app_context():
            long_ago = func.now() - RETRY_FOR - timedelta(hours=1)
            session().execute(update(Issue).values(published_at=long_ago))
            session().commit()
            assert delivery.deliver_pending(issue_id, limit=10) == 1
    row = the_delivery(app, issue_id)
    assert row.status is DeliveryStatus.FAILED
    assert row.last_error == "given up after 5 days: 451 4.7.1 try again later"


def test_a_claimed_delivery_is_no_one_elses_until_its_lease_runs_out(app):
    issue_id, _ = published_to(app, ida=SubscriberStatus.CONFIRMED)
    with app.app_context():
        claimed = delivery._claim_next(issue_id)
        assert claimed is not None
        assert delivery._claim_next(issue_id) is None
        lease = claimed.next_attempt_at - datetime.now(UTC)
        assert timedelta(seconds=100) < lease <= timedelta(seconds=120)  # 12 x SMTP_TIMEOUT
        session().execute(update(Delivery).values(next_attempt_at=func.now()))
        session().commit()
        assert delivery._claim_next(issue_id) is not None


def test_the_servers_250_is_recorded_however_long_the_database_is_away(app, monkeypatch, caplog):
    issue_id, people = published_to(app, jon=SubscriberStatus.CONFIRMED)
    monkeypatch.setattr(database, "RECORD_RETRY_SECONDS", (0.01,))
    execute, outages = Session.execute, [2]

    def database_away_twice(self, statement, *args, **kwargs):
        recording = str(statement).startswith("UPDATE deliveries SET status=")
        if recording and outages[0]:
            outages[0] -= 1
            raise OperationalError("UPDATE deliveries", {}, ConnectionError("server closed"))
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "execute", database_away_twice)
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 1
    assert outages == [0]
    assert caplog.text.count("the database is unavailable") == 2
    row = the_delivery(app, issue_id)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
    assert len(wait_for_messages(app, people["jon"])) == 1


def test_a_message_that_cannot_be_built_waits_and_the_rest_go(app, monkeypatch):
    issue_id, people = published_to(
        app, kai=SubscriberStatus.CONFIRMED, lou=SubscriberStatus.CONFIRMED
    )
    build = delivery._issue_email

    def broken_for_kai(row):
        if row.subscriber.email == people["kai"]:
            raise ValueError("a header the email package refuses")
        return build(row)

    monkeypatch.setattr(delivery, "_issue_email", broken_for_kai)
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 2
    assert deliveries(app, issue_id) == {
        people["kai"]: DeliveryStatus.PENDING,
        people["lou"]: DeliveryStatus.SENT,
    }
    assert shown(app, issue_id)["errors"] == [
        {"reason": "ValueError: a header the email package refuses", "deliveries": 1}
    ]


@pytest.mark.parametrize(
    "unavailable",
    [{"SMTP_PORT": "1"}, {"SMTP_STARTTLS": "true"}, {"SMTP_IMPLICIT_TLS": "true"}],
    ids=["nothing listens", "no STARTTLS on offer", "no TLS on connect"],
)
def test_an_unavailable_mail_server_pauses_delivery_and_charges_no_one(make_app, unavailable):
    app = make_app(**unavailable)
    issue_id, people = published_to(
        app, max=SubscriberStatus.CONFIRMED, ned=SubscriberStatus.CONFIRMED
    )
    with app.app_context():
        for _ in range(3):
            with pytest.raises(MailServerUnavailableError):
                delivery.deliver_pending(issue_id, limit=10)
        delivery.deliver_issue.call_local(issue_id)  # pauses: tries again later
        rows = session().scalars(select(Delivery).where(Delivery.issue_id == issue_id)).all()
        assert [(row.status, row.attempts) for row in rows] == [(DeliveryStatus.PENDING, 0)] * 2
        assert all(row.next_attempt_at <= datetime.now(UTC) for row in rows)
    paused = app.extensions["huey"].pending()[-1]  # Huey queues it with its eta
    assert (paused.name, paused.args) == ("deliver_issue", (issue_id,))
    assert paused.eta > datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=20)
    app.config.update(SMTP_PORT=int(os.environ["SMTP_PORT"]), SMTP_STARTTLS=False)
    app.config.update(SMTP_IMPLICIT_TLS=False)
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 2
    assert set(deliveries(app, issue_id).values()) == {DeliveryStatus.SENT}
    assert len(wait_for_messages(app, people["max"])) == 1


def test_a_task_that_finds_the_database_away_waits_for_it(app, monkeypatch):
    issue_id, _ = published_to(app, rae=SubscriberStatus.CONFIRMED)

    def database_away(issue_id):
        raise OperationalError("SELECT", {}, ConnectionError("the database restarts"))

    monkeypatch.setattr(delivery, "_claim_next", database_away)
    app.extensions["huey"].flush()
    with app.app_context():
        delivery.deliver_issue.call_local(issue_id)
    [later] = app.extensions["huey"].pending()
    assert (later.name, later.args) == ("deliver_issue", (issue_id,))
    assert later.eta > datetime.now(UTC).replace(tzinfo=None)


def test_an_issue_no_task_works_on_is_restarted_and_a_busy_one_is_not(app, client):
    issue_id, _ = published_to(app, ola=SubscriberStatus.CONFIRMED)
    app.extensions["huey"].flush()  # the tasks are lost (a broker without its data, say)
    with app.app_context():
        delivery.resume_deliveries.call_local()
        assert queued(app) == []  # a task was at it a moment ago
        quiet = func.now() - delivery.QUIET_AFTER - timedelta(seconds=1)
        session().execute(update(Issue).values(delivery_heartbeat_at=quiet))
        session().execute(update(Delivery).values(next_attempt_at=quiet))
        session().commit()
        delivery.resume_deliveries.call_local()
        delivery.resume_deliveries.call_local()  # once is enough
    assert queued(app) == [("deliver_issue", (issue_id,))] * delivery.MAX_PARALLEL_BATCHES


def test_publishing_while_the_broker_is_down_loses_nothing(app, client):
    people = add_subscribers(app, pat=SubscriberStatus.CONFIRMED)
    issue_id = create_issue(client)
    app.config["BROKER_URL"], working = "redis://127.0.0.1:1/0", app.config["BROKER_URL"]
    jobs.init_app(app)  # the broker is down
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    app.config["BROKER_URL"] = working
    jobs.init_app(app)  # and back: the resume starts the fan-out
    with app.app_context():
        quiet = func.now() - delivery.QUIET_AFTER - timedelta(seconds=1)
        session().execute(update(Issue).values(delivery_heartbeat_at=quiet))
        session().commit()
        delivery.resume_deliveries.call_local()
    assert queued(app) == [("fan_out", (issue_id,))]
    with app.app_context():
        delivery.fan_out.call_local(issue_id)
    assert deliveries(app, issue_id) == {people["pat"]: DeliveryStatus.PENDING}


def test_subscriber_who_left_before_delivery_gets_nothing(app, client):
    issue_id, people = published_to(app, quinn=SubscriberStatus.CONFIRMED)
    with app.app_context():
        session().execute(update(Subscriber).values(status=SubscriberStatus.UNSUBSCRIBED))
        session().commit()
        delivery.deliver_pending(issue_id, limit=10)
    assert deliveries(app, issue_id) == {people["quinn"]: DeliveryStatus.FAILED}
    assert messages_to(app, people["quinn"]) == []
    errors = shown(app, issue_id)["errors"]
    assert errors == [{"reason": "subscriber unsubscribed before delivery", "deliveries": 1}]
