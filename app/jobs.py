"""Background jobs: one Huey on the broker Redis, whose tasks run inside the Flask app context.

Tasks are declared at import time, beside the feature they serve, with `@task()`; the broker
is only bound by `init_app`, so importing a feature never reads configuration or connects.

Huey stores jobs pickled, and unpickling runs code. So every job is signed with a key
derived from SECRET_KEY (HMAC), and a message whose signature does not verify, whoever put
it in the queue, is logged and dropped unread. After SECRET_KEY changes, jobs queued before
are dropped too: what they were for waits in the database, and the resume and the sweep
queue it again. No job's result is kept: nothing reads them, and each failure's traceback
would stay in the broker.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey
from huey.api import Task
from huey.serializer import SignedSerializer
from redis import ConnectionPool

from app.probe import HEARTBEAT_FILE, HEARTBEAT_SECONDS

# Seconds. Reads must outlast the consumer's 1 s blocking pop; connecting must fail fast.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0

logger = logging.getLogger("huey")


class SignedHuey(RedisHuey):  # type: ignore[misc]  # Huey is untyped
    """Huey that drops, with a warning, a queued message not signed with this deployment's key."""

    def dequeue(self) -> Task | None:
        """The next task, or None for one that was dropped."""
        try:
            return super().dequeue()
        except ForgedJobError as exc:
            logger.warning("dropped a queued job: %s", exc)
            return None


class ForgedJobError(ValueError):
    """A queued message whose signature does not verify."""


class JobSerializer(SignedSerializer):  # type: ignore[misc]
    """Huey's HMAC-signed pickle; a message that fails the check is never unpickled."""

    def _unsign(self, signed: bytes) -> bytes:
        try:
            unsigned: bytes = super()._unsign(signed)
        except ValueError:
            raise ForgedJobError("its signature does not verify (not queued by Tidings)") from None
        return unsigned


def job_key(secret_key: str) -> str:
    """The key jobs are signed with: SECRET_KEY's, for this one purpose."""
    return hashlib.blake2b(secret_key.encode(), person=b"tidings.jobs").hexdigest()


huey = SignedHuey("tidings", blocking=True, results=False)
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
    huey.serializer = JobSerializer(secret=job_key(app.config["SECRET_KEY"]), salt="tidings.jobs")
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
