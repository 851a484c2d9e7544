"""Container healthchecks: `python -m app.probe web|worker` exits 0 when healthy.

Kept free of the app factory so a probe stays cheap and cannot disturb the process it checks.
"""

from __future__ import annotations

import os
import sys
import urllib.request

import redis

from app.settings import load_settings

WEB_URL = "http://127.0.0.1:8000/healthz"
TIMEOUT = 2.0


def web() -> None:
    """The web server answers its liveness endpoint."""
    with urllib.request.urlopen(WEB_URL, timeout=TIMEOUT) as response:  # fixed URL
        if response.status != 200:
            raise RuntimeError(f"{WEB_URL} answered {response.status}")


def worker() -> None:
    """The consumer's broker answers (the consumer itself is PID 1: if it dies, so does this)."""
    url = load_settings(os.environ).broker_url
    redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT).ping()


PROBES = {"web": web, "worker": worker}


def main(argv: list[str]) -> int:
    """Run the probe named in argv; print why it failed."""
    if len(argv) != 1 or argv[0] not in PROBES:
        print(f"usage: python -m app.probe {{{'|'.join(PROBES)}}}", file=sys.stderr)
        return 2
    try:
        PROBES[argv[0]]()
    except Exception as exc:
        print(f"{argv[0]} unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
