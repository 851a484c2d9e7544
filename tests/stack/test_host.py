"""The developer experience on this host (`make host-check`): the Makefile and scripts/ as a
developer meets them, against the real Docker engine.

Each test works in throw-away copies of the checkout, each with its own Compose project,
and removes them. Python's standard library only: it runs on the host, with Docker and make.

    python3 -m unittest -v tests.stack.test_host
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from devtools.stack import (
    CLEAN_ENV,
    copy_checkout,
    env_value,
    fetch,
    free_port,
    remove_images,
)


def sh(
    command: str | list[str], cwd: Path, *, ok: bool | None = True, user: str | None = None
) -> str:
    """Run `command` (a string goes through bash) in `cwd` without a terminal, as `user` if
    given; its output (stdout and stderr). Fails the test unless it succeeds (`ok`), fails
    (`ok=False`), or either (`ok=None`)."""
    if isinstance(command, str):
        command = ["bash", "-c", command]
    if user is not None:
        command = [
            "runuser",
            "-u",
            user,
            "--",
            "env",
            f"HOME={Path('~' + user).expanduser()}",
            *command,
        ]
    result = subprocess.run(  # noqa: S603  # the test's own commands
        command,
        cwd=cwd,
        env=CLEAN_ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if ok is not None and (result.returncode == 0) != ok:
        expected = "succeed" if ok else "fail"
        raise AssertionError(f"expected {command} to {expected}; it printed:\n{result.stdout}")
    return result.stdout


class Copies:
    """Throw-away copies of the checkout, each called "tidings" as clones are (their paths
    tell their projects apart); `remove_all` takes their containers, volumes and images too."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def new(self) -> Path:
        parent = Path(tempfile.mkdtemp(prefix="tidings-host-"))
        parent.chmod(0o755)
        directory = parent / "tidings"
        directory.mkdir()
        copy_checkout(directory)
        self.made.append(directory)
        return directory

    def remove_all(self) -> None:
        for directory in self.made:
            project = project_of(directory)
            sh("docker compose down --volumes --remove-orphans --timeout 5", directory, ok=None)
            remove_images(project)
            shutil.rmtree(directory.parent, ignore_errors=True)


def project_of(directory: Path) -> str:
    """The checkout's Compose project, as make computes it."""
    return sh('source scripts/lib.sh && echo "$COMPOSE_PROJECT_NAME"', directory).strip()


def psql(directory: Path, statement: str) -> str:
    """What psql prints for `statement` on the copy's development database."""
    return sh(
        [
            "docker",
            "compose",
            "exec",
            "-T",
            "db",
            "psql",
            "-U",
            "tidings",
            "-d",
            "tidings",
            "-Atc",
            statement,
        ],
        directory,
    ).strip()


@contextmanager
def listening(port: int) -> Iterator[None]:
    """Something else listens on 127.0.0.1:`port` meanwhile."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        yield


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def env_on_ports(directory: Path, web: int) -> None:
    """A new .env whose published ports start at `web` (Mailpit web+25, db web+32)."""
    sh("scripts/init-env", directory)
    env = (directory / ".env").read_text()
    for key, port in (("WEB_PORT", web), ("MAILPIT_UI_PORT", web + 25), ("DB_PORT", web + 32)):
        env = re.sub(rf"^{key}=.*$", f"{key}={port}", env, flags=re.M)
    (directory / ".env").write_text(env)


class WithCopies(unittest.TestCase):
    """Tests that make copies of the checkout; they are removed after the last test."""

    copies: ClassVar[Copies]

    @classmethod
    def setUpClass(cls) -> None:
        cls.copies = Copies()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.copies.remove_all()


class Preflight(WithCopies):
    """What `make up` and `make doctor` check before anything starts."""

    def test_the_env_report_names_typos_placeholders_and_missing_keys_and_make_up_stops(
        self,
    ) -> None:
        directory = self.copies.new()
        sh("scripts/init-env && scripts/check-env", directory)
        env = (directory / ".env").read_text() + "WEB_PROT=8001\n"
        env = re.sub(r"^ADMIN_TOKEN=.*$", "ADMIN_TOKEN=change-me", env, flags=re.M)
        (directory / ".env").write_text(re.sub(r"^LOG_LEVEL=.*\n", "", env, flags=re.M))
        report = sh("scripts/check-env", directory, ok=False)
        assert "unknown: WEB_PROT (did you mean WEB_PORT?)" in report
        assert "placeholder: ADMIN_TOKEN" in report
        assert "lacks LOG_LEVEL" in report
        assert "needs fixing" in sh("make up", directory, ok=False)
        assert sh("docker compose ps --all --quiet", directory) == "", "containers were created"
        # With nothing running, make shell says what to do.
        assert "web is not running: 'make up' starts it" in sh("make shell", directory, ok=False)

    def test_doctor_names_a_busy_port_and_a_free_one(self) -> None:
        directory = self.copies.new()
        sh("scripts/init-env", directory)
        port = free_port()
        env = re.sub(
            r"^WEB_PORT=.*$", f"WEB_PORT={port}", (directory / ".env").read_text(), flags=re.M
        )
        (directory / ".env").write_text(env)
        with listening(port):
            report = sh("scripts/doctor --quick", directory, ok=False)
        assert f"port {port} (WEB_PORT) is taken" in report
        assert re.search(r"set WEB_PORT=\d+ in \.env", report)

    def test_a_fresh_clone_passes_doctor_and_its_env_moves_off_a_busy_port(self) -> None:
        directory = self.copies.new()
        assert ".env does not exist yet: 'make up' creates it" in sh(
            "scripts/doctor --quick", directory
        )
        if port_in_use(8000):
            report = sh("scripts/init-env", directory)
        else:
            with listening(8000):
                report = sh("scripts/init-env", directory)
        assert re.search(r"port 8000 is taken: this checkout's WEB_PORT is \d+", report)
        assert "\nWEB_PORT=8000\n" not in (directory / ".env").read_text()

    def test_doctor_names_an_engine_older_than_25(self) -> None:
        directory = self.copies.new()
        fake = directory / ".fake-bin"
        fake.mkdir()
        docker = fake / "docker"
        docker.write_text(
            '#!/bin/sh\n[ "$1 $2" = "version --format" ] && { echo 24.0.7; exit 0; }\n'
            f'exec {shutil.which("docker")} "$@"\n'
        )
        docker.chmod(0o755)
        report = sh(f'PATH="{fake}:$PATH" scripts/doctor --quick', directory, ok=False)
        assert "Docker Engine 24.0.7 is too old: Tidings needs 25.0 or later" in report

    def test_a_env_copied_from_another_checkout_stops_make_up_saying_whose_it_is(self) -> None:
        first, second = self.copies.new(), self.copies.new()
        sh("scripts/init-env", first)
        shutil.copy(first / ".env", second / ".env")
        report = sh("make up", second, ok=False)
        assert f"belongs to the checkout in {first}" in report
        assert re.search(
            r"set COMPOSE_PROJECT_NAME=tidings-[0-9a-f]+ and the line above it", report
        )
        project = project_of(first)
        label = f"label=com.docker.compose.project={project}"
        assert sh(["docker", "ps", "--all", "--quiet", "--filter", label], first) == ""


class RunningCheckouts(WithCopies):
    """Two checkouts up side by side; the tests then use the second one's stack."""

    dir: ClassVar[Path]
    web: ClassVar[str]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        try:
            first, cls.dir = cls.up_on(18000), cls.up_on(19000)
            cls.web = "http://127.0.0.1:19000"
            sh("docker compose down --volumes --timeout 5", first)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def up_on(cls, port: int) -> Path:
        directory = cls.copies.new()
        env_on_ports(directory, port)
        output = sh("make up", directory)
        print(output)
        # It says how long each service took to become healthy.
        assert re.search(r"Tidings is up in [\d.]+ s \(healthy after: .*web [\d.]+ s", output), (
            output
        )
        return directory

    def ready(self) -> bool:
        return '"status":"ok"' in fetch(self.web + "/readyz").replace(" ", "")

    def test_two_checkouts_ran_side_by_side_each_with_its_own_project(self) -> None:
        first = self.copies.made[0]
        names = {project_of(d) for d in (first, self.dir)}
        assert len(names) == 2
        assert len(sh("docker compose ps --quiet", self.dir).split()) == 6
        assert self.ready()

    def test_a_env_made_afresh_over_existing_data_gets_the_password_and_keeps_the_data(
        self,
    ) -> None:
        psql(
            self.dir,
            "insert into subscribers (email, status) values ('survivor@example.org', 'pending')",
        )
        old = (self.dir / ".env").read_text()
        (self.dir / ".env").unlink()
        env_on_ports(self.dir, 19000)
        assert (
            env_value(self.dir, "POSTGRES_PASSWORD")
            != re.findall(r"^POSTGRES_PASSWORD=(.*)$", old, re.M)[-1]
        )
        assert "created with another POSTGRES_PASSWORD" in sh("make up", self.dir)
        assert (
            psql(self.dir, "select count(*) from subscribers where email = 'survivor@example.org'")
            == "1"
        )
        assert self.ready()
        # Once reconciled, make up says nothing about it.
        assert "another POSTGRES_PASSWORD" not in sh("make up", self.dir)

    def test_db_backup_restore_and_reset_ask_back_up_and_restore(self) -> None:
        def count() -> str:
            return psql(self.dir, "select count(*) from subscribers")

        psql(self.dir, "delete from subscribers")
        psql(
            self.dir,
            "insert into subscribers (email, status) values ('kept@example.org', 'pending')",
        )
        sh("make db-backup", self.dir)
        dump = sorted((self.dir / "backups").glob("*.dump"))[-1]
        assert stat.S_IMODE(dump.stat().st_mode) == 384
        psql(self.dir, "delete from subscribers")
        # Without a terminal and without CONFIRM=1 nothing is destroyed.
        sh("make db-reset", self.dir, ok=False)
        sh(f"make db-restore FILE={dump.relative_to(self.dir)}", self.dir, ok=False)
        assert count() == "0"
        # Restoring backs up first, within the same second as the dump: it must not overwrite it.
        sh(f"CONFIRM=1 make db-restore FILE={dump.relative_to(self.dir)}", self.dir)
        assert count() == "1"
        sh("CONFIRM=1 make db-reset", self.dir)
        assert count() == "0"
        assert len(list((self.dir / "backups").glob("*.dump"))) >= 3
        assert self.ready()

    def test_a_changed_dockerfile_rebuilds_the_dev_image_once(self) -> None:
        assert sh("make image", self.dir) == ""  # up to date: nothing done, nothing said
        assert "built before" not in sh("make shell", self.dir, ok=None)
        with (self.dir / "Dockerfile").open("a") as dockerfile:
            dockerfile.write("# a change to the dependency layers\n")
        assert "web runs an image built before" in sh("make shell", self.dir, ok=None)
        assert "Rebuilding the dev image" in sh("make image", self.dir)
        assert sh("make image", self.dir) == ""

    def test_the_runtime_image_stops_on_bad_configuration_and_serves_as_non_root(self) -> None:
        project = project_of(self.dir)
        image = f"{project}-runtime:test"
        sh(["docker", "build", "--quiet", "--tag", image, "."], self.dir)
        assert "SECRET_KEY: is required but not set" in sh(
            ["docker", "run", "--rm", image], self.dir, ok=False
        )
        password = env_value(self.dir, "POSTGRES_PASSWORD")
        settings = {
            "SECRET_KEY": env_value(self.dir, "SECRET_KEY"),
            "ADMIN_TOKEN": env_value(self.dir, "ADMIN_TOKEN"),
            "DATABASE_URL": f"postgresql+psycopg://tidings:{password}@db:5432/tidings",
            "CACHE_URL": f"redis://:{env_value(self.dir, 'CACHE_PASSWORD')}@cache:6379/0",
            "BROKER_URL": f"redis://:{env_value(self.dir, 'BROKER_PASSWORD')}@broker:6379/0",
            "SMTP_HOST": "mailpit",
            "SMTP_PORT": "1025",
            "MAIL_FROM": "Tidings <news@example.org>",
            "PUBLIC_URL": "https://news.example.org",
        }
        name = f"{project}-prod"
        env = [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]
        sh(
            [
                "docker",
                "run",
                "--detach",
                "--name",
                name,
                # The stores are on the internal network; Mailpit only on the default one.
                *("--network", f"{project}_stores", "--network", f"{project}_default"),
                *env,
                image,
            ],
            self.dir,
        )
        try:
            probe = 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8000/readyz").read().decode())'
            for _ in range(30):
                ready = sh(["docker", "exec", name, "python", "-c", probe], self.dir, ok=None)
                if '"status":"ok"' in ready:
                    break
                time.sleep(1)
            assert '"status":"ok"' in ready
            assert sh(["docker", "exec", name, "id", "-u"], self.dir).strip() != "0"
        finally:
            sh(["docker", "rm", "--force", name], self.dir)

    def test_make_test_beside_a_running_stack_keeps_its_data_and_leaves_nothing(self) -> None:
        project = project_of(self.dir)
        psql(
            self.dir,
            "insert into subscribers (email, status) values ('dev-data@example.org', 'pending')",
        )
        before = sorted(sh("docker compose ps --quiet", self.dir).split())
        sh('make test T="tests/app/test_settings.py tests/app/test_database.py"', self.dir)
        assert sorted(sh("docker compose ps --quiet", self.dir).split()) == before
        assert (
            psql(self.dir, "select count(*) from subscribers where email = 'dev-data@example.org'")
            == "1"
        )
        label = f"label=com.docker.compose.project={project}-test"
        for kind in ("ps --all", "volume ls", "network ls"):
            assert sh(f"docker {kind} --quiet --filter {label}", self.dir) == "", kind

    def test_make_debug_puts_web_and_worker_under_debugpy(self) -> None:
        with (self.dir / ".env").open("a") as env:
            env.write("WEB_DEBUG_PORT=19678\nWORKER_DEBUG_PORT=19679\n")
        sh("make debug", self.dir)
        try:
            for port in (19678, 19679):
                assert '"command":"initialize"' in debug_adapter_reply(port).replace(" ", "")
        finally:
            sh("make up", self.dir)


def debug_adapter_reply(port: int) -> str:
    """What a Debug Adapter Protocol server on `port` answers to "initialize"."""
    body = json.dumps(
        {
            "seq": 1,
            "type": "request",
            "command": "initialize",
            "arguments": {"adapterID": "host-check"},
        }
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        reply = b""
        while b'"command": "initialize"' not in reply and b'"command":"initialize"' not in reply:
            chunk = connection.recv(4096)
            if not chunk:
                raise AssertionError(f"port {port} closed before answering")
            reply += chunk
    return reply.decode()


class FileOwnership(WithCopies):
    """Files the containers write into the checkout belong to the developer."""

    def assert_written_files_are(self, directory: Path, uid: int, user: str | None) -> None:
        (directory / "app/fmt_probe.py").write_text('x = {  "a":1 }\n')
        os.chown(directory / "app/fmt_probe.py", uid, uid if user else os.getgid())
        sh("make fmt", directory, user=user)
        assert 'x = {"a": 1}' in (directory / "app/fmt_probe.py").read_text()
        assert (directory / "app/fmt_probe.py").stat().st_uid == uid
        if uid:  # a root checkout is not writable by the services' user
            sh('make run CMD="touch app/made_in_container"', directory, user=user)
            assert (directory / "app/made_in_container").stat().st_uid == uid
        expected = str(uid or 1000)  # on a root host, services run as 1000, never as root
        assert sh('make run CMD="id -u"', directory, user=user).strip().splitlines()[-1] == expected

    def test_a_developer_keeps_the_files_containers_write(self) -> None:
        directory = self.copies.new()
        if os.getuid() != 0:
            sh("scripts/init-env", directory)
            self.assert_written_files_are(directory, os.getuid(), None)
            return
        # As root, the developer is a new user: with a UID no account has, the image's
        # user must take it on.
        uid = next(uid for uid in range(1234, 60000) if not uid_taken(uid))
        user = f"tidings-{uid}"
        sh("getent group docker >/dev/null || groupadd docker", directory)
        sh(f"useradd --uid {uid} --user-group --groups docker --create-home {user}", directory)
        self.addCleanup(sh, f"userdel --remove {user}", directory, ok=None)
        shutil.chown(directory.parent, user, user)
        sh(f"chown -R {uid}:{uid} .", directory)
        sh("scripts/init-env", directory, user=user)
        self.assert_written_files_are(directory, uid, user)

    def test_on_a_root_host_services_are_not_root_and_files_stay_roots(self) -> None:
        if os.getuid() != 0:
            self.skipTest("only on a root host (the test above ran as you)")
        directory = self.copies.new()
        sh("scripts/init-env", directory)
        self.assert_written_files_are(directory, 0, None)


def uid_taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


if __name__ == "__main__":
    unittest.main()
