"""Signed, expiring tokens for the links in emails; each names one subscriber and address.

A token carries the subscriber's id and a digest of their address, never the address: a
token's payload is readable by anyone who has the link. Tokens signed with a key listed in
SECRET_KEY_FALLBACKS still verify, so rotating SECRET_KEY breaks no link already sent.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from app.subscriptions.models import Subscriber

DAY = 24 * 60 * 60


class Purpose(enum.Enum):
    """What a token lets its bearer do, and for how long (seconds)."""

    CONFIRM = 7 * DAY
    UNSUBSCRIBE = 365 * DAY


class InvalidTokenError(Exception):
    """The token is malformed, forged, expired, or its subscriber is gone."""


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    salt = f"tidings.{purpose.name.lower()}"
    # Signs with the last key; verifies with any.
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=salt)


def address_digest(email: str) -> str:
    """A short digest that ties a token to an address without revealing it."""
    return hashlib.blake2b(email.encode(), digest_size=8, person=b"tidings.address").hexdigest()


def make_token(purpose: Purpose, subscriber: Subscriber) -> str:
    """A token for `purpose` on `subscriber`."""
    payload = {"id": subscriber.id, "a": address_digest(subscriber.email)}
    return str(_serializer(purpose).dumps(payload))


def read_token(purpose: Purpose, token: str) -> tuple[int, str, datetime]:
    """The subscriber id and address digest a valid token names, and when it was made;
    InvalidTokenError otherwise."""
    try:
        data, issued = _serializer(purpose).loads(
            token, max_age=purpose.value, return_timestamp=True
        )
    except BadData:
        raise InvalidTokenError from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise InvalidTokenError
    if "email" in data:  # a link sent before tokens carried a digest
        return data["id"], address_digest(str(data["email"])), issued
    return data["id"], str(data.get("a")), issued


def email_link(purpose: Purpose, subscriber: Subscriber) -> str:
    """The link that does `purpose` for `subscriber`, under PUBLIC_URL: its route's URL,
    built from the app's URL map (url_for needs a request, and emails are sent without one)."""
    endpoint = f"subscriptions.{purpose.name.lower()}"
    token = make_token(purpose, subscriber)
    path = current_app.url_map.bind("localhost").build(endpoint, {"token": token})
    base: str = current_app.config["PUBLIC_URL"]
    return base.rstrip("/") + path
