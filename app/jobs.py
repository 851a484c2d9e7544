"""Background jobs: one Huey on the broker Redis, whose tasks run inside the Flask app context.

Tasks are declared at import time, beside the feature they serve, with `@task()`; the broker
is only bound by `init_app`, so importing a feature never reads configuration or connects.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey
from redis import ConnectionPool

from app.probe import HEARTBEAT_FILE, HEARTBEAT_SECONDS

# Seconds. Reads must outlast the consumer's 1 s blocking pop; connecting must fail fast.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0

huey = RedisHuey("tidings", blocking=True)
# The app whose context tasks run in: the one the worker (or a test) built last.
_bound_app: dict[str, Flask] = {}
# Taken by the first consumer worker to start; never released: one heartbeat per process.
_heartbeat_started = threading.Lock()


def init_app(app: Flask) -> None:
    """Point Huey at BROKER_URL and run its tasks in `app`'s context."""
    pool = ConnectionPool.from_url(
        app.config["BROKER_URL"],
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=READ_TIMEOUT,
    )
    huey.storage_kwargs = {"connection_pool": pool, "blocking": True}
    huey.storage = huey.create_storage()
    app.extensions["huey"] = huey
    _bound_app["app"] = app


def _in_app_context(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _bound_app["app"].app_context():
            return func(*args, **kwargs)

    return wrapper


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a Huey task (same options as `huey.task`) that runs inside the app context."""
    return lambda func: huey.task(**options)(_in_app_context(func))


def periodic_task(
    schedule: Callable[[Any], bool], **options: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a periodic Huey task (`schedule` is e.g. `huey.crontab(...)`), in the app context."""
    return lambda func: huey.periodic_task(schedule, **options)(_in_app_context(func))


def on_consumer_start(func: Callable[[], None]) -> Callable[[], None]:
    """Run `func` in the app context in each consumer worker as it starts."""
    huey.on_startup(func.__name__)(_in_app_context(func))
    return func


def broker_ping() -> bool:
    """Whether the broker Redis answers; raises when it cannot be reached."""
    return bool(current_app.extensions["huey"].storage.conn.ping())


def _start_heartbeat() -> None:
    """Beat while this consumer runs: the worker's healthcheck (app/probe.py) reads the beats."""
    if _heartbeat_started.acquire(blocking=False):
        threading.Thread(target=_beat, name="heartbeat", daemon=True).start()


huey.on_startup("heartbeat")(_start_heartbeat)


def _beat() -> None:
    heartbeat = Path(HEARTBEAT_FILE)
    while True:
        heartbeat.touch()
        time.sleep(HEARTBEAT_SECONDS)
