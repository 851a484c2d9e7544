"""Tidings on Docker Swarm (`make swarm-check`): `make swarm-up` in a throw-away copy of the
checkout, then a new release rolled out under a stream of requests, then `make swarm-down`.

Makes this engine a single-node swarm if it is none, and leaves it again afterwards.
Python's standard library only: it runs on the host.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path
from typing import ClassVar

from devtools.stack import (
    CLEAN_ENV,
    copy_checkout,
    env_value,
    free_port,
    http_request,
    output_of,
    remove_images,
    request_stream,
    run,
)


def docker(*args: str) -> str:
    return output_of(["docker", *args], Path.cwd())


class TakenPort(unittest.TestCase):
    """`make swarm-up` on a port another program holds stops at once, naming it."""

    def test_swarm_up_refuses_a_taken_port_before_it_deploys(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="tidings-swarm-port-"))
        try:
            copy_checkout(directory)
            run(["make", ".env"], directory)
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                port = taken.getsockname()[1]
                with (directory / ".env").open("a") as env:
                    env.write(f"SWARM_PORT={port}\n")
                started = time.monotonic()
                result = subprocess.run(  # make, with fixed arguments
                    ["make", "swarm-up"],  # noqa: S607
                    cwd=directory,
                    env=CLEAN_ENV,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            assert result.returncode != 0
            assert f"port {port} is taken" in result.stderr, result.stderr
            assert time.monotonic() - started < 30
        finally:
            shutil.rmtree(directory, ignore_errors=True)


class Swarm(unittest.TestCase):
    """The stack as `make swarm-up` deploys it, and a rolling update of web and worker."""

    dir: ClassVar[Path]
    stack: ClassVar[str]
    web: ClassVar[str]
    joined: ClassVar[bool]

    @classmethod
    def setUpClass(cls) -> None:
        cls.joined = docker("info", "--format", "{{ .Swarm.LocalNodeState }}").strip() != "active"
        cls.dir = Path(tempfile.mkdtemp(prefix="tidings-swarm-")) / "tidings"
        cls.dir.mkdir()
        copy_checkout(cls.dir)
        run(["make", ".env"], cls.dir)
        port = free_port()
        with (cls.dir / ".env").open("a") as env:
            env.write(f"SWARM_PORT={port}\n")
        cls.stack = env_value(cls.dir, "COMPOSE_PROJECT_NAME") + "-swarm"
        cls.web = f"http://127.0.0.1:{port}"
        try:
            print(f"make swarm-up in {cls.dir}...")
            run(["make", "swarm-up"], cls.dir)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        if (cls.dir / ".env").exists():
            run(["make", "swarm-down"], cls.dir)
        for volume in docker("volume", "ls", "--quiet", "--filter", f"name={cls.stack}_").split():
            docker("volume", "rm", volume)
        remove_images(cls.stack)
        if cls.joined:
            docker("swarm", "leave", "--force")
        shutil.rmtree(cls.dir.parent, ignore_errors=True)

    def service(self, name: str, template: str) -> str:
        return docker("service", "inspect", f"{self.stack}_{name}", "--format", template).strip()

    def running(self, name: str) -> list[str]:
        """The images of the service's running tasks."""
        tasks = docker(
            "service",
            "ps",
            f"{self.stack}_{name}",
            "--filter",
            "desired-state=running",
            "--format",
            "{{ .Image }} {{ .CurrentState }}",
        )
        return [line.split()[0] for line in tasks.splitlines() if " Running " in f" {line} "]

    def test_web_x2_worker_x3_migrated_and_secrets_only_as_files(self) -> None:
        assert len(self.running("web")) == 2, self.running("web")
        assert len(self.running("worker")) == 3, self.running("worker")
        assert "Complete" in docker(
            "service", "ps", f"{self.stack}_migrate", "--format", "{{ .CurrentState }}"
        )
        status, body = http_request(self.web + "/readyz")
        assert status == 200, body
        # The cache and the broker answer, with the passwords from their secrets.
        assert '"status":"ok"' in body.replace(" ", ""), body
        environment = self.service("web", "{{ json .Spec.TaskTemplate.ContainerSpec.Env }}")
        assert "SECRET_KEY_FILE=/run/secrets/secret_key" in environment
        for secret in ("SECRET_KEY", "POSTGRES_PASSWORD", "CACHE_PASSWORD", "BROKER_PASSWORD"):
            assert env_value(self.dir, secret) not in environment, secret
        assert self.service("web", "{{ .Spec.UpdateConfig.Order }}") == "start-first"

    def test_a_new_release_rolls_out_with_no_failed_request(self) -> None:
        before = set(self.running("web"))
        health = self.dir / "app/health.py"
        health.write_text(
            health.read_text() + "\n# A change, so that the release is a new image.\n"
        )
        with request_stream(self.web + "/") as stream:
            run(["make", "swarm-up"], self.dir)
        after = set(self.running("web"))
        assert len(after) == 1, after  # every replica on the one new image
        assert after != before, (before, after)
        assert set(self.running("worker")) == after
        assert not stream.failures, stream.failures
        assert stream.served > 100, stream.served


if __name__ == "__main__":
    unittest.main()
