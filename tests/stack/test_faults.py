"""The running stack from outside (`make faults`): a reader's journey, then the faults it must
survive (services going down, and mail servers, the database and the broker misbehaving as
they do in real deployments), and with the production stack how it scales.

`make faults` runs it against the development stack (`make up`); `make faults STACK=prod`
against the production stack (`make prod-up`: the runtime image, read-only, behind nginx),
where the scale tests run too. One throw-away stack (devtools/stack.py) for the module;
each test puts back what it broke. Python's standard library only: it runs on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import threading
import time
import unittest
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from devtools.stack import Stack, env_value, output_of, request_stream, throwaway_stack

WAIT_SECONDS = 60
# Delivery pauses 30 s at a time while the mail server is away.
MAIL_OUTAGE_SECONDS = 60
# How long greylisting servers defer a new sender; the first retry is a minute later, the
# second two minutes after that.
GREYLISTING_SECONDS = 120
SMTP_FAULTS = Path(__file__).with_name("smtp_faults.py")
# Huey's queue in the broker.
QUEUE = "huey.redis.tidings"
PROD = os.environ.get("STACK", "dev") == "prod"
stack: Stack


STACKS = contextlib.ExitStack()


def setUpModule() -> None:
    global stack  # the one stack every test here shares
    stack = STACKS.enter_context(throwaway_stack(prod=PROD))


def tearDownModule() -> None:
    STACKS.close()


def wait_until(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    """Return once `condition()` holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {seconds:.0f} s: {condition.__doc__}")
        time.sleep(0.5)


def messages_to(address: str) -> list[dict[str, object]]:
    """The messages Mailpit holds for `address`, in full."""
    query = urllib.parse.quote(f"to:{address}")
    found = stack.mailpit_api(f"/api/v1/search?query={query}&limit=0")["messages"]
    return [stack.mailpit_api(f"/api/v1/message/{summary['ID']}") for summary in found]


def wait_for_every_delivery(issue_id: int, seconds: float) -> None:
    """Until each delivery of the issue is sent, at its first attempt."""

    def all_sent() -> bool:
        """every delivery of the issue was sent"""
        return set(stack.deliveries(issue_id)) == {"sent|1"}

    wait_until(all_sent, seconds)


def each_gets_exactly_one(prefix: str, count: int, seconds: float = WAIT_SECONDS) -> None:
    """Each of the `count` addresses starting with `prefix` gets one message, and a while
    later still only one."""

    def all_arrived() -> bool:
        """every address got its email"""
        received = stack.message_ids_by_address()
        return sum(1 for address in received if address.startswith(prefix)) == count

    wait_until(all_arrived, seconds)
    time.sleep(3)  # a duplicate would show by now
    received = stack.message_ids_by_address()
    counts = Counter(len(ids) for address, ids in received.items() if address.startswith(prefix))
    assert counts == Counter({1: count}), counts


def each_gets_exactly_one_or_fails(prefix: str, count: int) -> Counter[str]:
    """Each of the `count` addresses starting with `prefix`: one message if its delivery was
    sent, none if it failed; how many ended each way."""
    rows = stack.sql(
        "SELECT s.email, d.status FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "  # noqa: S608  # no input
        f"WHERE s.email LIKE '{prefix}-%'"
    ).splitlines()
    received = stack.message_ids_by_address()
    statuses = dict(row.split("|") for row in rows)
    assert len(statuses) == count, len(statuses)
    for address, status in statuses.items():
        assert len(received.get(address, [])) == (status == "sent"), (address, status)
    return Counter(statuses.values())


def deliveries_of(issue_id: int) -> dict[str, int]:
    """The issue's delivery counts, as the admin API shows them (none while it answers 503:
    the database is restarting)."""
    status, body = stack.request("GET", f"/api/issues/{issue_id}")
    assert status in (200, 503), body
    counts: dict[str, int] = json.loads(body)["deliveries"] if status == 200 else {}
    return counts


def wait_until_done(issue_id: int, count: int, seconds: float) -> dict[str, int]:
    """Until every one of the issue's `count` deliveries is sent or failed; the counts."""

    def done() -> bool:
        """every delivery of the issue was sent or failed"""
        counts = deliveries_of(issue_id)
        return counts.get("sent", 0) + counts.get("failed", 0) == count

    wait_until(done, seconds)
    return deliveries_of(issue_id)


@contextlib.contextmanager
def mail_chaos(code: int, percent: int) -> Iterator[None]:
    """Mailpit answers `percent` % of RCPT TO with `code` while the block runs."""
    chaos = {"Recipient": {"ErrorCode": code, "Probability": percent}}
    stack.mailpit_api("/api/v1/chaos", method="PUT", body=chaos)
    try:
        yield
    finally:
        stack.mailpit_api("/api/v1/chaos", method="PUT", body={})


def local(link: str) -> str:
    """A link from an email (under PUBLIC_URL), as a path on the stack's own address."""
    return urllib.parse.urlsplit(link).path


class Journey(unittest.TestCase):
    """A reader subscribes, confirms, gets an issue and unsubscribes, all from outside."""

    def test_subscribe_confirm_receive_and_unsubscribe(self) -> None:
        address = f"journey-{uuid.uuid4().hex[:8]}@example.org"
        status, body = stack.request("POST", "/api/subscribers", {"email": address})
        assert status == 202, body

        def confirmation_arrived() -> bool:
            """the confirmation email arrived"""
            return len(messages_to(address)) == 1

        wait_until(confirmation_arrived)
        [confirmation] = messages_to(address)
        link = local(re.findall(r"http\S+/confirm/\S+", str(confirmation["Text"]))[0])
        status, page = stack.request("GET", link)
        assert status == 200, page
        assert "<form" in page, page  # the link asks first
        assert stack.request("POST", link)[0] == 200

        issue_id = stack.publish()

        def issue_arrived() -> bool:
            """the issue arrived"""
            return len(messages_to(address)) == 2

        wait_until(issue_arrived)
        issue = next(m for m in messages_to(address) if m["Subject"] == "News")
        headers = stack.mailpit_api(f"/api/v1/message/{issue['ID']}/headers")
        unsubscribe = local(headers["List-Unsubscribe"][0].strip("<>"))
        assert stack.request("POST", unsubscribe)[0] == 200
        query = f"SELECT status FROM subscribers WHERE email = '{address}'"  # noqa: S608
        assert stack.sql(query) == "unsubscribed"
        assert f"/issues/{issue_id}" in stack.request("GET", "/")[1]
        # Nobody's link is in a log: the proxy's (production) and gunicorn's show <token>.
        token = link.rsplit("/", 1)[1]
        logs = stack.compose("logs", "--no-color", "proxy" if PROD else "web")
        assert "/confirm/<token>" in logs
        assert token not in logs


class Faults(unittest.TestCase):
    """Each fault the stack must survive, with what a user sees meanwhile and afterwards."""

    def starts(self) -> dict[str, str]:
        """When web and worker last started, and how often they restarted."""
        started = {}
        for service in ("web", "worker"):
            container = stack.compose("ps", "--quiet", service).strip()
            inspect = ["docker", "inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}"]
            started[service] = output_of([*inspect, container], stack.dir).strip()
        return started

    def restore(self, *services: str) -> None:
        """Start `services` again and wait until they are healthy."""
        stack.compose("up", "--detach", "--wait", "--no-recreate", *services)

    def test_database_restart_while_requests_flow(self) -> None:
        before = self.starts()
        statuses: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                statuses.append(stack.request("GET", "/readyz")[0])
                statuses.append(stack.request("GET", "/api/issues")[0])
                time.sleep(0.1)

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            stack.compose("stop", "db")
            time.sleep(3)
            self.restore("db")

            def ready() -> bool:
                """/readyz answers 200 again"""
                return stack.request("GET", "/readyz")[0] == 200

            wait_until(ready)
        finally:
            stop.set()
            asker.join()
        assert 503 in statuses  # the outage was seen, as a 503
        assert set(statuses) <= {200, 503}, statuses  # never a 500, never a dropped request
        assert stack.request("GET", "/api/issues")[0] == 200
        assert self.starts() == before  # web and worker rode it out

    def test_a_worker_killed_mid_issue_leaves_the_rest_to_the_other(self) -> None:
        stack.scale("worker", 2)
        try:
            stack.mailpit_api("/api/v1/messages", method="DELETE")
            prefix = stack.confirmed_subscribers(500)
            issue_id = stack.publish()

            def some_sent() -> bool:
                """a hundred deliveries of the issue were sent"""
                return stack.deliveries(issue_id).count("sent|1") >= 100

            wait_until(some_sent)
            victim = stack.compose("ps", "--quiet", "worker").split()[0]
            output_of(["docker", "kill", "--signal", "KILL", victim], stack.dir)
            # Long before any resume (the queue is busy): the other worker's tasks take the rest.
            wait_for_every_delivery(issue_id, seconds=2 * WAIT_SECONDS)
            ours = {
                a: ids for a, ids in stack.message_ids_by_address().items() if a.startswith(prefix)
            }
            assert len(ours) == 500, len(ours)
            # A copy is possible only if the kill fell between the server's "250 OK" and the
            # commit, and then it carries the same Message-ID.
            assert all(len(set(ids)) == 1 for ids in ours.values()), ours
        finally:
            stack.scale("worker", 1)

    def test_cache_stopped_pages_still_render(self) -> None:
        stack.compose("stop", "cache")
        try:
            assert stack.request("GET", "/")[0] == 200
            status, body = stack.request("GET", "/readyz")
            assert status == 200
            assert '"cache":"unavailable"' in body.replace(" ", ""), body
        finally:
            self.restore("cache")
        assert '"status":"ok"' in stack.request("GET", "/readyz")[1].replace(" ", "")

    def test_broker_restart_with_jobs_queued_loses_none(self) -> None:
        stack.compose("stop", "worker")
        try:
            readers = stack.confirmed_subscribers(5)
            stack.publish()
            for n in range(1, 4):
                address = f"{readers}-new-{n}@example.org"
                answer = stack.request("POST", "/api/subscribers", {"email": address})
                assert answer[0] == 202, answer
            time.sleep(2)  # past the broker's once-a-second append-only fsync
            stack.compose("restart", "broker")
        finally:
            self.restore("broker", "worker")
        each_gets_exactly_one(readers, 8)

    def test_mail_server_down_for_a_minute_charges_no_one(self) -> None:
        stack.compose("stop", "mailpit")
        try:
            readers = stack.confirmed_subscribers(5)
            issue_id = stack.publish()
            time.sleep(MAIL_OUTAGE_SECONDS)
            pending = stack.deliveries(issue_id)
            assert set(pending) == {"pending|0"}, pending  # nobody charged for the outage
        finally:
            self.restore("mailpit")
        each_gets_exactly_one(readers, 5, seconds=3 * WAIT_SECONDS)
        sent = stack.deliveries(issue_id)
        assert set(sent) == {"sent|1"}, sent  # the one try that succeeded


def readers_of_this_test_only() -> None:
    """Earlier tests' readers leave, and Mailpit forgets their mail: a test's issue then goes
    to its own readers only, and Mailpit keeps every message of it."""
    stack.sql("UPDATE subscribers SET status = 'unsubscribed' WHERE status = 'confirmed'")
    stack.mailpit_api("/api/v1/messages", method="DELETE")


class MailServers(unittest.TestCase):
    """Mail servers as they behave: greylisting, refusals, connections that drop, slowness."""

    def setUp(self) -> None:
        readers_of_this_test_only()

    def test_greylisting_defers_and_every_address_gets_the_issue_once(self) -> None:
        readers = stack.confirmed_subscribers(20)
        started = time.monotonic()
        with mail_chaos(451, 100):
            issue_id = stack.publish()

            def all_tried() -> bool:
                """every delivery was tried"""
                rows = stack.deliveries(issue_id)
                return len(rows) == 20 and all(not row.endswith("|0") for row in rows)

            wait_until(all_tried)
            time.sleep(max(0.0, GREYLISTING_SECONDS - (time.monotonic() - started)))
            assert deliveries_of(issue_id)["failed"] == 0
        counts = wait_until_done(issue_id, 20, seconds=4 * WAIT_SECONDS)
        assert counts["failed"] == 0, counts
        each_gets_exactly_one(readers, 20)
        attempts = {row.split("|")[1] for row in stack.deliveries(issue_id)}
        assert attempts <= {"2", "3"}, attempts  # one SMTP transaction per try, no more

    def test_a_550_fails_those_addresses_with_the_reason_and_the_rest_go_once(self) -> None:
        readers = stack.confirmed_subscribers(40)
        with mail_chaos(550, 30):
            issue_id = stack.publish()
            wait_until_done(issue_id, 40, seconds=WAIT_SECONDS)
        outcomes = each_gets_exactly_one_or_fails(readers, 40)
        assert outcomes["failed"], outcomes
        assert outcomes["sent"], outcomes
        body = stack.request("GET", f"/api/issues/{issue_id}")[1]
        assert json.loads(body)["errors"] == [
            {"reason": "550 Chaos recipient error", "deliveries": outcomes["failed"]}
        ]

    def test_a_connection_dropped_in_data_and_a_slow_server_defer_then_send_once(self) -> None:
        with smtp_faults(drops=3, slow=3):
            readers = stack.confirmed_subscribers(12)
            issue_id = stack.publish()
            wait_until_done(issue_id, 12, seconds=3 * WAIT_SECONDS)
        each_gets_exactly_one(readers, 12)
        attempts = Counter(row.split("|")[1] for row in stack.deliveries(issue_id))
        assert attempts == Counter({"1": 6, "2": 6}), attempts


@contextlib.contextmanager
def smtp_faults(drops: int, slow: int) -> Iterator[None]:
    """The worker sends through smtp_faults.py (in a container on the stack's network) while
    the block runs: `drops` transactions lose their connection mid-message, then `slow` ones
    wait longer than SMTP_TIMEOUT for the reply to RCPT."""
    name = f"{stack.project()}-smtp-faults"
    delay = str(int(env_value(stack.dir, "SMTP_TIMEOUT")) + 3)
    output_of(
        [
            "docker",
            "run",
            "--detach",
            "--rm",
            "--name",
            name,
            "--network",
            f"{stack.project()}_default",
            "--network-alias",
            "smtp-faults",
            "--label",
            f"com.docker.compose.project={stack.project()}",
            stack.app_image(),
            "python",
            "-c",
            SMTP_FAULTS.read_text(),
            str(drops),
            str(slow),
            delay,
        ],
        stack.dir,
    )
    stack.configure(SMTP_HOST="smtp-faults")
    try:
        yield
    finally:
        stack.configure(SMTP_HOST="mailpit")
        output_of(["docker", "rm", "--force", name], stack.dir)


class Stores(unittest.TestCase):
    """The database and the broker, as they fail and as attackers reach them."""

    def test_a_database_restart_in_the_middle_of_an_issue_sends_nothing_twice(self) -> None:
        readers_of_this_test_only()
        readers = stack.confirmed_subscribers(2000)
        issue_id = stack.publish()

        def some_sent() -> bool:
            """two hundred deliveries of the issue were sent"""
            return deliveries_of(issue_id).get("sent", 0) >= 200

        wait_until(some_sent)
        stack.compose("restart", "db")
        counts = wait_until_done(issue_id, 2000, seconds=4 * WAIT_SECONDS)
        assert counts["failed"] == 0, counts
        each_gets_exactly_one(readers, 2000)

    def test_a_job_crafted_with_the_brokers_own_password_runs_nothing(self) -> None:
        marker = f"/tmp/tidings-crafted-{uuid.uuid4().hex[:8]}"  # noqa: S108  # the worker's own
        payload = pickle.dumps(Crafted(f"touch {marker}"))
        stack.compose_with_input(
            payload, "exec", "-T", "broker", "redis-cli", "-x", "LPUSH", "huey.redis.tidings"
        )

        def dropped() -> bool:
            """the worker logged that it dropped the job"""
            return "dropped a queued job" in stack.compose("logs", "--no-color", "worker")

        wait_until(dropped)
        ran = stack.compose(
            "exec", "-T", "worker", "sh", "-c", f"test -e {marker} && echo ran || echo no"
        )
        assert ran.strip() == "no"


class Crafted:
    """A job as an attacker would queue it: unpickling it runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


@unittest.skipUnless(PROD, "the production stack only (make faults STACK=prod): web behind nginx")
class Scale(unittest.TestCase):
    """More workers share an issue without sending anything twice; more web replicas keep
    serving while one of them restarts or is replaced."""

    def test_four_workers_deliver_2000_emails_each_exactly_once(self) -> None:
        stack.scale("worker", 4)
        try:
            stack.mailpit_api("/api/v1/messages", method="DELETE")
            prefix = stack.confirmed_subscribers(2000)
            issue_id = stack.publish()
            wait_for_every_delivery(issue_id, seconds=3 * WAIT_SECONDS)
            each_gets_exactly_one(prefix, 2000)
            workers = stack.compose("ps", "--quiet", "worker").split()
            assert len(workers) == 4, workers
        finally:
            stack.scale("worker", 1)

    def test_two_web_replicas_lose_no_request_while_one_restarts_or_is_replaced(self) -> None:
        stack.scale("web", 2)
        try:
            with request_stream(stack.web + "/") as stream:
                first, second = stack.compose("ps", "--quiet", "web").split()
                time.sleep(1)
                output_of(["docker", "restart", first], stack.dir)  # restarted: SIGTERM, then up
                stack.scale("web", 2)  # healthy again
                output_of(["docker", "stop", second], stack.dir)  # replaced: a new container
                output_of(["docker", "rm", second], stack.dir)
                stack.scale("web", 2)
                time.sleep(6)  # past nginx's 5 s DNS cache: the new replica takes requests
        finally:
            stack.scale("web", 1)
        assert not stream.failures, stream.failures
        assert stream.served > 100, stream.served
