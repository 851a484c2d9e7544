"""End to end through HTTP and the real worker: subscribe, confirm, publish, deliver.

These tests commit for real (the worker is another process) and use `live_app`, which
empties the test database afterwards.
"""

from __future__ import annotations

import signal
import time
from urllib.parse import urlsplit

from sqlalchemy import insert, select

from app.database import get_db, session
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, make_token
from tests import mailpit
from tests.test_newsletter import ADMIN, create_issue

DELIVERY_WAIT_SECONDS = 60


def link_path(text: str, marker: str) -> str:
    """The path of the first link containing `marker` in an email's text."""
    url = next(word for word in text.split() if marker in word)
    return urlsplit(url).path


def wait_for_deliveries(client, issue_id: int, done) -> dict[str, int]:
    """Poll the admin API until `done(counts)` holds; the last counts."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
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
    readers = {name: mailpit.unique_address(name) for name in ("ann", "bob", "cid", "dee")}
    for address in readers.values():
        assert client.post("/api/subscribers", json={"email": address}).status_code == 202

    # Everyone gets a confirmation; ann, bob and dee confirm, cid never does.
    for name in ("ann", "bob", "dee"):
        [confirmation] = mailpit.wait_for_messages(live_app, readers[name])
        assert confirmation["Subject"] == "Confirm your subscription to Tidings"
        assert client.get(link_path(confirmation["Text"], "/confirm/")).status_code == 200
    mailpit.wait_for_messages(live_app, readers["cid"])
    # dee leaves (with the link an earlier issue carried); ann subscribes again, too soon
    # for another email.
    with live_app.app_context():
        dee = session().scalars(select(Subscriber).where(Subscriber.email == readers["dee"]))
        token = make_token(Purpose.UNSUBSCRIBE, dee.one())
    assert client.get(f"/unsubscribe/{token}").status_code == 200
    assert client.post("/api/subscribers", json={"email": readers["ann"]}).status_code == 202

    issue_id = create_issue(client, subject="Tidings #1", body="The first issue.")
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    counts = wait_for_deliveries(client, issue_id, lambda c: c["pending"] == 0)
    assert counts == {"pending": 0, "sent": 2, "failed": 0}

    def subjects(name: str) -> list[str]:
        return sorted(m["Subject"] for m in mailpit.messages_to(live_app, readers[name]))

    confirm = "Confirm your subscription to Tidings"
    assert subjects("ann") == [confirm, "Tidings #1"]
    assert subjects("bob") == [confirm, "Tidings #1"]
    assert subjects("cid") == [confirm]
    assert subjects("dee") == [confirm]


def test_delivery_interrupted_by_a_killed_worker_finishes_exactly_once(live_app, start_worker):
    client = live_app.test_client()
    readers = [mailpit.unique_address(f"r{n}") for n in range(30)]
    with live_app.app_context(), get_db().engine.begin() as connection:
        connection.execute(
            insert(Subscriber),
            [{"email": email, "status": SubscriberStatus.CONFIRMED} for email in readers],
        )
    issue_id = create_issue(client, subject="Interrupted issue")

    # 20 messages a second: the worker is still busy when it is killed.
    first = start_worker(MAIL_RATE_LIMIT="20")
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    wait_for_deliveries(client, issue_id, lambda c: c["sent"] >= 5)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    interrupted = wait_for_deliveries(client, issue_id, lambda c: True)
    assert 5 <= interrupted["sent"] < 30, "the worker finished before it was killed"

    start_worker()  # resumes the pending deliveries as it starts
    counts = wait_for_deliveries(client, issue_id, lambda c: c["pending"] == 0)
    assert counts == {"pending": 0, "sent": 30, "failed": 0}
    for address in readers:
        assert [m["Subject"] for m in mailpit.messages_to(live_app, address)] == [
            "Interrupted issue"
        ]
