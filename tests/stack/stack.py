"""A throw-away copy of this checkout with its own Compose project, driven from the host.

For what must be seen from outside the containers: `make bench devloop`, the fault suite
(test_faults.py) and the host checks (test_host.py). Python's standard library only, as the
host may have nothing else. Its project, ports, volumes and images are its own, and
`destroy` removes them all.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class StackError(Exception):
    """A command the stack needed failed; the message has its output."""


def run(command: list[str], cwd: Path, *, quiet: bool = True) -> float:
    """Run `command` in `cwd`, raise StackError if it fails; its duration in seconds."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603  # make and docker, with fixed arguments
        command, cwd=cwd, capture_output=quiet, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise StackError(f"{' '.join(command)} failed ({result.returncode})\n{output}")
    return time.perf_counter() - started


def output_of(command: list[str], cwd: Path) -> str:
    """What `command` prints."""
    return subprocess.run(  # noqa: S603  # docker and git, with fixed arguments
        command, cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def env_value(project: Path, key: str) -> str:
    """KEY's value in the project's .env (the last assignment, as Compose reads it)."""
    values = [
        line.split("=", 1)[1]
        for line in (project / ".env").read_text().splitlines()
        if line.startswith(key + "=")
    ]
    return values[-1]


def copy_checkout(target: Path) -> None:
    """Copy the checkout's files (tracked, or new and not ignored) into `target`, as a
    clone would have them."""
    target.chmod(0o755)  # as a clone would be: the containers' user reads the code
    files = output_of(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    for name in filter(None, files.split("\0")):
        source, copy = ROOT / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)


def http_request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """The status and body of a request (JSON when `data` is given); status 0 when nothing
    answered (a restart or a reload, say)."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310  # a local URL
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException):
        return 0, ""


def fetch(url: str, data: bytes | None = None) -> str:
    """The body at `url` when it answers with success, else ''."""
    status, body = http_request(url, method="POST" if data is not None else "GET", data=data)
    return body if 200 <= status < 300 else ""


class Stack:
    """The throw-away copy of the checkout and its Compose project."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.web = ""
        self.mailpit = ""

    def make(self, *targets: str) -> float:
        """Seconds `make TARGETS` took in the copy."""
        return run(["make", *targets], self.dir)

    def compose(self, *args: str) -> str:
        """What `docker compose ARGS` prints, in the copy's project."""
        return output_of(["docker", "compose", *args], self.dir)

    def create(self) -> None:
        """Copy the checkout, make .env, bring the stack up once."""
        copy_checkout(self.dir)
        self.make(".env")
        with (self.dir / ".env").open("a") as env:
            # One subscription request every poll, to see when a task edit takes effect.
            env.write("SUBSCRIBE_RATE_LIMIT=10000\n")
        self.web = f"http://127.0.0.1:{env_value(self.dir, 'WEB_PORT')}"
        self.mailpit = f"http://127.0.0.1:{env_value(self.dir, 'MAILPIT_UI_PORT')}"
        print(f"Throw-away project in {self.dir}: first make up (builds its dev image)...")
        self.make("up")

    def destroy(self) -> None:
        """Remove the project's containers, volumes, images and files."""
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            project = env_value(self.dir, "COMPOSE_PROJECT_NAME")
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")
            images = output_of(
                ["docker", "images", "-q", "--filter", f"reference={project}*"], ROOT
            )
            if images.split():
                output_of(["docker", "rmi", "--force", *images.split()], ROOT)
        shutil.rmtree(self.dir, ignore_errors=True)

    def ready(self) -> bool:
        """Every service healthy and /readyz 200."""
        states = [json.loads(line) for line in self.compose("ps", "--format", "json").splitlines()]
        healthy = len(states) == 6 and all(s["Health"] == "healthy" for s in states)
        return healthy and '"status":"ok"' in fetch(self.web + "/readyz").replace(" ", "")


@contextlib.contextmanager
def throwaway_stack() -> Iterator[Stack]:
    """A Stack, created and up, removed afterwards whatever happened."""
    stack = Stack(Path(tempfile.mkdtemp(prefix="tidings-stack-")))
    try:
        stack.create()
        yield stack
    finally:
        stack.destroy()
