"""The subscribers as the owner manages them: found by the start of their address and their
status a page at a time (by id, never by offset: as fast on the millionth as on the first),
exported, imported, and erased.

Importing asks each new address to confirm, as the form does: nobody is subscribed without
their own click. A known address is left as it is, and one that unsubscribed stays so.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from app.database import session
from app.subscriptions.addresses import InvalidEmailError, valid_email
from app.subscriptions.emails import queue_subscription_email
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.service import EMAIL_DUE_NOW

PAGE_SIZE = 50
EXPORT_BATCH = 5_000
CSV_COLUMNS = ("email", "status", "subscribed_at", "confirmed_at")
CSV_HEADER = ",".join(CSV_COLUMNS) + "\r\n"


def page(starting: str, status: SubscriberStatus | None, after: int) -> list[Subscriber]:
    """Up to PAGE_SIZE subscribers after the id `after`, whose address starts with
    `starting` (in any case) and who have `status` (None: any)."""
    query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id)
    if starting:
        pattern = starting.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Subscriber.email).like(pattern + "%", escape="\\"))
    if status is not None:
        query = query.where(Subscriber.status == status)
    return list(session().scalars(query.limit(PAGE_SIZE)))


def export_batch(status: SubscriberStatus | None, after: int) -> tuple[str, int]:
    """The next EXPORT_BATCH subscribers (of `status`, or all) after the id `after`, as CSV
    lines, and the id to go on after; no lines at the end."""
    query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id)
    if status is not None:
        query = query.where(Subscriber.status == status)
    batch = list(session().scalars(query.limit(EXPORT_BATCH)))
    session().commit()
    lines = "".join(_csv_line(_row(subscriber)) for subscriber in batch)
    return lines, batch[-1].id if batch else after


def _row(subscriber: Subscriber) -> tuple[str, ...]:
    confirmed = subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else ""
    return (
        subscriber.email,
        subscriber.status.value,
        subscriber.subscribed_at.isoformat(),
        confirmed,
    )


def _csv_line(values: tuple[str, ...]) -> str:
    out = io.StringIO()
    # A leading =, +, - or @ would be a formula to a spreadsheet: quote it as text.
    csv.writer(out).writerow([f"'{v}" if v[:1] in ("=", "+", "-", "@") else v for v in values])
    return out.getvalue()


@dataclass
class ImportReport:
    """What an import did, line by line where a line was not taken."""

    invited: int = 0
    known: int = 0
    unsubscribed: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)


def import_addresses(text: str) -> ImportReport:
    """Invite each new address of a CSV (the first column; a header line is skipped) to
    confirm; count the known and the unsubscribed ones; reject, with the reason, the rest."""
    report = ImportReport()
    addresses: dict[str, int] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        raw = row[0].strip() if row else ""
        if number == 1 and raw.lower() in ("email", "e-mail", "address"):
            continue
        try:
            addresses.setdefault(valid_email(raw), number)
        except InvalidEmailError as exc:
            report.rejected.append((number, raw[:100], str(exc)))
    if not addresses:
        return report
    known = dict(
        session()
        .execute(select(Subscriber.email, Subscriber.status).where(Subscriber.email.in_(addresses)))
        .all()
    )
    new = [email for email in addresses if email not in known]
    invited = (
        session()
        .scalars(
            insert(Subscriber)
            .values(
                [
                    {"email": email, "status": SubscriberStatus.PENDING, **EMAIL_DUE_NOW}
                    for email in new
                ]
            )
            .on_conflict_do_nothing(index_elements=[Subscriber.email])
            .returning(Subscriber.id)
        )
        .all()
        if new
        else []
    )
    session().commit()
    for subscriber_id in invited:
        queue_subscription_email(subscriber_id)
    report.invited = len(invited)
    report.unsubscribed = sum(s is SubscriberStatus.UNSUBSCRIBED for s in known.values())
    report.known = len(known) - report.unsubscribed
    return report


def erase(subscriber_id: int) -> bool:
    """Delete the subscriber and their deliveries (a reader's right); False if none."""
    erased = session().scalar(
        delete(Subscriber).where(Subscriber.id == subscriber_id).returning(Subscriber.id)
    )
    session().commit()
    return erased is not None
