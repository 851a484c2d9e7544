"""What the app's tests share: request helpers, what the app sent, read back from the real
mail catcher's API (Mailpit), and SMTP servers that behave as real ones do. The test
databases are devtools/testdb.py's.

Imported by conftest.py (the fixtures) and the test modules; test modules never import one
another.
"""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask

from app.database import session
from app.newsletter.delivery import fan_out
from app.subscriptions.models import Subscriber, SubscriberStatus
from devtools.testdb import ADMIN


def create_issue(client: Any, subject: str = "Issue one", body: str = "Hello, readers.") -> int:
    """Create a draft through the admin API; its id."""
    response = client.post("/api/issues", json={"subject": subject, "body": body}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    issue_id: int = response.get_json()["id"]
    return issue_id


def add_subscribers(app: Flask, **statuses: SubscriberStatus) -> dict[str, str]:
    """Subscribers named by keyword, with unique addresses; returns name -> address."""
    addresses = {name: unique_address(name) for name in statuses}
    with app.app_context():
        for name, status in statuses.items():
            session().add(Subscriber(email=addresses[name], status=status))
        session().commit()
    return addresses


def publish_and_fan_out(client: Any, issue_id: int) -> None:
    """Publish through the admin API, then run the fan-out the worker would run."""
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    with client.application.app_context():
        fan_out.call_local(issue_id)


# --- Mailpit ---

MAIL_WAIT_SECONDS = 30


def mailpit_url(app: Flask) -> str:
    """Mailpit's HTTP API, beside its SMTP port."""
    return os.environ.get("MAILPIT_API_URL", f"http://{app.config['SMTP_HOST']}:8025")


def mailpit_get(app: Flask, path: str) -> Any:
    """GET a Mailpit API path as JSON."""
    with urllib.request.urlopen(mailpit_url(app) + path, timeout=5) as response:  # noqa: S310
        return json.load(response)


def messages_to(app: Flask, recipient: str) -> list[dict[str, Any]]:
    """Every message caught for `recipient` so far (summaries, newest first)."""
    query = urllib.parse.quote(f"to:{recipient}")
    found: list[dict[str, Any]] = mailpit_get(app, f"/api/v1/search?query={query}&limit=0")[
        "messages"
    ]
    return found


def wait_for_messages(app: Flask, recipient: str, count: int = 1) -> list[dict[str, Any]]:
    """The full messages to `recipient`, once at least `count` have arrived."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        found = messages_to(app, recipient)
        if len(found) >= count:
            return [mailpit_get(app, f"/api/v1/message/{summary['ID']}") for summary in found]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} message(s) for {recipient} in {MAIL_WAIT_SECONDS}s")


def unique_address(name: str = "reader") -> str:
    """An address no other test (or earlier run) has used."""
    return f"{name}-{uuid.uuid4().hex[:12]}@example.org"


# --- SMTP servers that behave as real ones do (Mailpit accepts everything) ---


class ScriptedSMTPSession(socketserver.StreamRequestHandler):
    """An SMTP server's side of a session that answers each command as its server's
    `replies` say (by verb, or END for the message's end; 250 for any other), and, for a
    verb in its `stalls`, first waits that many seconds."""

    server: ScriptedSMTPServer

    def handle(self) -> None:
        self.wfile.write(b"220 scripted ESMTP\r\n")
        for line in self.rfile:
            verb = line[:4].decode(errors="replace").upper()
            if not self.reply(verb, "354 go ahead" if verb == "DATA" else "250 ok"):
                return
            if verb == "DATA":
                for data in self.rfile:
                    if data == b".\r\n":
                        break
                if not self.reply("END", "250 accepted"):
                    return
            if verb == "QUIT":
                return

    def reply(self, verb: str, default: str) -> bool:
        """Answer `verb`; False when the script hangs up instead."""
        time.sleep(self.server.stalls.get(verb, 0))
        answer = self.server.replies.get(verb, "221 bye" if verb == "QUIT" else default)
        if answer == "hang up":
            return False
        self.wfile.write(answer.encode() + b"\r\n")
        return True


class ScriptedSMTPServer(socketserver.ThreadingTCPServer):
    """A ScriptedSMTPSession server on 127.0.0.1."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, replies: dict[str, str], stalls: dict[str, float]) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedSMTPSession)
        self.replies, self.stalls = replies, stalls


@contextlib.contextmanager
def scripted_smtp(
    replies: dict[str, str] | None = None, stalls: dict[str, float] | None = None
) -> Iterator[dict[str, str]]:
    """Settings that point the app at a scripted SMTP server for the block: e.g.
    `scripted_smtp({"RCPT": "451 4.7.1 greylisted"})`, `{"END": "hang up"}`."""
    server = ScriptedSMTPServer(replies or {}, stalls or {})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.server_address[1])}
    finally:
        server.shutdown()
        server.server_close()
