"""`make bench PART=devloop`: the development loop in seconds, each figure beside its target.

Runs on the host (Python's standard library only) against a throw-away copy of this
checkout: its own Compose project, ports, volumes and images, all removed at the end, so the
developer's stack and data are never touched. The machine may be busy: each figure is the
median of several rounds, and each ratio is measured within one run.

    python3 -m bench.devloop [--rounds N] [--idle-seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.stack import (
    CLEAN_ENV,
    PROJECT_LABEL,
    ROOT,
    Stack,
    env_value,
    fetch,
    output_of,
    run,
    throwaway_stack,
)

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


def median_of(rounds: int, measure: Callable[[], float]) -> float:
    """The median of `rounds` measurements."""
    return statistics.median(measure() for _ in range(rounds))


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
    """Edit the base template of the home page, seen once; seconds until / shows the edit
    (development caches no page)."""
    fetch(stack.web + "/")
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
            ["make", "test"],  # noqa: S607  # make, from PATH as for every target
            cwd=stack.dir,
            env=CLEAN_ENV,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        timings = next(line for line in output.splitlines() if line.startswith("Timings: "))
        for part in timings.removeprefix("Timings: ").split(", "):
            name, value, _ = part.rsplit(" ", 2)
            measured.setdefault(name, []).append(float(value))
    return {name: statistics.median(values) for name, values in measured.items()}


@dataclass
class Builds:
    """One round of image builds, in seconds: each image cold, then after a small change."""

    cold_runtime: float
    code_changed: float
    cold_dev: float
    dependency_added: float


def build_round(stack: Stack, project: str) -> Builds:
    """Build each image with no cached layer, then again after a small change."""

    def build(target: str, *options: str) -> float:
        # No provenance attestation: nobody reads it here, and Engine 26's builder has
        # crashed while recording one. Labelled as Compose labels what it builds, so that
        # the project's removal finds the images each rebuild leaves nameless.
        command = ["docker", "build", "--provenance=false", *options, "--target", target]
        tag = ["--tag", f"{project}-{target}-bench", "--label", f"{PROJECT_LABEL}={project}"]
        return run([*command, *tag, "."], stack.dir)

    cold_runtime = build("runtime", "--no-cache")
    with edited(stack.dir / "app/health.py", '"""Liveness', f'"""({uuid.uuid4().hex}) Liveness'):
        code_changed = build("runtime")
    cold_dev = build("dev", "--no-cache")
    pyproject = stack.dir / "pyproject.toml"
    lock = (stack.dir / "uv.lock").read_text()
    # A package new to the lock; the comment makes this run's build its own, not a cached one.
    added = f'"watchfiles>=1.0",\n    "six>=1.16",  # added by bench/devloop.py {uuid.uuid4().hex}'
    with edited(pyproject, '"watchfiles>=1.0",', added):
        stack.make("lock")
        dependency_added = build("dev")
    (stack.dir / "uv.lock").write_text(lock)
    return Builds(cold_runtime, code_changed, cold_dev, dependency_added)


def image_builds(stack: Stack, rounds: int) -> list[Figure]:
    """Rebuilds after small changes, as shares of a cold build (the median of each round's
    share), and the runtime image's size."""
    project = env_value(stack.dir, "COMPOSE_PROJECT_NAME")
    measured = [build_round(stack, project) for _ in range(rounds)]

    def share(part: str, whole: str) -> tuple[float, str]:
        ratio = statistics.median(getattr(b, part) / getattr(b, whole) for b in measured) * 100
        seconds = (statistics.median(getattr(b, name) for b in measured) for name in (part, whole))
        return ratio, "{:.1f} s of {:.1f} s".format(*seconds)

    base = output_of(
        ["docker", "image", "inspect", "--format", "{{.Size}}", "python:3.13-slim-trixie"], ROOT
    )
    runtime = f"{project}-runtime-bench"
    size = output_of(["docker", "image", "inspect", "--format", "{{.Size}}", runtime], ROOT)
    extra = (int(size) - int(base)) / MB
    code_share, code_note = share("code_changed", "cold_runtime")
    dependency_share, dependency_note = share("dependency_added", "cold_dev")
    return [
        Figure(
            "one app/ file changed -> runtime image rebuilt (% of cold)",
            code_share,
            "%",
            10,
            code_note,
        ),
        Figure(
            "one dependency added -> dev image rebuilt (% of cold)",
            dependency_share,
            "%",
            30,
            dependency_note,
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
    ("edit a template -> the new page", template_edit, "s", 0.5),
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
    figures.extend(image_builds(stack, (rounds + 1) // 2))
    return figures


def main() -> None:
    """Measure in a throw-away project, remove it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle CPU window")
    options = parser.parse_args()
    with throwaway_stack() as stack:
        print(f"Measuring: medians of {options.rounds} rounds...")
        figures = measure(stack, options.rounds, options.idle_seconds)
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"\nDev loop, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}:")
    for figure in figures:
        print(figure.line())


if __name__ == "__main__":
    main()
