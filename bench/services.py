"""`make bench`: what the archive cache and the shared SMTP connection buy, and publishing
to a million readers, in numbers.

Runs against the real services of the throw-away test stack, in the test database and
Redis database (never the development data). The machine may be busy: every figure is a
median over several rounds, and each comparison is measured in the same run. The million
readers are made by the benchmark, straight into the test database; their fan-out is timed
batch by batch, as the worker runs it, and nothing is sent.

    python -m bench.services [--rounds N] [--readers N]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import create_engine, text

from app import create_app
from app.database import STATEMENT_TIMEOUT_MS, session
from app.mail import Mailer, build_message, send_email
from app.newsletter import delivery, service
from app.newsletter.models import Issue, IssueStatus
from devtools.testdb import (
    ADMIN,
    create_test_database,
    drop_test_database,
    isolated_overrides,
    wait_for_services,
)

ARCHIVE_ISSUES = 50
PAGE_REQUESTS = 100
MESSAGES = 40


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """The median duration of `repeat` calls of `action`."""
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def archive_page(env: dict[str, str], rounds: int) -> tuple[float, float]:
    """Median seconds per GET / with ARCHIVE_ISSUES published issues: uncached, cached."""
    results = []
    for cache_seconds in ("0", "300"):
        app = create_app({**env, "PAGE_CACHE_SECONDS": cache_seconds})
        app.extensions["cache"].flushdb()
        client = app.test_client()
        client.get("/")  # the first request renders (and, with the cache on, stores) the page
        get_home = functools.partial(client.get, "/")
        per_round = [median_seconds(get_home, PAGE_REQUESTS) for _ in range(rounds)]
        results.append(statistics.median(per_round))
    return results[0], results[1]


def email_rate(app: Flask, rounds: int) -> tuple[float, float]:
    """Median messages per second: a connection per message (send_email), one shared (Mailer)."""

    def one_connection_each() -> None:
        for _ in range(MESSAGES):
            send_email(
                f"bench-{uuid.uuid4().hex[:12]}@example.org", "Benchmark", "One connection each."
            )

    def one_shared_connection() -> None:
        with Mailer() as mailer:
            for _ in range(MESSAGES):
                mailer.send(
                    build_message(
                        f"bench-{uuid.uuid4().hex[:12]}@example.org", "Benchmark", "Shared."
                    )
                )

    with app.app_context():
        each = median_seconds(one_connection_each, rounds)
        shared = median_seconds(one_shared_connection, rounds)
    return MESSAGES / each, MESSAGES / shared


def add_published_issues(app: Flask, count: int) -> None:
    with app.app_context():
        for number in range(count):
            session().add(
                Issue(
                    subject=f"Issue {number}",
                    body="A paragraph of news. " * 40,
                    status=IssueStatus.PUBLISHED,
                    published_at=datetime.now(UTC),
                )
            )
        session().commit()


def add_confirmed_readers(env: dict[str, str], count: int) -> float:
    """`count` confirmed subscribers in one statement, outside the app (whose statement
    timeout is for requests); the seconds it took."""
    engine = create_engine(env["DATABASE_URL"])
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subscribers (email, status) SELECT 'million-' || n || "
                "'@example.org', 'confirmed' FROM generate_series(1, :count) n"
            ),
            {"count": count},
        )
    engine.dispose()
    return time.perf_counter() - started


def publish_to(app: Flask, readers: int) -> tuple[float, list[float]]:
    """Publish an issue to every reader: the seconds the publish request took, and each
    fan-out batch's, run as the worker runs them (nothing is sent)."""
    client = app.test_client()
    with app.app_context():
        issue_id = service.create_issue("To a million", "Hello, readers.").id
    started = time.perf_counter()
    response = client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    answered = time.perf_counter() - started
    if response.status_code != 202:
        raise SystemExit(
            f"bench: publishing answered {response.status_code}: {response.get_json()}"
        )
    batches = []
    with app.app_context():
        while True:
            started = time.perf_counter()
            if delivery._fan_out_batch(issue_id) is None:
                break
            batches.append(time.perf_counter() - started)
        written = client.get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()
    if written["deliveries"]["pending"] != readers:
        raise SystemExit(f"bench: {readers:,} readers, but the issue shows {written['deliveries']}")
    return answered, batches


# The owner's pages, with the million readers in place: never cached (each is one owner's).
ADMIN_PAGES = (
    "/admin/",
    "/admin/subscribers",
    "/admin/subscribers?q=million-99999",
    "/admin/subscribers?status=confirmed&after=900000",
)


def admin_pages(app: Flask, rounds: int) -> dict[str, float]:
    """Median seconds per GET of each of ADMIN_PAGES, as the signed-in owner."""
    client = app.test_client()
    with client.session_transaction() as owner:
        owner["owner"] = True
    medians = {}
    for path in ADMIN_PAGES:
        client.get(path)  # connections and templates warm, as in the archive's figures
        get_page = functools.partial(client.get, path)
        medians[path] = statistics.median(
            median_seconds(get_page, PAGE_REQUESTS // 10) for _ in range(rounds)
        )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (default 5)")
    parser.add_argument("--readers", type=int, default=1_000_000, help="default 1,000,000")
    options = parser.parse_args()
    rounds = options.rounds

    wait_for_services()
    env = isolated_overrides()
    create_test_database(env)
    try:
        app = create_app(env)
        add_published_issues(app, ARCHIVE_ISSUES)
        print(f"Medians of {rounds} rounds, measured now, on this machine:")
        uncached, cached = archive_page(env, rounds)
        print(
            f"  GET / with {ARCHIVE_ISSUES} issues  rendered: {uncached * 1000:7.2f} ms   "
            f"from the cache: {cached * 1000:7.2f} ms   {uncached / cached:5.1f}x faster"
        )
        each, shared = email_rate(app, rounds)
        print(
            f"  {MESSAGES} emails to Mailpit   connection each: {each:6.0f}/s   "
            f"one connection: {shared:6.0f}/s   {shared / each:5.1f}x faster"
        )
        readers = options.readers
        made = add_confirmed_readers(env, readers)
        print(f"  Publishing to {readers:,} readers (made in {made:.1f} s):")
        answered, batches = publish_to(app, readers)
        fanned_out = sum(batches)
        print(
            f"    the publish request answered in {answered * 1000:7.1f} ms      (target < 1000 ms)"
        )
        print(
            f"    fan-out: {readers / fanned_out:9,.0f} deliveries/s, all {readers:,} written in "
            f"{fanned_out:.1f} s, {len(batches)} batches of {delivery.FANOUT_BATCH:,}"
        )
        print(
            f"    a batch: median {statistics.median(batches) * 1000:.0f} ms, slowest "
            f"{max(batches) * 1000:.0f} ms   (the statement timeout: {STATEMENT_TIMEOUT_MS} ms)"
        )
        print(f"  The owner's pages with {readers:,} subscribers (never cached):")
        for path, seconds in admin_pages(app, rounds).items():
            print(f"    GET {path:<48} {seconds * 1000:7.2f} ms")
    finally:
        drop_test_database(env)


if __name__ == "__main__":
    main()
