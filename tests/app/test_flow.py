"""End to end through HTTP and the real worker: subscribe, confirm, publish, deliver.

These tests commit for real (the worker is another process) and use `live_app`, which
empties the test database afterwards.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update

from app.database import get_db, session
from app.newsletter import delivery
from app.newsletter.models import Delivery, Issue
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, make_token
from devtools.testdb import ADMIN
from tests.app.support import (
    create_issue,
    messages_to,
    publish_and_fan_out,
    unique_address,
    wait_for_messages,
)

DELIVERY_WAIT_SECONDS = 60


def link_path(text: str, marker: str) -> str:
    """The path of the first link containing `marker` in an email's text."""
    url = next(word for word in text.split() if marker in word)
    return urlsplit(url).path


def wait_for_deliveries(
    client, issue_id: int, done, seconds: float = DELIVERY_WAIT_SECONDS
) -> dict[str, int]:
    """Poll the admin API until `done(counts)` holds; the last counts."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        counts: dict[str, int] = client.get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()[
            "deliveries"
        ]
        if done(counts):
            return counts
        time.sleep(0.1)
    raise AssertionError(f"deliveries of issue {issue_id} stuck at {counts}")


def test_subscribe_confirm_publish_deliver(live_app, start_worker):
    start_worker()
    client = live_app.test_client()
    readers = {name: unique_address(name) for name in ("ann", "bob", "cid", "dee")}
    for address in readers.values():
        assert client.post("/api/subscribers", json={"email": address}).status_code == 202

    # Everyone gets a confirmation; ann, bob and dee confirm, cid never does.
    for name in ("ann", "bob", "dee"):
        [confirmation] = wait_for_messages(live_app, readers[name])
        assert confirmation["Subject"] == "Confirm your subscription to Tidings"
        assert client.post(link_path(confirmation["Text"], "/confirm/")).status_code == 200
    wait_for_messages(live_app, readers["cid"])
    # dee leaves (with the link an earlier issue carried); ann subscribes again, too soon
    # for another email.
    with live_app.app_context():
        dee = session().scalars(select(Subscriber).where(Subscriber.email == readers["dee"]))
        token = make_token(Purpose.UNSUBSCRIBE, dee.one())
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    assert client.post("/api/subscribers", json={"email": readers["ann"]}).status_code == 202

    issue_id = create_issue(client, subject="Tidings #1", body="The first issue.")
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    counts = wait_for_deliveries(client, issue_id, lambda c: c["sent"] + c["failed"] == 2)
    assert counts == {"pending": 0, "deferred": 0, "sent": 2, "failed": 0}

    def subjects(name: str) -> list[str]:
        return sorted(m["Subject"] for m in messages_to(live_app, readers[name]))

    confirm = "Confirm your subscription to Tidings"
    assert subjects("ann") == [confirm, "Tidings #1"]
    assert subjects("bob") == [confirm, "Tidings #1"]
    assert subjects("cid") == [confirm]
    assert subjects("dee") == [confirm]


def resumes_scheduled(app) -> list[datetime]:
    """When the resume_deliveries tasks scheduled on the test broker will run (UTC)."""
    return [
        task.eta for task in app.extensions["huey"].scheduled() if task.name == "resume_deliveries"
    ]


def add_confirmed_readers(app, count: int) -> list[str]:
    """`count` confirmed subscribers, committed; their addresses in id order."""
    readers = [unique_address(f"r{n}") for n in range(count)]
    with app.app_context(), get_db().engine.begin() as connection:
        connection.execute(
            insert(Subscriber),
            [{"email": email, "status": SubscriberStatus.CONFIRMED} for email in readers],
        )
    return readers


def test_worker_killed_between_deliveries_resumes_exactly_once(live_app, start_worker):
    client = live_app.test_client()
    readers = add_confirmed_readers(live_app, 30)
    issue_id = create_issue(client, subject="Interrupted issue")
    publish_and_fan_out(client, issue_id)

    # Hold the last 20 deliveries locked, as another worker would: the first worker sends
    # ten, finds the rest taken, and waits to retry. It is then killed outright.
    with live_app.app_context(), get_db().engine.connect() as held:
        ids = held.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        # By id: with OFFSET, PostgreSQL would lock the skipped rows too.
        held.execute(select(Delivery.id).where(Delivery.id.in_(ids[10:])).with_for_update())
        first = start_worker()
        assert wait_for_deliveries(client, issue_id, lambda c: c["sent"] == 10)["pending"] == 20
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        held.rollback()

    start_worker()  # runs the batch the killed one had scheduled on the broker
    counts = wait_for_deliveries(client, issue_id, lambda c: c["sent"] + c["failed"] == 30)
    assert counts == {"pending": 0, "deferred": 0, "sent": 30, "failed": 0}
    for address in readers:
        [message] = messages_to(live_app, address)
        assert message["Subject"] == "Interrupted issue"


def test_worker_killed_while_sending_misses_no_one(live_app, start_worker):
    # Killed at an arbitrary instant, possibly after the SMTP server took a message but before
    # its row was marked sent: that one message may go out twice, with the same Message-ID
    # (see app/newsletter/delivery.py). Nobody may be missed, and no other copy may appear.
    client = live_app.test_client()
    readers = add_confirmed_readers(live_app, 30)
    issue_id = create_issue(client, subject="Killed mid-send")
    # A lease of 12 x SMTP_TIMEOUT = 24 s, less than the issue is aged by below.
    first = start_worker(MAIL_RATE_LIMIT="20", SMTP_TIMEOUT="2")
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    wait_for_deliveries(client, issue_id, lambda c: c["sent"] >= 5)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert wait_for_deliveries(client, issue_id, lambda c: True)["sent"] < 30

    # A worker that starts looks for the dead one's issues once they have been quiet long enough.
    before = resumes_scheduled(live_app)  # the killed worker's, as it started
    start_worker(SMTP_TIMEOUT="2")
    deadline = time.monotonic() + 10
    while len(resumes_scheduled(live_app)) == len(before) and time.monotonic() < deadline:
        time.sleep(0.1)
    ahead = max(resumes_scheduled(live_app)) - datetime.now(UTC).replace(tzinfo=None)
    assert delivery.QUIET_AFTER < ahead <= delivery.QUIET_AFTER + delivery.HEARTBEAT, ahead
    # Rather than wait that long, age the issue: its heartbeat and the lease the kill left
    # behind fall back by QUIET_AFTER, and the resume is run at once.
    with live_app.app_context(), get_db().engine.begin() as connection:
        connection.execute(
            update(Issue)
            .where(Issue.id == issue_id)
            .values(delivery_heartbeat_at=Issue.delivery_heartbeat_at - delivery.QUIET_AFTER)
        )
        connection.execute(
            update(Delivery)
            .where(Delivery.issue_id == issue_id)
            .values(next_attempt_at=Delivery.next_attempt_at - delivery.QUIET_AFTER * 2)
        )
    with live_app.app_context():
        delivery.resume_deliveries()
    counts = wait_for_deliveries(client, issue_id, lambda c: c["sent"] + c["failed"] == 30)
    assert counts == {"pending": 0, "deferred": 0, "sent": 30, "failed": 0}
    copies = {address: messages_to(live_app, address) for address in readers}
    assert all(copies.values()), "a subscriber was missed"
    for messages in copies.values():
        assert len({m["MessageID"] for m in messages}) == 1
    assert sum(len(messages) for messages in copies.values()) <= 31
