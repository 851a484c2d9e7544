"""Signed, expiring tokens for the links in emails; each names one subscriber and address."""

from __future__ import annotations

import enum

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
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def make_token(purpose: Purpose, subscriber: Subscriber) -> str:
    """A token for `purpose` on `subscriber`."""
    return str(_serializer(purpose).dumps({"id": subscriber.id, "email": subscriber.email}))


def read_token(purpose: Purpose, token: str) -> tuple[int, str]:
    """The (subscriber id, email) a valid token names; InvalidTokenError otherwise."""
    try:
        data = _serializer(purpose).loads(token, max_age=purpose.value)
    except BadData:
        raise InvalidTokenError from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise InvalidTokenError
    return data["id"], str(data.get("email"))


def public_link(path: str) -> str:
    """An absolute URL under PUBLIC_URL, for emails (which have no request to build from)."""
    base: str = current_app.config["PUBLIC_URL"]
    return base.rstrip("/") + path
