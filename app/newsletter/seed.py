"""`flask seed`: sample subscribers and issues for local development (`make seed`)."""

from __future__ import annotations

import click
from flask import Blueprint
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.database import session
from app.newsletter import service
from app.newsletter.models import Issue
from app.subscriptions.models import Subscriber, SubscriberStatus

bp = Blueprint("seed", __name__, cli_group=None)

SUBSCRIBERS = {
    **{f"reader{n}@example.org": SubscriberStatus.CONFIRMED for n in range(1, 9)},
    "pending@example.org": SubscriberStatus.PENDING,
    "gone@example.org": SubscriberStatus.UNSUBSCRIBED,
}
ISSUES = [
    ("Welcome to Tidings", "This is the first issue.\n\nThanks for reading!", True),
    ("What we are working on", "A short update.\nTwo lines, one paragraph.", True),
    ("Next month (draft)", "Not published yet.", False),
]


@bp.cli.command("seed")
def seed() -> None:
    """Add sample subscribers and issues; running it again adds nothing twice."""
    session().execute(
        insert(Subscriber)
        .values([{"email": email, "status": status} for email, status in SUBSCRIBERS.items()])
        .on_conflict_do_nothing(index_elements=[Subscriber.email])
    )
    session().commit()
    for subject, body, published in ISSUES:
        issue = session().scalar(select(Issue).where(Issue.subject == subject))
        if issue is None:
            issue = Issue(subject=subject, body=body)
            session().add(issue)
            session().commit()
        if published and service.publish(issue.id):
            click.echo(f"published issue {issue.id}: {subject} (delivery queued)")
    click.echo(f"{len(SUBSCRIBERS)} subscribers and {len(ISSUES)} issues are in place.")
