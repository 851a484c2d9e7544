"""Container healthchecks: `python app/probe.py web|worker|auto` exits 0 when healthy.

`auto`, for the runtime image, which runs either: a container whose consumer has beaten is a
worker, any other a web server.

Run as a file, not with `-m app.probe`: that would import the app package and every library it
uses (about a second of CPU per probe). The standard library only, so a probe stays cheap.
"""

from __future__ import annotations

import http.client
import sys
import time
from pathlib import Path

WEB_ADDRESS = ("127.0.0.1", 8000)
TIMEOUT = 2.0
# The Huey consumer touches this file while it runs (app/jobs.py); /tmp is the container's own.
HEARTBEAT_FILE = "/tmp/tidings-worker.heartbeat"  # noqa: S108  # per container, not shared
HEARTBEAT_SECONDS = 5
# Missed beats before the worker counts as dead.
HEARTBEAT_GRACE = 3


def web() -> None:
    """The web server answers its liveness endpoint."""
    connection = http.client.HTTPConnection(*WEB_ADDRESS, timeout=TIMEOUT)
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"/healthz answered {status}")


def worker() -> None:
    """The consumer runs: its heartbeat is recent (a consumer that died stops beating)."""
    try:
        age = time.time() - Path(HEARTBEAT_FILE).stat().st_mtime
    except FileNotFoundError:
        raise RuntimeError("no heartbeat yet: the consumer has not started") from None
    if age > HEARTBEAT_SECONDS * HEARTBEAT_GRACE:
        raise RuntimeError(f"the consumer's last heartbeat was {age:.0f} s ago")


def auto() -> None:
    """The worker's probe where a consumer beats, else the web server's."""
    worker() if Path(HEARTBEAT_FILE).exists() else web()


PROBES = {"web": web, "worker": worker, "auto": auto}


def main(argv: list[str]) -> int:
    """Run the probe named in argv; print why it failed."""
    if len(argv) != 1 or argv[0] not in PROBES:
        print(f"usage: python app/probe.py {{{'|'.join(PROBES)}}}", file=sys.stderr)
        return 2
    try:
        PROBES[argv[0]]()
    except Exception as exc:
        print(f"{argv[0]} unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
