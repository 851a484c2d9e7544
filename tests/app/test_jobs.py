"""The job queue: what may be queued, what a failed job leaves behind, a full broker."""

from __future__ import annotations

import os
import pickle

import pytest
from huey.serializer import SignedSerializer
from sqlalchemy import select

from app import jobs
from app.database import session
from app.jobs import huey
from app.subscriptions.models import Subscriber, SubscriberStatus
from devtools.testdb import ADMIN
from tests.app.support import create_issue, unique_address, wait_for_messages

QUEUE = "huey.redis.tidings"


class Payload:
    """What an attacker with the broker's password might queue: unpickling it runs a command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


@jobs.task()
def fails() -> None:
    """A job that fails."""
    raise ValueError("this job fails")


def test_a_job_queued_by_anyone_but_tidings_is_dropped_unread(live_app, start_worker, tmp_path):
    ran = tmp_path / "ran"
    log = tmp_path / "worker.log"
    broker = live_app.extensions["huey"].storage.conn
    # A raw pickle, and one signed as Huey signs but with another key.
    other_key = SignedSerializer(secret="another deployment's key", salt="tidings.jobs")
    crafted = {
        pickle.dumps(Payload(f"touch {ran}-raw")),
        other_key.serialize(Payload(f"touch {ran}-signed")),
    }
    broker.lpush(QUEUE, *crafted)
    start_worker(log=log)
    # The worker goes on with the jobs Tidings queues: a confirmation email.
    address = unique_address("after")
    assert (
        live_app.test_client().post("/api/subscribers", json={"email": address}).status_code == 202
    )
    wait_for_messages(live_app, address)
    assert not list(tmp_path.glob("ran*"))
    assert log.read_text().count("dropped a queued job: its signature does not verify") == 2
    # Taken off the queue (the periodic tasks may be queued meanwhile, on the minute).
    assert not crafted & set(broker.lrange(QUEUE, 0, -1))


def test_a_failed_job_leaves_nothing_in_the_broker(app):
    with app.app_context():
        huey.execute(fails.s())
    assert huey.result_count() == 0


@pytest.mark.alone  # the broker's memory limit is the server's, for every database
def test_a_full_broker_refuses_jobs_and_nothing_is_lost(app, client):
    broker = app.extensions["huey"].storage.conn
    limit = broker.config_get("maxmemory")["maxmemory"]
    broker.config_set("maxmemory", "1")  # full: every write is refused (noeviction)
    try:
        address = unique_address("full")
        assert client.post("/api/subscribers", json={"email": address}).status_code == 202
        issue_id = create_issue(client)
        response = client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
        assert response.status_code == 202
    finally:
        broker.config_set("maxmemory", limit)
    assert huey.pending_count() == 0
    # What the jobs were for waits in the database, for the sweep and the resume.
    shown = client.get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()
    assert (shown["status"], shown["fanned_out"]) == ("published", False)
    with app.app_context():
        row = session().scalars(select(Subscriber).where(Subscriber.email == address)).one()
        assert (row.status, row.email_due) == (SubscriberStatus.PENDING, True)
