"""Per-client rate limits, counted in fixed windows in the cache Redis."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from app.cache import get_cache

WINDOW_SECONDS = 60


def seconds_until_allowed(key: str, limit: int, window: int = WINDOW_SECONDS) -> int:
    """Count one hit on `key`; 0 if within `limit` per `window`, else seconds to wait.

    Fails open: with the cache down, nobody is refused (readiness reports the cache).
    """
    now = int(time.time())
    start = now - now % window
    counter = f"ratelimit:{key}:{start}"
    try:
        pipe = get_cache().pipeline()
        pipe.incr(counter)
        pipe.expire(counter, window)
        hits = int(pipe.execute()[0])
    except redis.RedisError:
        current_app.logger.warning("rate limit %s not enforced: cache unavailable", key)
        return 0
    return 0 if hits <= limit else start + window - now


def limit_per_client(name: str, config_key: str) -> Callable[[Callable[..., Any]], Any]:
    """Refuse a view with 429 and Retry-After beyond `config[config_key]` calls a minute per IP."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            limit = current_app.config[config_key]
            wait = seconds_until_allowed(f"{name}:{request.remote_addr}", limit)
            if wait:
                raise TooManyRequests(
                    f"Too many requests; try again in {wait} seconds.", retry_after=wait
                )
            return view(*args, **kwargs)

        return limited

    return decorator
