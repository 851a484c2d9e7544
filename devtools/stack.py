"""A throw-away copy of this checkout with its own Compose project, driven from the host.

For what must be seen from outside the containers: the suites in tests/stack (the faults,
the host checks, Swarm, Nix) and the benchmark (bench/). Python's standard library only, as
the host may have nothing else. Its project, ports, volumes and images are its own, and
`destroy` removes them all.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# What make exports to its recipes names the checkout's own project and image. A copy run
# with them would take over the checkout's containers and volumes, and remove them after:
# each copy computes its own, as a fresh clone does.
MAKE_EXPORTS = frozenset(
    {"COMPOSE_PROJECT_NAME", "DEV_IMAGE", "DEPS_HASH", "APP_UID", "APP_GID", "TTY", "COMPOSE"}
    | {"COMPOSE_FILE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
)
CLEAN_ENV = {key: value for key, value in os.environ.items() if key not in MAKE_EXPORTS}


class StackError(Exception):
    """A command the stack needed failed; the message has its output."""


def run(command: list[str], cwd: Path, *, quiet: bool = True) -> float:
    """Run `command` in `cwd`, raise StackError if it fails; its duration in seconds."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603  # make and docker, with fixed arguments
        command, cwd=cwd, env=CLEAN_ENV, capture_output=quiet, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise StackError(f"{' '.join(command)} failed ({result.returncode})\n{output}")
    return time.perf_counter() - started


def output_of(command: list[str], cwd: Path) -> str:
    """What `command` prints."""
    return subprocess.run(  # noqa: S603  # docker and git, with fixed arguments
        command, cwd=cwd, env=CLEAN_ENV, capture_output=True, text=True, check=True
    ).stdout


# The label Compose puts on the images it builds. A rebuild leaves the image it replaces
# nameless but labelled, so the label finds what a name no longer does.
PROJECT_LABEL = "com.docker.compose.project"


def remove_images(project: str) -> None:
    """Every image of the checkout whose Compose project is `project`: named after it, or
    built for it or for its test or production stack (projects <project>-test, -prod)."""
    selectors = [f"reference={project}*"] + [
        f"label={PROJECT_LABEL}={name}" for name in (project, f"{project}-test", f"{project}-prod")
    ]
    images = {
        image
        for selector in selectors
        for image in output_of(["docker", "images", "-q", "--filter", selector], ROOT).split()
    }
    if images:
        output_of(["docker", "rmi", "--force", *images], ROOT)


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
    """The throw-away copy of the checkout and one of its stacks: the development stack
    (`make up`), or with `prod` the production stack (`make prod-up`: the runtime image
    behind nginx, under the project <project>-prod)."""

    def __init__(self, directory: Path, *, prod: bool = False) -> None:
        self.dir = directory
        self.prod = prod
        self.web = ""
        self.mailpit = ""

    def make(self, *targets: str) -> float:
        """Seconds `make TARGETS` took in the copy."""
        return run(["make", *targets], self.dir)

    def compose(self, *args: str) -> str:
        """What `docker compose ARGS` prints, in the copy's (development or production) project."""
        return output_of(["docker", "compose", *self.compose_options(), *args], self.dir)

    def compose_with_input(self, data: bytes, *args: str) -> None:
        """`docker compose ARGS` in the copy's project, with `data` on its standard input."""
        command = ["docker", "compose", *self.compose_options(), *args]
        subprocess.run(  # noqa: S603  # docker, with fixed arguments
            command, input=data, cwd=self.dir, env=CLEAN_ENV, capture_output=True, check=True
        )

    def scale(self, service: str, count: int) -> None:
        """Run `count` containers of `service`, the running ones kept, all healthy."""
        self.compose(
            "up", "--detach", "--wait", "--no-recreate", "--scale", f"{service}={count}", service
        )

    def compose_options(self) -> list[str]:
        if not self.prod:
            return []
        return [
            "--project-name",
            self.project(),
            "-f",
            "docker-compose.yml",
            "-f",
            "compose.prod.yml",
        ]

    def create(self) -> None:
        """Copy the checkout, make .env, bring the stack up once."""
        copy_checkout(self.dir)
        self.make(".env")
        with (self.dir / ".env").open("a") as env:
            # One subscription request every poll, to see when a task edit takes effect.
            env.write("SUBSCRIBE_RATE_LIMIT=10000\n")
            # A shorter lease on a message being sent (12 x this): a killed worker's
            # deliveries go again within a minute.
            env.write("SMTP_TIMEOUT=5\n")
            if self.prod:
                env.write(f"PROD_PORT={free_port()}\n")
        port = env_value(self.dir, "PROD_PORT" if self.prod else "WEB_PORT")
        self.web = f"http://127.0.0.1:{port}"
        self.mailpit = f"http://127.0.0.1:{env_value(self.dir, 'MAILPIT_UI_PORT')}"
        target = "prod-up" if self.prod else "up"
        print(f"Throw-away project in {self.dir}: make {target} (builds its image)...")
        self.make(target)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        """Status and body of a request to the app, as the admin; 0 if nothing answered."""
        admin = {"Authorization": f"Bearer {env_value(self.dir, 'ADMIN_TOKEN')}"}
        data = None if body is None else json.dumps(body).encode()
        return http_request(self.web + path, method=method, data=data, headers=admin)

    def sql(self, statement: str) -> str:
        """What psql prints for `statement` on the stack's database."""
        psql = ["psql", "-U", "tidings", "-d", "tidings", "-Atc", statement]
        return self.compose("exec", "-T", "db", *psql).strip()

    def confirmed_subscribers(self, count: int) -> str:
        """`count` new confirmed subscribers, straight into the database; the prefix of their
        addresses (<prefix>-<n>@example.org)."""
        prefix = f"reader-{uuid.uuid4().hex[:8]}"
        self.sql(
            "INSERT INTO subscribers (email, status) SELECT "  # noqa: S608  # no input
            f"'{prefix}-' || n || '@example.org', 'confirmed' FROM generate_series(1, {count}) n"
        )
        return prefix

    def publish(self) -> int:
        """Create and publish an issue; its id."""
        status, body = self.request("POST", "/api/issues", {"subject": "News", "body": "Hello"})
        if status != 201:
            raise StackError(f"creating an issue answered {status}: {body}")
        issue_id = int(json.loads(body)["id"])
        status, body = self.request("POST", f"/api/issues/{issue_id}/publish")
        if status != 202:
            raise StackError(f"publishing issue {issue_id} answered {status}: {body}")
        return issue_id

    def deliveries(self, issue_id: int) -> list[str]:
        """Each of the issue's deliveries as "status|attempts"."""
        query = f"SELECT status, attempts FROM deliveries WHERE issue_id = {issue_id}"  # noqa: S608
        return self.sql(query).splitlines()

    def message_ids_by_address(self) -> dict[str, list[str]]:
        """Every address Mailpit holds messages for, with the Message-ID of each message."""
        found: dict[str, list[str]] = {}
        for message in self.mailpit_api("/api/v1/messages?limit=0")["messages"]:
            for recipient in message["To"]:
                found.setdefault(recipient["Address"], []).append(message["MessageID"])
        return found

    def mailpit_api(self, path: str, method: str = "GET", body: object = None) -> Any:
        """Mailpit's answer to `path` (JSON, decoded; or text), asked from inside the stack's
        network: the production stack publishes nothing but its proxy."""
        ask = (
            "import sys, urllib.request as u; "
            "data = sys.argv[3].encode() or None; "
            "r = u.urlopen(u.Request(sys.argv[1], data, method=sys.argv[2]), timeout=10); "
            "print(r.read().decode() or 'null')"
        )
        url = "http://mailpit:8025" + path
        data = "" if body is None else json.dumps(body)
        answer = self.compose("exec", "-T", "web", "python", "-c", ask, url, method, data)
        return json.loads(answer) if answer.startswith(("{", "[")) else answer.strip()

    def project(self) -> str:
        """The stack's Compose project: the copy's, or its production one."""
        project = env_value(self.dir, "COMPOSE_PROJECT_NAME")
        return project + "-prod" if self.prod else project

    def app_image(self) -> str:
        """The image web and worker run: the dev image, or the runtime image."""
        return f"{self.project()}-runtime:latest" if self.prod else f"{self.project()}-dev:latest"

    def configure(self, **settings: str) -> None:
        """Set `settings` in the copy's .env and recreate the services that read them."""
        with (self.dir / ".env").open("a") as env:
            env.writelines(f"{name}={value}\n" for name, value in settings.items())
        self.compose("up", "--detach", "--wait", "web", "worker")

    def destroy(self) -> None:
        """Remove the project's containers, volumes, images and files; a step that fails does
        not keep the next from its part."""
        with contextlib.suppress(FileNotFoundError):  # no .env: nothing of it was created
            project = env_value(self.dir, "COMPOSE_PROJECT_NAME")
            # A container a suite ran itself (smtp_faults) carries the label, not a service.
            labelled = [
                "docker",
                "ps",
                "-aq",
                "--filter",
                f"label={PROJECT_LABEL}={self.project()}",
            ]
            for container in output_of(labelled, self.dir).split():
                output_of(["docker", "rm", "--force", container], self.dir)
            with contextlib.suppress(subprocess.CalledProcessError):
                self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")
            with contextlib.suppress(subprocess.CalledProcessError):
                remove_images(project)
        shutil.rmtree(self.dir, ignore_errors=True)

    def ready(self) -> bool:
        """Every service healthy (a one-shot migrate done) and /readyz 200."""
        states = [json.loads(line) for line in self.compose("ps", "--format", "json").splitlines()]
        healthy = all(s["Health"] == "healthy" for s in states if s["Service"] != "migrate")
        return healthy and '"status":"ok"' in fetch(self.web + "/readyz").replace(" ", "")


@dataclass
class RequestStream:
    """What a stream of requests met: how many were served, and each failure (time, status)."""

    served: int = 0
    failures: list[str] = field(default_factory=list)


@contextlib.contextmanager
def request_stream(url: str, askers: int = 4) -> Iterator[RequestStream]:
    """GET `url` from `askers` threads without pause while the block runs."""
    stream = RequestStream()
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            status, _ = http_request(url)
            if status == 200:
                stream.served += 1
            else:
                stream.failures.append(f"{time.strftime('%X')}: {status}")

    threads = [threading.Thread(target=keep_asking) for _ in range(askers)]
    for thread in threads:
        thread.start()
    try:
        yield stream
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_stack(*, prod: bool = False) -> Iterator[Stack]:
    """A Stack, created and up, removed afterwards whatever happened."""
    stack = Stack(Path(tempfile.mkdtemp(prefix="tidings-stack-")), prod=prod)
    try:
        stack.create()
        yield stack
    finally:
        stack.destroy()
