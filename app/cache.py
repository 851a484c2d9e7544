"""The cache: a Redis client on CACHE_URL. Its contents may vanish at any time (allkeys-lru)."""

from __future__ import annotations

import redis
from flask import Flask, current_app

# Seconds; a slow or absent cache must never hold a request up for long.
SOCKET_TIMEOUT = 1.0


def init_app(app: Flask) -> None:
    """Create the cache client; it connects lazily, on first use."""
    app.extensions["cache"] = redis.Redis.from_url(
        app.config["CACHE_URL"],
        socket_connect_timeout=SOCKET_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
    )


def get_cache() -> redis.Redis:
    """The current app's cache client."""
    client: redis.Redis = current_app.extensions["cache"]
    return client
