"""`make bench devloop`: the development loop in seconds, each figure beside its target.

Runs on the host (Python's standard library only) against a throw-away copy of this
checkout: its own Compose project, ports, volumes and images, all removed at the end, so the
developer's stack and data are never touched. The machine may be busy: each figure is the
median of several rounds, and each ratio is measured within one run.

    python3 bench/devloop.py [--rounds N] [--idle-seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Services whose CPU counts as the stack's; the Mailpit stand-in is reported on its own.
STACK_SERVICES = ("web", "worker", "db", "cache", "broker")
POLL_SECONDS = 0.01
EDIT_TIMEOUT = 30.0
MB = 1_000_000


@dataclass
class Figure:
    """One measured row: its value, its target and whether it met it."""

    loop: str
    value: float
    unit: str
    target: float
    note: str = ""

    def line(self) -> str:
        verdict = "PASS" if self.value <= self.target else "MISS"
        value = f"{self.value:.2f} {self.unit}".rjust(11)
        target = f"<= {self.target:g} {self.unit}".rjust(12)
        return f"  {self.loop:<58} {value} {target}  {verdict}  {self.note}".rstrip()


def run(command: list[str], cwd: Path, *, quiet: bool = True) -> float:
    """Run `command` in `cwd`, stop the benchmark if it fails; its duration in seconds."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603  # make and docker, with fixed arguments
        command, cwd=cwd, capture_output=quiet, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise SystemExit(f"bench: {' '.join(command)} failed ({result.returncode})\n{output}")
    return time.perf_counter() - started


def output_of(command: list[str], cwd: Path) -> str:
    """What `command` prints."""
    return subprocess.run(  # noqa: S603  # docker and git, with fixed arguments
        command, cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def median_of(rounds: int, measure: Callable[[], float]) -> float:
    """The median of `rounds` measurements."""
    return statistics.median(measure() for _ in range(rounds))


def env_value(project: Path, key: str) -> str:
    """KEY's value in the project's .env (the last assignment, as Compose reads it)."""
    values = [
        line.split("=", 1)[1]
        for line in (project / ".env").read_text().splitlines()
        if line.startswith(key + "=")
    ]
    return values[-1]


def fetch(url: str, data: bytes | None = None) -> str:
    """The body at `url`, or '' when it cannot be had right now (a reload, say)."""
    request = urllib.request.Request(url, data=data)  # noqa: S310  # a local URL
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body: str = response.read().decode()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException):
        return ""


def seconds_until(condition: Callable[[], bool], started: float) -> float:
    """Seconds from `started` until `condition()` holds."""
    while not condition():
        if time.perf_counter() - started > EDIT_TIMEOUT:
            raise SystemExit(f"bench: the edit did not show within {EDIT_TIMEOUT:.0f} s")
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started


@contextlib.contextmanager
def edited(path: Path, old: str, new: str) -> Iterator[None]:
    """`path` with `old` replaced by `new`, restored afterwards."""
    original = path.read_text()
    if old not in original:
        raise SystemExit(f"bench: {old!r} is no longer in {path}; update bench/devloop.py")
    path.write_text(original.replace(old, new, 1))
    try:
        yield
    finally:
        path.write_text(original)


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
        """Copy the tracked files, make .env, bring the stack up once."""
        self.dir.chmod(0o755)  # as a clone would be: the containers' user reads the code
        files = output_of(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT
        )
        for name in filter(None, files.split("\0")):
            source, target = ROOT / name, self.dir / name
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
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


def warm_up(stack: Stack) -> float:
    """`make up` after `make down`, until every service is healthy and /readyz answers 200."""
    stack.make("down")
    started = time.perf_counter()
    stack.make("up")
    return seconds_until(stack.ready, started)


def up_again(stack: Stack) -> float:
    """`make up` on a stack that is up and current."""
    return stack.make("up")


def view_edit(stack: Stack) -> float:
    """Edit a view; seconds until the web server answers with the new code."""
    marker = uuid.uuid4().hex
    with edited(stack.dir / "app/health.py", '{"status": "ok"}', f'{{"status": "{marker}"}}'):
        started = time.perf_counter()
        return seconds_until(lambda: marker in fetch(stack.web + "/healthz"), started)


def template_edit(stack: Stack) -> float:
    """Edit the base template of a cached page; seconds until / shows it."""
    fetch(stack.web + "/")  # the page is in the cache now
    marker = uuid.uuid4().hex
    with edited(stack.dir / "app/templates/base.html", "</body>", f"<!-- {marker} --></body>"):
        started = time.perf_counter()
        return seconds_until(lambda: marker in fetch(stack.web + "/"), started)


def task_edit(stack: Stack) -> float:
    """Edit the task that sends confirmations; seconds until a job runs the new code."""
    marker = uuid.uuid4().hex
    subject = "Confirm your subscription to Tidings"
    search = f"{stack.mailpit}/api/v1/search?query=subject:{marker}"

    def new_code_ran() -> bool:
        # A new subscriber queues a confirmation: the first sent with the new subject shows it.
        email = json.dumps({"email": f"bench-{uuid.uuid4().hex[:12]}@example.org"}).encode()
        fetch(stack.web + "/api/subscribers", email)
        return '"messages_count":0' not in fetch(search).replace(" ", "")

    with edited(stack.dir / "app/subscriptions/emails.py", subject, f"{subject} {marker}"):
        started = time.perf_counter()
        return seconds_until(new_code_ran, started)


def docker_api(path: str) -> dict[str, Any]:
    """GET `path` from the Docker Engine API, on its unix socket."""
    host = output_of(
        ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], ROOT
    )
    if not host.startswith("unix://"):
        raise OSError(f"the Docker API is at {host.strip()}, not on a unix socket")
    connection = http.client.HTTPConnection("localhost")
    connection.sock = socket.socket(socket.AF_UNIX)
    connection.sock.connect(host.strip().removeprefix("unix://"))
    connection.request("GET", path)
    answer: dict[str, Any] = json.loads(connection.getresponse().read())
    return answer


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """Each service's CPU time so far, in seconds."""
    usage = {}
    for line in stack.compose("ps", "--format", "{{.Service}} {{.ID}}").splitlines():
        service, container = line.split()
        stats = docker_api(f"/containers/{container}/stats?stream=false&one-shot=true")
        usage[service] = stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
    return usage


def idle_cpu(stack: Stack, seconds: float) -> tuple[float, float]:
    """Percent of one core the idle stack (Mailpit aside), and Mailpit, used over `seconds`."""
    time.sleep(5)  # let start-up work settle
    before = cpu_seconds(stack)
    time.sleep(seconds)
    after = cpu_seconds(stack)
    used = {name: after[name] - before[name] for name in after}
    stack_share = sum(used[name] for name in STACK_SERVICES) / seconds * 100
    return stack_share, used.get("mailpit", 0.0) / seconds * 100


def test_phases(stack: Stack, rounds: int) -> dict[str, float]:
    """Medians of the phases `make test` reports (build check, stack start, pytest, teardown)."""
    measured: dict[str, list[float]] = {}
    for _ in range(rounds):
        output = subprocess.run(
            ["make", "test", "T=-q"],  # noqa: S607  # make, from PATH as for every target
            cwd=stack.dir,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        timings = next(line for line in output.splitlines() if line.startswith("Timings: "))
        for part in timings.removeprefix("Timings: ").split(", "):
            name, value, _ = part.rsplit(" ", 2)
            measured.setdefault(name, []).append(float(value))
    return {name: statistics.median(values) for name, values in measured.items()}


def image_builds(stack: Stack) -> list[Figure]:
    """Rebuilds after small changes, as shares of a cold build, and the runtime image's size."""
    project = env_value(stack.dir, "COMPOSE_PROJECT_NAME")
    runtime, dev = f"{project}-runtime-bench", f"{project}-dev-bench"

    def build(target: str, tag: str, *options: str) -> float:
        # No provenance attestation: nobody reads it here, and Engine 26's builder has
        # crashed while recording one.
        command = ["docker", "build", "--provenance=false", *options, "--target", target]
        return run([*command, "--tag", tag, "."], stack.dir)

    cold_runtime = build("runtime", runtime, "--no-cache")
    with edited(stack.dir / "app/health.py", '"""Liveness', f'"""({uuid.uuid4().hex}) Liveness'):
        code_change = build("runtime", runtime)
    cold_dev = build("dev", dev, "--no-cache")
    pyproject = stack.dir / "pyproject.toml"
    lock = (stack.dir / "uv.lock").read_text()
    # A package new to the lock; the comment makes this run's build its own, not a cached one.
    added = f'"watchfiles>=1.0",\n    "six>=1.16",  # added by bench/devloop.py {uuid.uuid4().hex}'
    with edited(pyproject, '"watchfiles>=1.0",', added):
        stack.make("lock")
        dependency_added = build("dev", dev)
    (stack.dir / "uv.lock").write_text(lock)
    base = output_of(
        ["docker", "image", "inspect", "--format", "{{.Size}}", "python:3.13-slim-trixie"], ROOT
    )
    size = output_of(["docker", "image", "inspect", "--format", "{{.Size}}", runtime], ROOT)
    extra = (int(size) - int(base)) / MB
    return [
        Figure(
            "one app/ file changed -> runtime image rebuilt (% of cold)",
            code_change / cold_runtime * 100,
            "%",
            10,
            f"{code_change:.1f} s of {cold_runtime:.1f} s",
        ),
        Figure(
            "one dependency added -> dev image rebuilt (% of cold)",
            dependency_added / cold_dev * 100,
            "%",
            30,
            f"{dependency_added:.1f} s of {cold_dev:.1f} s",
        ),
        Figure(
            "runtime image size above the Python base image",
            extra,
            "MB",
            60,
            f"{int(size) / MB:.0f} MB in all",
        ),
    ]


# Each loop measured in rounds: what it is, how, its unit and its target.
LOOPS: tuple[tuple[str, Callable[[Stack], float], str, float], ...] = (
    ("warm make up -> every service healthy, /readyz 200", warm_up, "s", 6),
    ("make up when the stack is already up and current", up_again, "s", 2),
    ("edit a view -> the new response", view_edit, "s", 0.5),
    ("edit a template -> the new page (cached page included)", template_edit, "s", 0.5),
    ("edit a task -> the next job runs the new code", task_edit, "s", 1),
)


def measure(stack: Stack, rounds: int, idle_seconds: float) -> list[Figure]:
    """Every figure of the dev loop, on `stack`."""
    figures = [
        Figure(loop, median_of(rounds, functools.partial(how, stack)), unit, target)
        for loop, how, unit, target in LOOPS
    ]
    try:
        busy, mailpit = idle_cpu(stack, idle_seconds)
        loop = f"idle stack CPU over {idle_seconds:g} s (Mailpit aside)"
        figures.append(Figure(loop, busy, "% core", 5, f"Mailpit {mailpit:.1f} %"))
    except OSError as exc:
        print(f"  idle CPU not measured: {exc}")
    phases = test_phases(stack, max(1, rounds // 2))
    start = phases.pop("stack start")
    others = ", ".join(f"{name} {value:.1f} s" for name, value in phases.items())
    figures.append(Figure("make test: stack start", start, "s", 5, others))
    figures.extend(image_builds(stack))
    return figures


def main() -> None:
    """Measure in a throw-away project, remove it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle CPU window")
    options = parser.parse_args()
    stack = Stack(Path(tempfile.mkdtemp(prefix="tidings-bench-")))
    try:
        stack.create()
        print(f"Measuring: medians of {options.rounds} rounds...")
        figures = measure(stack, options.rounds, options.idle_seconds)
    finally:
        stack.destroy()
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"\nDev loop, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}:")
    for figure in figures:
        print(figure.line())


if __name__ == "__main__":
    main()
