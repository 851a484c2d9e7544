"""Reading what the app sent, back from the real mail catcher's API."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

from flask import Flask

WAIT_SECONDS = 30


def api_url(app: Flask) -> str:
    """Mailpit's HTTP API, beside its SMTP port."""
    return os.environ.get("MAILPIT_API_URL", f"http://{app.config['SMTP_HOST']}:8025")


def get(app: Flask, path: str) -> Any:
    """GET a Mailpit API path as JSON."""
    with urllib.request.urlopen(api_url(app) + path, timeout=5) as response:  # noqa: S310
        return json.load(response)


def messages_to(app: Flask, recipient: str) -> list[dict[str, Any]]:
    """Every message caught for `recipient` so far (summaries, newest first)."""
    query = urllib.parse.quote(f"to:{recipient}")
    found: list[dict[str, Any]] = get(app, f"/api/v1/search?query={query}&limit=0")["messages"]
    return found


def wait_for_messages(app: Flask, recipient: str, count: int = 1) -> list[dict[str, Any]]:
    """The full messages to `recipient`, once at least `count` have arrived."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = messages_to(app, recipient)
        if len(found) >= count:
            return [get(app, f"/api/v1/message/{summary['ID']}") for summary in found]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} message(s) for {recipient} in {WAIT_SECONDS}s")


def unique_address(name: str = "reader") -> str:
    """An address no other test (or earlier run) has used."""
    return f"{name}-{uuid.uuid4().hex[:12]}@example.org"
