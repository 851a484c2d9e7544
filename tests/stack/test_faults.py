"""The fault suite (`make faults`): the real stack, driven from outside, through its faults.

One throw-away stack (tests/stack/stack.py) for the suite; each test puts back what it broke.
Python's standard library only: it runs on the host, with Docker.

    python3 -m unittest tests.stack.test_faults
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import ClassVar

from tests.stack.stack import Stack, env_value, http_request, output_of, throwaway_stack

WAIT_SECONDS = 60
# Delivery retries after 30 s, then 60 s more: a minute's outage is over by the second retry.
MAIL_OUTAGE_SECONDS = 60


def wait_until(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    """Return once `condition()` holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {seconds:.0f} s: {condition.__doc__}")
        time.sleep(0.5)


class Faults(unittest.TestCase):
    """Each fault the stack must survive, with what a user sees meanwhile and afterwards."""

    stack: ClassVar[Stack]
    cleanup: ClassVar[contextlib.ExitStack]

    @classmethod
    def setUpClass(cls) -> None:
        cls.cleanup = contextlib.ExitStack()
        cls.stack = cls.cleanup.enter_context(throwaway_stack())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cleanup.close()

    # --- helpers ------------------------------------------------------------------------

    def request(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        """Status and body of a request to the web service; status 0 if it did not answer."""
        admin = {"Authorization": f"Bearer {env_value(self.stack.dir, 'ADMIN_TOKEN')}"}
        data = None if body is None else json.dumps(body).encode()
        return http_request(self.stack.web + path, method=method, data=data, headers=admin)

    def sql(self, statement: str) -> str:
        """What psql prints for `statement` on the stack's database."""
        return self.stack.compose(
            "exec", "-T", "db", "psql", "-U", "tidings", "-d", "tidings", "-Atc", statement
        ).strip()

    def deliveries(self, issue_id: int) -> list[str]:
        """Each of the issue's deliveries as "status|attempts"."""
        query = f"SELECT status, attempts FROM deliveries WHERE issue_id = {issue_id}"  # noqa: S608
        return self.sql(query).splitlines()

    def emails_to(self, address: str) -> int:
        """How many messages Mailpit holds for `address`."""
        query = urllib.parse.quote(f"to:{address}")
        url = f"{self.stack.mailpit}/api/v1/search?query={query}&limit=0"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  # local
            return int(json.load(response)["messages_count"])

    def confirmed_subscribers(self, count: int) -> list[str]:
        """`count` new confirmed subscribers (straight into the database); their addresses."""
        addresses = [f"fault-{uuid.uuid4().hex[:10]}@example.org" for _ in range(count)]
        values = ", ".join(f"('{address}', 'confirmed')" for address in addresses)
        self.sql(f"INSERT INTO subscribers (email, status) VALUES {values}")  # noqa: S608
        return addresses

    def publish(self) -> int:
        """Create and publish an issue; its id."""
        status, body = self.request("POST", "/api/issues", {"subject": "Fault", "body": "News"})
        assert status == 201, body
        issue_id = int(json.loads(body)["id"])
        assert self.request("POST", f"/api/issues/{issue_id}/publish")[0] == 202
        return issue_id

    def each_gets_exactly_one(self, addresses: list[str], seconds: float = WAIT_SECONDS) -> None:
        """Every address receives one message, and a while later still only one."""

        def all_arrived() -> bool:
            """every address got its email"""
            return all(self.emails_to(address) >= 1 for address in addresses)

        wait_until(all_arrived, seconds)
        time.sleep(3)  # a duplicate would show by now
        counts = [self.emails_to(address) for address in addresses]
        assert counts == [1] * len(addresses), counts

    def starts(self) -> dict[str, str]:
        """When web and worker last started, and how often they restarted."""
        started = {}
        for service in ("web", "worker"):
            container = self.stack.compose("ps", "--quiet", service).strip()
            inspect = ["docker", "inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}"]
            started[service] = output_of([*inspect, container], self.stack.dir).strip()
        return started

    def clear_mailpit(self) -> None:
        """Delete every message Mailpit holds."""
        request = urllib.request.Request(f"{self.stack.mailpit}/api/v1/messages", method="DELETE")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310  # local

    def message_ids_by_address(self) -> dict[str, set[str]]:
        """Every address Mailpit holds messages for, with their Message-IDs."""
        url = f"{self.stack.mailpit}/api/v1/messages?limit=0"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310  # local
            messages = json.load(response)["messages"]
        found: dict[str, set[str]] = {}
        for message in messages:
            for recipient in message["To"]:
                found.setdefault(recipient["Address"], set()).add(message["MessageID"])
        return found

    def restore(self, *services: str) -> None:
        """Start `services` again and wait until they are healthy."""
        self.stack.compose("up", "--detach", "--wait", *services)

    # --- the faults -----------------------------------------------------------------------

    def test_database_restart_while_requests_flow(self) -> None:
        before = self.starts()
        statuses: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                statuses.append(self.request("GET", "/readyz")[0])
                statuses.append(self.request("GET", "/api/issues")[0])
                time.sleep(0.1)

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            self.stack.compose("stop", "db")
            time.sleep(3)
            self.restore("db")

            def ready() -> bool:
                """/readyz answers 200 again"""
                return self.request("GET", "/readyz")[0] == 200

            wait_until(ready)
        finally:
            stop.set()
            asker.join()
        assert 503 in statuses  # the outage was seen, as a 503
        assert set(statuses) <= {200, 503}, statuses  # never a 500, never a dropped request
        assert self.request("GET", "/api/issues")[0] == 200
        assert self.starts() == before  # web and worker rode it out

    def test_a_worker_killed_mid_issue_leaves_the_rest_to_the_other(self) -> None:
        scale = ("up", "--detach", "--wait", "--no-recreate", "--scale")
        self.stack.compose(*scale, "worker=2", "worker")
        try:
            self.clear_mailpit()
            prefix = f"kill-{uuid.uuid4().hex[:8]}"
            self.sql(
                "INSERT INTO subscribers (email, status) SELECT "  # noqa: S608  # no input
                f"'{prefix}-' || n || '@example.org', 'confirmed' FROM generate_series(1, 500) n"
            )
            issue_id = self.publish()

            def some_sent() -> bool:
                """a hundred deliveries of the issue were sent"""
                return self.deliveries(issue_id).count("sent|1") >= 100

            wait_until(some_sent)
            victim = self.stack.compose("ps", "--quiet", "worker").split()[0]
            output_of(["docker", "kill", "--signal", "KILL", victim], self.stack.dir)

            def all_sent() -> bool:
                """every delivery of the issue was sent"""
                return set(self.deliveries(issue_id)) == {"sent|1"}

            # Well within the five-minute sweep: the other worker's tasks take the rest.
            wait_until(all_sent, seconds=2 * WAIT_SECONDS)
            received = self.message_ids_by_address()
            ours = {a: ids for a, ids in received.items() if a.startswith(prefix)}
            assert len(ours) == 500, len(ours)
            # One message each: a copy is possible only if the kill fell between the server's
            # "250 OK" and the commit, and then it carries the same Message-ID.
            assert all(len(ids) == 1 for ids in ours.values()), ours
        finally:
            self.stack.compose(*scale, "worker=1", "worker")

    def test_cache_stopped_pages_still_render(self) -> None:
        self.stack.compose("stop", "cache")
        try:
            assert self.request("GET", "/")[0] == 200
            status, body = self.request("GET", "/readyz")
            assert status == 200
            assert json.loads(body)["checks"]["cache"] == "unavailable"
        finally:
            self.restore("cache")
        assert json.loads(self.request("GET", "/readyz")[1])["status"] == "ok"

    def test_broker_restart_with_jobs_queued_loses_none(self) -> None:
        self.stack.compose("stop", "worker")
        try:
            readers = self.confirmed_subscribers(5)
            self.publish()
            newcomers = [f"new-{uuid.uuid4().hex[:10]}@example.org" for _ in range(3)]
            for address in newcomers:
                answer = self.request("POST", "/api/subscribers", {"email": address})
                assert answer[0] == 202, answer
            time.sleep(2)  # past the broker's once-a-second append-only fsync
            self.stack.compose("restart", "broker")
        finally:
            self.restore("broker", "worker")
        self.each_gets_exactly_one(readers + newcomers)

    def test_mail_server_down_for_a_minute_charges_no_one(self) -> None:
        self.stack.compose("stop", "mailpit")
        try:
            readers = self.confirmed_subscribers(5)
            issue_id = self.publish()
            time.sleep(MAIL_OUTAGE_SECONDS)
            pending = self.deliveries(issue_id)
            assert set(pending) == {"pending|0"}, pending  # nobody charged for the outage
        finally:
            self.restore("mailpit")
        self.each_gets_exactly_one(readers, seconds=3 * WAIT_SECONDS)
        sent = self.deliveries(issue_id)
        assert set(sent) == {"sent|1"}, sent  # the one try that succeeded


if __name__ == "__main__":
    unittest.main()
