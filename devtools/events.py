"""Whether file events cross the bind mount: `make doctor` asks, from the host.

    python -m devtools.events FILE [SECONDS]

Prints "watching" once it watches FILE's directory for events (never polling), then "event"
when FILE changes, or "none" after SECONDS (default 3). The host changes the file in between.
"""

from __future__ import annotations

import sys
from pathlib import Path

from watchfiles import watch

DEFAULT_SECONDS = 3.0


def wait_for_event(file: Path, seconds: float) -> bool:
    """Whether an event on `file` arrives within `seconds`."""
    print("watching", flush=True)
    for changes in watch(
        file.parent,
        watch_filter=lambda _, path: Path(path).name == file.name,
        force_polling=False,
        recursive=False,
        rust_timeout=int(seconds * 1000),
        yield_on_timeout=True,
        debounce=0,
        step=1,
    ):
        return bool(changes)
    return False


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m devtools.events FILE [SECONDS]")
    seconds = float(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT_SECONDS
    print("event" if wait_for_event(Path(sys.argv[1]), seconds) else "none", flush=True)
