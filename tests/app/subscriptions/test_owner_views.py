"""The owner's pages for subscribers: found and paged, exported, imported, erased."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, insert, literal, select

from app.database import session
from app.newsletter.models import Delivery
from app.subscriptions import roster
from app.subscriptions.models import Subscriber, SubscriberStatus
from devtools.testdb import OWNER_PASSWORD
from tests.app.support import add_subscribers, create_issue, publish_and_fan_out


def signed_in(client) -> str:
    client.post("/admin/sign-in", data={"password": OWNER_PASSWORD})
    page = client.get("/admin/subscribers/import").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token
    return token[1]


def many(app, count: int, status: SubscriberStatus) -> None:
    with app.app_context():
        session().execute(
            insert(Subscriber).from_select(
                ["email", "status"],
                select(
                    func.concat("many-", func.generate_series(1, count), "@example.org"),
                    literal(status, Subscriber.status.type),
                ),
            )
        )
        session().commit()


def test_subscribers_are_found_by_how_their_address_starts_and_their_status(app, client):
    add_subscribers(app, zed=SubscriberStatus.CONFIRMED, zoe=SubscriberStatus.UNSUBSCRIBED)
    signed_in(client)
    page = client.get("/admin/subscribers?q=ZE").get_data(as_text=True)
    assert "zed-" in page
    assert "zoe-" not in page
    page = client.get("/admin/subscribers?status=unsubscribed").get_data(as_text=True)
    assert "zoe-" in page
    assert "zed-" not in page
    assert client.get("/admin/subscribers?status=gone").status_code == 400


def test_the_list_pages_by_id_with_no_offset(app, client):
    many(app, roster.PAGE_SIZE + 5, SubscriberStatus.CONFIRMED)
    signed_in(client)
    first = client.get("/admin/subscribers").get_data(as_text=True)
    assert first.count("<td>many-") == roster.PAGE_SIZE
    after = re.search(r"after=(\d+)", first)
    assert after
    second = client.get(f"/admin/subscribers?after={after[1]}").get_data(as_text=True)
    assert second.count("<td>many-") == 5
    assert "Next page" not in second


def test_the_export_is_csv_of_every_subscriber_and_never_a_formula(app, client, monkeypatch):
    monkeypatch.setattr(roster, "EXPORT_BATCH", 2)  # several batches, streamed
    add_subscribers(app, a=SubscriberStatus.CONFIRMED, b=SubscriberStatus.PENDING)
    add_subscribers(app, c=SubscriberStatus.CONFIRMED)
    with app.app_context():
        session().add(Subscriber(email="=cmd@example.org", status=SubscriberStatus.CONFIRMED))
        session().commit()
    signed_in(client)
    response = client.get("/admin/subscribers/export.csv?status=confirmed")
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "email,status,subscribed_at,confirmed_at"
    assert len(lines) == 4  # a, c and the one that looks like a formula
    assert any(line.startswith("'=cmd@example.org,confirmed") for line in lines)


def test_an_import_invites_the_new_and_reports_every_line_it_did_not_take(app, client):
    people = add_subscribers(
        app, known=SubscriberStatus.CONFIRMED, left=SubscriberStatus.UNSUBSCRIBED
    )
    token = signed_in(client)
    upload = "email\nnew-one@example.org\n{known}\n{left}\nnot an address\nnew-one@Example.ORG\n"
    data = {
        "form_token": token,
        "file": (io.BytesIO(upload.format(**people).encode()), "readers.csv"),
    }
    response = client.post("/admin/subscribers/import", data=data)
    page = response.get_data(as_text=True)
    assert "1 new address invited to confirm" in page
    assert "1 already known" in page
    assert "1 unsubscribed, left so" in page
    assert "1 rejected" in page
    assert "<td>5</td><td>not an address</td>" in page
    with app.app_context():
        statuses = dict(session().execute(select(Subscriber.email, Subscriber.status)).all())
    assert statuses["new-one@example.org"] is SubscriberStatus.PENDING
    assert statuses[people["left"]] is SubscriberStatus.UNSUBSCRIBED
    queued = [(task.name, task.args) for task in app.extensions["huey"].pending()]
    assert [name for name, _ in queued] == ["send_subscription_email"]


def test_erasing_a_subscriber_removes_their_row_and_their_deliveries(app, client):
    people = add_subscribers(app, gone=SubscriberStatus.CONFIRMED)
    publish_and_fan_out(client, create_issue(client))
    token = signed_in(client)
    with app.app_context():
        subscriber_id = session().scalars(select(Subscriber.id)).one()
    ask = client.get(f"/admin/subscribers/{subscriber_id}/erase").get_data(as_text=True)
    assert people["gone"] in ask
    response = client.post(f"/admin/subscribers/{subscriber_id}/erase", data={"form_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert session().scalar(select(func.count()).select_from(Subscriber)) == 0
        assert session().scalar(select(func.count()).select_from(Delivery)) == 0
    assert (
        client.post(
            f"/admin/subscribers/{subscriber_id}/erase", data={"form_token": token}
        ).status_code
        == 404
    )
