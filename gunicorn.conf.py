"""gunicorn's settings, read from the working directory by the runtime image and the dev stack.

Processes come from WEB_CONCURRENCY (gunicorn reads it; default 2); threads let one slow
client hold a thread rather than a whole process. Only the standard library and gunicorn
here: the master must not import the app, which its workers load (and reload) themselves.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

bind = "0.0.0.0:8000"
threads = 4
# A request that takes longer is cut short, and its worker replaced.
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# Heartbeat files in memory: works on a read-only root filesystem, and never stalls on a disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108  # the container's own, not a shared /tmp
# Nothing uses gunicornc; without its socket (in ~/.gunicorn) the root filesystem can be read-only.
control_socket_disable = True

# The token in an email link acts for its subscriber for up to a year: never in a log.
EMAIL_LINK = re.compile(r"/(confirm|unsubscribe)/[^\s/?\"]+")


class RedactingLogger(Logger):  # type: ignore[misc]  # Logger is untyped
    """gunicorn's logger, with the tokens of email links replaced in access lines."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> Any:
        """The access line's fields, each with any email-link token redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: EMAIL_LINK.sub(r"/\1/<token>", value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }


logger_class = RedactingLogger
