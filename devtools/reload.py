"""Run a server and give it new code a fraction of a second after a Python file changes.

    python -m devtools.reload [--hup] COMMAND [ARGS...]

docker-compose.yml runs `web` (gunicorn) and `worker` (`python -m app.worker`) through it.
COMMAND is a console script of the environment, or else a module. A reload that starts a new
interpreter imports every library again (most of a second); here the parent imports them
once and runs COMMAND in a forked child, so a reload imports only Tidings' own modules. On a
change under RELOAD_PATHS (default: app and gunicorn.conf.py):
- with --hup (gunicorn), the child gets SIGHUP: its master, which never imports the app, forks
  fresh workers with the new code and retires the old ones; its socket stays open throughout;
- otherwise the child is stopped (SIGTERM: Huey queues an interrupted job again) and forked anew.
A child that exits by itself after a change (a syntax error, say) starts again at the next
change; one that exits before any change ends the reloader with its status.

File events do not cross every bind mount (WSL2's 9p, older Docker Desktop's gRPC FUSE,
VirtualBox and Parallels shares): there it polls. RELOAD_POLLING=auto|true|false decides.
It polls by itself, not through watchfiles, whose polling compares whole seconds and so
misses a second save within the same second.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import runpy
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from watchfiles import Change, PythonFilter, watch

# What app/ imports: most of the time a start takes. Only an optimisation: a library missing
# here is imported by the child as usual.
LIBRARIES = (
    "flask",
    "jinja2",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "redis",
    "huey.api",
    "huey.consumer",
    "huey.consumer_options",
    "gunicorn.app.wsgiapp",
    "smtplib",
    "email.message",
)
# Bind mounts whose file events do not reach the container.
POLLING_MOUNTS = frozenset({"9p", "fuse.grpcfuse", "vboxsf", "prl_fs"})
POLL_DELAY_MS = 250
# How often the parent looks whether the child has exited, between file events.
CHECK_MS = 250
# How long a stopped child may take to finish before it is killed.
STOP_SECONDS = 10
USAGE = "usage: python -m devtools.reload [--hup] COMMAND [ARGS...]"


class UsageError(Exception):
    """The command line or RELOAD_POLLING cannot be used; the message says why."""


def log(message: str) -> None:
    """A line on stderr, beside the server's own log."""
    print(f"[reload] {message}", file=sys.stderr, flush=True)


def use_polling(setting: str, mount_type: str | None) -> bool:
    """Whether to poll: RELOAD_POLLING true or false, or auto (poll where events do not cross)."""
    value = setting.strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    if value == "auto":
        return mount_type in POLLING_MOUNTS
    raise UsageError(f"RELOAD_POLLING must be true, false or auto, got {setting!r}")


def mount_type(path: str) -> str | None:
    """The filesystem type of the mount point `path`, if it is one."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[1] == path:
                return fields[2]
    return None


def entry_point(name: str) -> Callable[[], object]:
    """The function behind console script `name`, or a runner of module `name`."""
    for script in entry_points(group="console_scripts", name=name):
        function: Callable[[], object] = script.load()
        return function
    return lambda: runpy.run_module(name, run_name="__main__", alter_sys=True)


def preload() -> None:
    """Import the libraries once, in the parent, for every child to inherit."""
    for module in LIBRARIES:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def start(command: Sequence[str], main: Callable[[], object]) -> int:
    """Fork a child that runs `main` with `command` as its argv; the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():
        # Python warns about forking beside the watcher's thread: the child never touches it.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid:
        return pid
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = list(command)
    os._exit(run_child(main))


def run_child(main: Callable[[], object]) -> int:
    """Run `main` as a console script runs; its exit status."""
    status = 0
    try:
        result = main()
        status = result if isinstance(result, int) else 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return status


def exit_status(pid: int, *, block: bool = False) -> int | None:
    """The child's exit status once it has exited (128 + N if signal N ended it, as in a
    shell); None while it runs."""
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    if not done:
        return None
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def stop(pid: int) -> int:
    """Stop the child (SIGTERM, SIGKILL after STOP_SECONDS); its exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while (status := exit_status(pid)) is None:
        if time.monotonic() > deadline:
            log(f"pid {pid} did not stop within {STOP_SECONDS} s: killing it")
            os.kill(pid, signal.SIGKILL)
            return exit_status(pid, block=True) or 0
        time.sleep(0.01)
    return status


def python_files(paths: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each Python file under `paths` (files or directories), with its modification time in
    nanoseconds and its size."""
    found = {}
    for root in map(Path, paths):
        for path in [root] if root.is_file() else root.rglob("*.py"):
            with contextlib.suppress(OSError):  # deleted meanwhile
                stat = path.stat()
                found[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return found


def poll(paths: Sequence[str], stopping: threading.Event) -> Iterator[set[tuple[Change, str]]]:
    """Every POLL_DELAY_MS until `stopping`, the Python files changed, added or removed since
    the last look (often none)."""
    before = python_files(paths)
    while not stopping.wait(POLL_DELAY_MS / 1000):
        now = python_files(paths)
        yield {
            (Change.modified, p) for p in before.keys() | now.keys() if before.get(p) != now.get(p)
        }
        before = now


def changed_names(changes: set[tuple[Change, str]]) -> str:
    """The changed files, relative to the working directory, for the log."""
    names = sorted({os.path.relpath(path) for _, path in changes})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def run(command: Sequence[str], *, hup: bool) -> int:
    """Run `command` until SIGTERM or SIGINT, reloading it on every change; its last status."""
    polling = use_polling(os.environ.get("RELOAD_POLLING", "auto"), mount_type(str(Path.cwd())))
    paths = os.environ.get("RELOAD_PATHS", "app gunicorn.conf.py").split()
    main = entry_point(command[0])
    preload()
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    how = f"polling every {POLL_DELAY_MS} ms" if polling else "file events"
    log(f"watching {' '.join(paths)} ({how}) to reload {command[0]}")
    child: int | None = start(command, main)
    reloaded = False
    every_change = (
        poll(paths, stopping)
        if polling
        else watch(
            *paths,
            watch_filter=PythonFilter(),
            stop_event=stopping,
            rust_timeout=CHECK_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
    )
    for changes in every_change:
        if child is not None and (status := exit_status(child)) is not None:
            if not reloaded:
                # Before any edit, a failure is not the developer's work in progress (a bad
                # setting, say): exit, so that the container's state and `make up` show it.
                log(f"{command[0]} exited with status {status} before any change")
                return status
            log(f"{command[0]} exited with status {status}; it starts again when a file changes")
            child = None
        if not changes:
            continue
        reloaded = True
        log(f"{changed_names(changes)} changed: reloading {command[0]}")
        if child is None:
            child = start(command, main)
        elif hup:
            os.kill(child, signal.SIGHUP)
        else:
            stop(child)
            child = start(command, main)
    return stop(child) if child is not None else 0


def main(argv: list[str]) -> int:
    """Parse the command line and run; a usage problem exits 2 with its reason."""
    hup = bool(argv) and argv[0] == "--hup"
    command = argv[1:] if hup else argv
    try:
        if not command or command[0].startswith("-"):
            raise UsageError(USAGE)
        return run(command, hup=hup)
    except UsageError as exc:
        print(f"devtools.reload: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
