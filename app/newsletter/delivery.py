"""Delivering a published issue: one email per confirmed subscriber, exactly once.

Publishing (service.publish) marks the issue published and queues `fan_out`, which writes one
delivery row per confirmed subscriber, FANOUT_BATCH rows per transaction (each well inside
the statement timeout), resumed from `Issue.fanout_cursor` after any crash. Its first batch
queues up to MAX_PARALLEL_BATCHES `deliver_issue` tasks, so that every worker takes a share.

A delivery is due once its `next_attempt_at` has come. `deliver_issue` claims one due
delivery at a time (FOR UPDATE SKIP LOCKED, in a transaction of its own) and moves its
`next_attempt_at` a lease ahead (mail.send_lease); then it sends it with no transaction open,
and records what the server said at once: sent; deferred (a 4xx, or the connection lost
during its transaction), tried again after mail.retry_delay; or failed, on a 5xx or once
deferred for longer than mail.RETRY_FOR, with the reason. One try is one SMTP transaction,
and a row is claimed by one task at a time. A server that cannot be reached is nobody's
fault: the delivery at hand is released untouched and the task tries again after
SERVER_PAUSE.

Once the server has said "250 OK", the worker records it before it takes more work, waiting
for the database for as long as it is away (database.commit_when_possible): a database
restart sends nothing twice. The window that remains is the worker process itself dying
between the server's "250 OK" and that commit: when the lease runs out, the message is sent
again, with the same Message-ID, so that mail clients show one.

A task sends up to BATCH_SIZE deliveries and queues its successor; with nothing due, it is
scheduled for when something will be. `resume_deliveries` (soon after each consumer starts,
then every minute) restarts an issue with work left that no task has been seen at for a
while.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from flask import current_app, render_template
from huey import crontab
from sqlalchemy import exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import InterfaceError, OperationalError

from app.database import commit_when_possible, session
from app.jobs import on_consumer_start, periodic_task, task
from app.mail import (
    Mailer,
    MailServerUnavailableError,
    Result,
    attempt,
    build_message,
    give_up_if_stale,
    retry_delay,
    send_lease,
    sender_domain,
)
from app.newsletter.models import Delivery, DeliveryStatus, Issue, IssueStatus
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, email_link

# Deliveries one task sends before queueing its successor: one issue cannot hog a worker.
BATCH_SIZE = 100
# Tasks at work on one issue, so that every worker takes a share, and one that dies leaves
# its deliveries to the others.
MAX_PARALLEL_BATCHES = 8
# Delivery rows written per transaction of the fan-out (a few hundred milliseconds each).
FANOUT_BATCH = 10_000
# How long delivery waits for a mail server that cannot be reached, or for the database.
SERVER_PAUSE = timedelta(seconds=30)
DATABASE_PAUSE = timedelta(seconds=5)
# While the fan-out runs, a task that finds nothing due yet looks again this much later.
FANOUT_WAIT = timedelta(seconds=1)
# A working task notes the time on its issue this often (its heartbeat); a task that waits
# (a paused server) notes when it will be back. An issue with work left and no heartbeat for
# QUIET_AFTER is restarted when the queue is empty (its tasks were lost with the broker, or
# with a worker that died), or after LOST_AFTER however busy the queue is.
HEARTBEAT = timedelta(seconds=3)
QUIET_AFTER = timedelta(seconds=15)
LOST_AFTER = timedelta(minutes=10)


def deliver_pending(issue_id: int, limit: int) -> int:
    """Try up to `limit` due deliveries of the issue, each once; how many were tried.

    Raises MailServerUnavailableError, the delivery at hand released untouched.
    """
    rate = current_app.config["MAIL_RATE_LIMIT"]
    tried, beaten = 0, 0.0
    with Mailer() as mailer:
        mailer.connect()
        while tried < limit:
            if time.monotonic() - beaten > HEARTBEAT.total_seconds():
                beat(issue_id)
                beaten = time.monotonic()
            delivery = _claim_next(issue_id)
            if delivery is None:
                break
            try:
                _try(delivery, mailer)
            except MailServerUnavailableError:
                _release(delivery.id)
                raise
            tried += 1
            time.sleep(1 / rate if rate else 0)
    return tried


def _claim_next(issue_id: int) -> Delivery | None:
    """The next due delivery of the issue, leased to this task (committed); None if none."""
    due = (
        select(Delivery.id)
        .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.PENDING)
        .where(Delivery.next_attempt_at <= func.now())
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    delivery = session().scalar(
        update(Delivery)
        .where(Delivery.id == due.scalar_subquery())
        .values(next_attempt_at=func.now() + send_lease())
        .returning(Delivery),
        execution_options={"populate_existing": True},
    )
    session().commit()
    return delivery


def _release(delivery_id: int) -> None:
    """Give a claimed delivery back, untried: it is due again at once."""
    commit_when_possible(
        update(Delivery).where(Delivery.id == delivery_id).values(next_attempt_at=func.now()),
        f"delivery {delivery_id}: release",
    )


def _try(delivery: Delivery, mailer: Mailer) -> None:
    """One SMTP transaction for a claimed delivery, and its outcome recorded."""
    if delivery.subscriber.status is not SubscriberStatus.CONFIRMED:
        _record(delivery, Result.REFUSED, "subscriber unsubscribed before delivery", tried=False)
        return
    try:
        message = _issue_email(delivery)
    except Exception as exc:
        # Bad data or a bug in this one message: it waits for a fix, the rest go.
        current_app.logger.exception("delivery %s: the message could not be built", delivery.id)
        _record(delivery, Result.DEFERRED, f"{type(exc).__name__}: {exc}", tried=False)
        return
    session().commit()  # no transaction stays open while the server takes its time
    _record(delivery, *attempt(mailer, message))


def _record(delivery: Delivery, result: Result, reason: str | None, *, tried: bool = True) -> None:
    """Record a try's outcome on the delivery, whatever it takes (see the module's text)."""
    values: dict[str, object] = {"attempts": Delivery.attempts + 1} if tried else {}
    result, reason = give_up_if_stale(result, reason, delivery.issue.published_at)
    if result is Result.SENT:
        values |= {"status": DeliveryStatus.SENT, "sent_at": func.now(), "last_error": None}
    elif result is Result.REFUSED:
        values |= {"status": DeliveryStatus.FAILED, "last_error": (reason or "")[:500]}
    else:
        wait = retry_delay(delivery.attempts + 1)
        values |= {"next_attempt_at": func.now() + wait, "last_error": (reason or "")[:500]}
    commit_when_possible(
        update(Delivery).where(Delivery.id == delivery.id).values(values),
        f"delivery {delivery.id}: {result.value}",
    )
    if result is not Result.SENT:
        current_app.logger.warning("delivery %s %s: %s", delivery.id, result.value, reason)


def _issue_email(delivery: Delivery) -> EmailMessage:
    """The issue as emailed to one subscriber, with their own unsubscribe link."""
    issue, subscriber = delivery.issue, delivery.subscriber
    message_id = f"<issue-{issue.id}.subscriber-{subscriber.id}@{sender_domain()}>"
    unsubscribe_url = email_link(Purpose.UNSUBSCRIBE, subscriber)
    return issue_email(issue, subscriber.email, unsubscribe_url, message_id)


def issue_email(
    issue: Issue, to: str, unsubscribe_url: str, message_id: str | None = None, subject: str = ""
) -> EmailMessage:
    """The issue as an email to `to`: the Markdown as its text, the same rendered as HTML."""
    context = {"issue": issue, "unsubscribe_url": unsubscribe_url}
    headers = {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return build_message(
        to,
        subject or issue.subject,
        render_template("email/issue.txt", **context),
        render_template("email/issue.html", **context),
        headers,
        message_id=message_id,
    )


@task()
def send_test(issue_id: int, to: str) -> None:
    """Email the issue to `to` (the owner) as readers will get it, its subject marked as a
    test; its unsubscribe link leads home."""
    issue = session().get(Issue, issue_id)
    if issue is None:
        return
    home = current_app.config["PUBLIC_URL"].rstrip("/") + "/"
    message = issue_email(issue, to, home, subject=f"[Test] {issue.subject}")
    session().commit()
    with Mailer() as mailer:
        result, reason = attempt(mailer, message)
    if reason is not None:
        current_app.logger.warning("issue %s: the test was %s, %s", issue_id, result.value, reason)


def beat(issue_id: int, ahead: timedelta = timedelta()) -> None:
    """Note on the issue that a task is at work on its delivery now (or will be, `ahead`)."""
    session().execute(
        update(Issue).where(Issue.id == issue_id).values(delivery_heartbeat_at=func.now() + ahead)
    )
    session().commit()


def next_due(issue_id: int) -> datetime | None:
    """When the issue will next have a delivery due (a second from now at the earliest), or
    None when none is left and the fan-out is over."""
    soon = datetime.now(UTC) + timedelta(seconds=1)
    if session().scalar(select(Issue.fanned_out_at).where(Issue.id == issue_id)) is None:
        return soon + FANOUT_WAIT
    earliest = session().scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.PENDING
        )
    )
    session().commit()
    return None if earliest is None else max(earliest, soon)


@task()
def deliver_issue(issue_id: int) -> None:
    """Send a batch of the issue's due deliveries, then queue the next batch, or schedule it
    for when a delivery will be due."""
    try:
        tried = deliver_pending(issue_id, BATCH_SIZE)
    except (OperationalError, InterfaceError) as exc:
        # The database is away (a restart, say): this task waits for it rather than vanish.
        current_app.logger.warning("issue %s: database unavailable (%s)", issue_id, exc.orig)
        deliver_issue.schedule((issue_id,), delay=DATABASE_PAUSE.total_seconds())
        return
    except MailServerUnavailableError as exc:
        current_app.logger.warning(
            "issue %s: delivery paused for %s s, %s", issue_id, SERVER_PAUSE.seconds, exc
        )
        beat(issue_id, ahead=SERVER_PAUSE)
        deliver_issue.schedule((issue_id,), delay=SERVER_PAUSE.total_seconds())
        return
    if tried == BATCH_SIZE:
        deliver_issue(issue_id)
    elif (when := next_due(issue_id)) is not None:
        deliver_issue.schedule((issue_id,), eta=when)


@task()
def fan_out(issue_id: int) -> None:
    """Write a delivery for each confirmed subscriber, FANOUT_BATCH at a time; the first
    batch starts as many delivery tasks as it has batches of deliveries (up to the maximum)."""
    first = True
    while (written := _fan_out_batch(issue_id)) is not None:
        if first:
            for _ in range(min(MAX_PARALLEL_BATCHES, math.ceil(written / BATCH_SIZE))):
                deliver_issue(issue_id)
            first = False


def _fan_out_batch(issue_id: int) -> int | None:
    """Write the next batch of the issue's deliveries, committed; how many subscribers it
    covered, or None when the fan-out is over (or another task holds the issue just now)."""
    issue = session().scalar(
        select(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.PUBLISHED)
        .where(Issue.fanned_out_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    if issue is None:
        session().rollback()
        return None
    batch = (
        select(Subscriber.id)
        .where(Subscriber.status == SubscriberStatus.CONFIRMED)
        .where(Subscriber.id > issue.fanout_cursor)
        .order_by(Subscriber.id)
        .limit(FANOUT_BATCH)
        .cte("batch")
    )
    written = (
        insert(Delivery)
        .from_select(
            [Delivery.issue_id, Delivery.subscriber_id], select(literal(issue_id), batch.c.id)
        )
        .on_conflict_do_nothing()
        .cte("written")
    )
    covered, last = (
        session()
        .execute(select(func.count(), func.max(batch.c.id)).select_from(batch).add_cte(written))
        .one()
    )
    issue.fanout_cursor = last or issue.fanout_cursor
    issue.delivery_heartbeat_at = func.now()
    if covered < FANOUT_BATCH:
        issue.fanned_out_at = func.now()
    session().commit()
    return int(covered)


@task()
def resume_deliveries() -> None:
    """Restart every issue with work left (its fan-out, or deliveries due) that no task has
    been at for a while: its tasks were lost with the broker, or with a worker that died."""
    idle = current_app.extensions["huey"].pending_count() == 0
    quiet_since = func.now() - (QUIET_AFTER if idle else LOST_AFTER)
    due = exists().where(
        Delivery.issue_id == Issue.id,
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.next_attempt_at < quiet_since,
    )
    stalled = session().execute(
        update(Issue)
        .where(Issue.status == IssueStatus.PUBLISHED)
        .where(
            or_(Issue.delivery_heartbeat_at.is_(None), Issue.delivery_heartbeat_at < quiet_since)
        )
        .where(or_(Issue.fanned_out_at.is_(None), due))
        .values(delivery_heartbeat_at=func.now())
        .returning(Issue.id, Issue.fanned_out_at)
    )
    restart = stalled.all()
    session().commit()
    for issue_id, fanned_out_at in restart:
        current_app.logger.warning("issue %s: delivery had stopped; restarting it", issue_id)
        if fanned_out_at is None:
            fan_out(issue_id)
        else:
            for _ in range(MAX_PARALLEL_BATCHES):
                deliver_issue(issue_id)


@on_consumer_start
def resume_after_start() -> None:
    """A worker that starts may replace one that died at work: look again once the dead
    one's issues have been quiet for long enough."""
    resume_deliveries.schedule(delay=(QUIET_AFTER + HEARTBEAT).total_seconds())


@periodic_task(crontab(minute="*"))
def resume_deliveries_periodically() -> None:
    """The safety net for tasks lost with their broker or worker: every minute."""
    resume_deliveries.call_local()
