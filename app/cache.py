"""The cache: a Redis client on CACHE_URL, and the rendered pages kept in it.

Its contents may vanish at any time (allkeys-lru), and it may be down: pages then render
from the database.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask, current_app

# Seconds; a slow or absent cache must never hold a request up for long.
SOCKET_TIMEOUT = 1.0
PAGE_KEY_PREFIX = "page:"


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


def cached_page(name: str, render: Callable[[], str]) -> str:
    """The page from the cache, or rendered and kept for PAGE_CACHE_SECONDS (0: not kept)."""
    ttl = current_app.config["PAGE_CACHE_SECONDS"]
    if not ttl:
        return render()
    try:
        cached = get_cache().get(PAGE_KEY_PREFIX + name)
    except redis.RedisError:
        current_app.logger.warning("page cache unavailable; rendering %s from the database", name)
        return render()
    if isinstance(cached, bytes):
        return cached.decode()
    page = render()
    try:
        get_cache().set(PAGE_KEY_PREFIX + name, page, ex=ttl)
    except redis.RedisError:
        current_app.logger.warning("page cache unavailable; %s not stored", name)
    return page


def forget_pages() -> None:
    """Drop every cached page (after a publish, say); stale pages expire anyway."""
    try:
        cache = get_cache()
        for key in cache.scan_iter(match=PAGE_KEY_PREFIX + "*", count=500):
            cache.delete(key)
    except redis.RedisError:
        current_app.logger.warning("page cache unavailable; pages not invalidated")
