"""Email through the real mail catcher, sent directly and by the real worker."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from typing import Any

from app.mail import send_email, send_email_later

WAIT_SECONDS = 30


def mailpit_url(app) -> str:
    """The mail catcher's HTTP API, beside its SMTP port."""
    return os.environ.get("MAILPIT_API_URL", f"http://{app.config['SMTP_HOST']}:8025")


def mailpit_get(app, path: str) -> Any:
    with urllib.request.urlopen(mailpit_url(app) + path, timeout=5) as response:  # noqa: S310
        return json.load(response)


def caught_message(app, recipient: str) -> dict[str, Any]:
    """The one message Mailpit caught for `recipient`, waiting for it to arrive."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = mailpit_get(app, f"/api/v1/search?query=to:{recipient}")
        if found["messages"]:
            assert found["messages_count"] == 1
            message_id = found["messages"][0]["ID"]
            message: dict[str, Any] = mailpit_get(app, f"/api/v1/message/{message_id}")
            return message
        time.sleep(0.2)
    raise AssertionError(f"no message for {recipient} within {WAIT_SECONDS}s")


def unique_recipient() -> str:
    return f"reader-{uuid.uuid4().hex}@example.org"


def test_send_email_delivers_text_and_html_parts(app):
    recipient = unique_recipient()
    with app.app_context():
        message_id = send_email(
            recipient, "Hello", "Plain body", "<p>HTML body</p>", {"X-Tidings": "test"}
        )
    message = caught_message(app, recipient)
    assert message["Subject"] == "Hello"
    assert message["From"]["Address"] == "newsletter@tidings.test"
    assert message["To"] == [{"Name": "", "Address": recipient}]
    assert message["Text"].strip() == "Plain body"
    assert "<p>HTML body</p>" in message["HTML"]
    assert message["MessageID"] == message_id.strip("<>")


def test_worker_sends_a_queued_email(app, worker):
    recipient = unique_recipient()
    with app.app_context():
        result = send_email_later(recipient, "Queued", "Sent by the worker")
    message_id = result.get(blocking=True, timeout=WAIT_SECONDS)
    message = caught_message(app, recipient)
    assert message["Subject"] == "Queued"
    assert message["MessageID"] == message_id.strip("<>")
    assert worker.poll() is None
