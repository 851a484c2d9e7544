"""Issues: the admin API, delivery, and the cached public archive."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from huey.exceptions import RetryTask
from sqlalchemy import func, insert, literal, select, text, update
from sqlalchemy.exc import DBAPIError

from app import jobs
from app.database import session
from app.newsletter import archive, delivery, service
from app.newsletter.models import MAX_BODY_LENGTH, Delivery, DeliveryStatus, Issue
from app.settings import MAX_REQUEST_BYTES
from app.subscriptions.models import Subscriber, SubscriberStatus
from tests.services.support import (
    ADMIN,
    create_issue,
    messages_to,
    unique_address,
    wait_for_messages,
)


def add_subscribers(app, **statuses: SubscriberStatus) -> dict[str, str]:
    """Subscribers named by keyword, with unique addresses; returns name -> address."""
    addresses = {name: unique_address(name) for name in statuses}
    with app.app_context():
        for name, status in statuses.items():
            session().add(Subscriber(email=addresses[name], status=status))
        session().commit()
    return addresses


def deliveries(app, issue_id: int) -> dict[str, DeliveryStatus]:
    with app.app_context():
        rows = session().execute(
            select(Subscriber.email, Delivery.status)
            .join(Delivery.subscriber)
            .where(Delivery.issue_id == issue_id)
        )
        return dict(rows.all())


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + "y" * 32}],
)
def test_admin_api_needs_the_admin_token(client, headers):
    response = client.post("/api/issues", json={"subject": "s", "body": "b"}, headers=headers)
    assert response.status_code == 401
    assert "admin token" in response.get_json()["error"]


def test_create_issue_makes_a_draft(client):
    issue_id = create_issue(client)
    shown = client.get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()
    assert shown["status"] == "draft"
    assert shown["subject"] == "Issue one"
    assert shown["deliveries"] == {"pending": 0, "sent": 0, "failed": 0}
    assert shown["errors"] == []


def test_issues_are_listed_newest_first_with_their_delivery_counts(app, client):
    add_subscribers(app, ivy=SubscriberStatus.CONFIRMED, jon=SubscriberStatus.CONFIRMED)
    published = create_issue(client, subject="Published")
    draft = create_issue(client, subject="Draft")
    client.post(f"/api/issues/{published}/publish", headers=ADMIN)
    response = client.get("/api/issues", headers=ADMIN)
    assert response.status_code == 200
    listed = [
        (issue["id"], issue["subject"], issue["status"], issue["deliveries"])
        for issue in response.get_json()["issues"]
    ]
    none = {"pending": 0, "sent": 0, "failed": 0}
    assert listed == [
        (draft, "Draft", "draft", none),
        (published, "Published", "published", {**none, "pending": 2}),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "b"}, "subject"),
        ({"subject": "", "body": "b"}, "subject"),
        ({"subject": 7, "body": "b"}, "subject"),
        ({"subject": "a" * 201, "body": "b"}, "subject"),
        ({"subject": "Hi\r\nBcc: victim@example.org", "body": "b"}, "subject"),
        ({"subject": "s"}, "body"),
        ({"subject": "s", "body": {"html": "<p>"}}, "body"),
        ({"subject": "s", "body": "   "}, "body"),
    ],
)
def test_invalid_issues_are_422_naming_the_field(client, body, field):
    response = client.post("/api/issues", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.get_json()["field"] == field


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"subject": "s", "body": ', "application/json", 400),
        ('"just a string"', "application/json", 400),
        ("subject=s&body=b", "application/x-www-form-urlencoded", 415),
        ('{"subject": "s", "body": "' + "x" * MAX_REQUEST_BYTES + '"}', "application/json", 413),
        ("[" * 20_000, "application/json", 400),
    ],
)
def test_malformed_or_oversized_issue_bodies_get_a_clear_4xx(client, data, content_type, status):
    response = client.post("/api/issues", data=data, content_type=content_type, headers=ADMIN)
    assert response.status_code == status
    assert response.get_json()["error"]


@pytest.mark.parametrize(
    "separator", ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
)
def test_a_subject_on_two_lines_is_refused_naming_the_field(client, separator):
    body = {"subject": f"Issue{separator}Bcc: everyone@example.org", "body": "b"}
    response = client.post("/api/issues", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.get_json() == {"error": "subject must be a single line.", "field": "subject"}


@pytest.mark.parametrize("field", ["subject", "body"])
@pytest.mark.parametrize("bad", ["\x00", '"\\ud800"', '"a\\udfffb"'])
def test_text_postgresql_cannot_store_is_refused_naming_the_field(client, caplog, field, bad):
    # NUL, or an unpaired surrogate that JSON can escape and UTF-8 cannot encode.
    value = json.dumps(f"x{bad}y") if bad == "\x00" else bad
    fields = {"subject": '"s"', "body": '"b"', field: value}
    data = "{" + ", ".join(f'"{name}": {text}' for name, text in fields.items()) + "}"
    response = client.post("/api/issues", data=data, content_type="application/json", headers=ADMIN)
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert "Traceback" not in caplog.text


def test_a_failed_statement_logs_none_of_its_parameters(app):
    with app.app_context(), pytest.raises(DBAPIError) as raised:
        session().execute(text("SELECT :reader, 1 / 0"), {"reader": "private@example.org"})
    assert "division by zero" in str(raised.value)
    assert "private@example.org" not in str(raised.value)


def test_the_longest_body_is_accepted_however_json_escapes_it(client):
    # 50,000 characters outside the BMP: JSON escapes each as 12 bytes.
    data = json.dumps({"subject": "Emoji", "body": "\U0001f600" * MAX_BODY_LENGTH})
    response = client.post("/api/issues", data=data, content_type="application/json", headers=ADMIN)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/issues/2147483648"),
        ("post", "/api/issues/2147483648/publish"),
        ("get", "/api/issues/99999999999999999999"),
    ],
)
def test_ids_beyond_the_database_integer_are_a_json_404(client, method, path):
    response = getattr(client, method)(path, headers=ADMIN)
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_an_archive_id_beyond_the_database_integer_is_a_404_page(client):
    assert client.get("/issues/2147483648", headers={"Accept": "text/html"}).status_code == 404


def test_sql_metacharacters_are_stored_as_text(client):
    subject = "Robert'); DROP TABLE issues;--"
    issue_id = create_issue(client, subject=subject)
    assert client.get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()["subject"] == subject


def test_unknown_issue_is_a_json_404(client):
    response = client.get("/api/issues/999999", headers=ADMIN)
    assert response.status_code == 404
    assert response.get_json() == {"error": "There is no issue 999999."}


def test_publish_creates_one_delivery_per_confirmed_subscriber_once(app, client):
    people = add_subscribers(
        app,
        ann=SubscriberStatus.CONFIRMED,
        bob=SubscriberStatus.CONFIRMED,
        cid=SubscriberStatus.PENDING,
        dee=SubscriberStatus.UNSUBSCRIBED,
    )
    issue_id = create_issue(client)
    first = client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    second = client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.get_json()["deliveries"] == {"pending": 2, "sent": 0, "failed": 0}
    assert deliveries(app, issue_id) == {
        people["ann"]: DeliveryStatus.PENDING,
        people["bob"]: DeliveryStatus.PENDING,
    }
    tasks = [(task.name, task.args) for task in app.extensions["huey"].pending()]
    assert tasks == [("deliver_issue", (issue_id,))]


def test_delivery_sends_text_and_escaped_html_with_an_unsubscribe_link(app, client):
    people = add_subscribers(app, eve=SubscriberStatus.CONFIRMED)
    body = "First <b>paragraph</b> & more.\n\n<script>alert(1)</script>"
    issue_id = create_issue(client, subject="News & <views>", body=body)
    client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 1
    [message] = wait_for_messages(app, people["eve"])
    assert message["Subject"] == "News & <views>"
    assert "<script>alert(1)</script>" in message["Text"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message["HTML"]
    assert "<script>" not in message["HTML"]
    unsubscribe = message["ListUnsubscribe"]["Links"][0]
    assert "/unsubscribe/" in unsubscribe
    assert unsubscribe in message["Text"]
    assert client.get(urlsplit(unsubscribe).path).status_code == 200
    assert deliveries(app, issue_id) == {people["eve"]: DeliveryStatus.SENT}


class RefusingSMTPSession(socketserver.StreamRequestHandler):
    """An SMTP server's side of a session that refuses every recipient, as a real server
    refuses an unknown mailbox (Mailpit accepts everything)."""

    REPLIES: ClassVar[dict[bytes, bytes]] = {
        b"EHLO": b"250 refuser",
        b"RCPT": b"550 5.1.1 no such mailbox",
        b"QUIT": b"221 bye",
    }

    def handle(self) -> None:
        self.wfile.write(b"220 refuser ESMTP\r\n")
        for line in self.rfile:
            verb = line[:4].upper()
            self.wfile.write(self.REPLIES.get(verb, b"250 ok") + b"\r\n")
            if verb == b"QUIT":
                return


@pytest.fixture
def refusing_smtp_port() -> Iterator[int]:
    """The port of a RefusingSMTPSession server on 127.0.0.1."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RefusingSMTPSession)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def publish_new_issue() -> int:
    """Create and publish an issue (in an app context); its id."""
    issue = Issue(subject="s", body="b")
    session().add(issue)
    session().commit()
    service.publish(issue.id)
    return issue.id


def test_a_large_issue_is_queued_in_batches_for_every_worker(app, client):
    with app.app_context():
        session().execute(
            insert(Subscriber).from_select(
                ["email", "status"],
                select(
                    func.concat("batch-", func.generate_series(1, 250), "@example.org"),
                    literal(SubscriberStatus.CONFIRMED, Subscriber.status.type),
                ),
            )
        )
        session().commit()
    issue_id = create_issue(client)
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    tasks = [(task.name, task.args) for task in app.extensions["huey"].pending()]
    assert tasks == [("deliver_issue", (issue_id,))] * 3  # 250 deliveries, batches of 100


def test_a_refused_message_is_retried_then_failed_with_the_reason(make_app, refusing_smtp_port):
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=str(refusing_smtp_port))
    add_subscribers(app, fay=SubscriberStatus.CONFIRMED)
    with app.app_context():
        issue_id = publish_new_issue()
        for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
            assert delivery.deliver_pending(issue_id, limit=10) == 1
            row = session().scalars(select(Delivery).where(Delivery.issue_id == issue_id)).one()
            session().refresh(row)
            assert row.attempts == attempt
            assert "550 5.1.1 no such mailbox" in (row.last_error or "")
        assert row.status is DeliveryStatus.FAILED
        assert delivery.deliver_pending(issue_id, limit=10) == 0
    shown = app.test_client().get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()
    assert shown["deliveries"] == {"pending": 0, "sent": 0, "failed": 1}
    assert shown["errors"] == [{"reason": "550 5.1.1 no such mailbox", "deliveries": 1}]


def test_a_message_that_cannot_be_built_costs_its_delivery_a_try_and_the_rest_go(app, monkeypatch):
    people = add_subscribers(app, ida=SubscriberStatus.CONFIRMED, jon=SubscriberStatus.CONFIRMED)
    build = delivery._issue_email

    def broken_for_ida(row):
        if row.subscriber.email == people["ida"]:
            raise ValueError("a header the email package refuses")
        return build(row)

    monkeypatch.setattr(delivery, "_issue_email", broken_for_ida)
    with app.app_context():
        issue_id = publish_new_issue()
        assert delivery.deliver_pending(issue_id, limit=10) == 2
    assert deliveries(app, issue_id) == {
        people["ida"]: DeliveryStatus.PENDING,
        people["jon"]: DeliveryStatus.SENT,
    }
    shown = app.test_client().get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()
    assert shown["errors"] == [
        {"reason": "ValueError: a header the email package refuses", "deliveries": 1}
    ]


def test_an_unreachable_mail_server_pauses_delivery_and_charges_no_one(app):
    people = add_subscribers(app, gil=SubscriberStatus.CONFIRMED, hal=SubscriberStatus.CONFIRMED)
    mailpit_port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = 1  # nothing listens there: the mail server is down
    with app.app_context():
        issue_id = publish_new_issue()
        for _ in range(delivery.MAX_ATTEMPTS + 1):
            assert delivery.deliver_pending(issue_id, limit=10) == 0
        with pytest.raises(RetryTask):
            delivery.deliver_issue.call_local(issue_id)
        rows = session().scalars(select(Delivery).where(Delivery.issue_id == issue_id)).all()
        assert [(row.status, row.attempts) for row in rows] == [(DeliveryStatus.PENDING, 0)] * 2
    app.config["SMTP_PORT"] = mailpit_port  # and back
    with app.app_context():
        assert delivery.deliver_pending(issue_id, limit=10) == 2
    assert deliveries(app, issue_id) == {
        people["gil"]: DeliveryStatus.SENT,
        people["hal"]: DeliveryStatus.SENT,
    }
    assert len(wait_for_messages(app, people["gil"])) == 1


@pytest.mark.parametrize("setting", ["SMTP_STARTTLS", "SMTP_IMPLICIT_TLS"])
def test_a_mail_server_without_the_tls_asked_for_pauses_delivery_and_charges_no_one(
    make_app, setting
):
    # Mailpit offers neither STARTTLS nor TLS: a configuration problem, no subscriber's fault.
    app = make_app(**{setting: "true"})
    add_subscribers(app, kim=SubscriberStatus.CONFIRMED)
    with app.app_context():
        issue_id = publish_new_issue()
        for _ in range(delivery.MAX_ATTEMPTS + 1):
            assert delivery.deliver_pending(issue_id, limit=10) == 0
        row = session().scalars(select(Delivery).where(Delivery.issue_id == issue_id)).one()
        assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)


def test_publishing_while_the_broker_is_down_keeps_every_delivery(app, client):
    people = add_subscribers(app, lea=SubscriberStatus.CONFIRMED)
    issue_id = create_issue(client)
    app.config["BROKER_URL"], working = "redis://127.0.0.1:1/0", app.config["BROKER_URL"]
    jobs.init_app(app)  # the broker is down
    assert client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN).status_code == 202
    app.config["BROKER_URL"] = working
    jobs.init_app(app)  # and back: the periodic resume finds the delivery
    with app.app_context():
        delivery.resume_deliveries()
    assert [task.name for task in app.extensions["huey"].pending()] == ["deliver_issue"]
    assert deliveries(app, issue_id) == {people["lea"]: DeliveryStatus.PENDING}


def test_subscriber_who_left_before_delivery_gets_nothing(app, client):
    people = add_subscribers(app, gus=SubscriberStatus.CONFIRMED)
    issue_id = create_issue(client)
    client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    with app.app_context():
        session().execute(update(Subscriber).values(status=SubscriberStatus.UNSUBSCRIBED))
        session().commit()
        delivery.deliver_pending(issue_id, limit=10)
    assert deliveries(app, issue_id) == {people["gus"]: DeliveryStatus.FAILED}
    assert messages_to(app, people["gus"]) == []
    errors = client.get(f"/api/issues/{issue_id}", headers=ADMIN).get_json()["errors"]
    assert errors == [{"reason": "subscriber unsubscribed before delivery", "deliveries": 1}]


def test_archive_lists_published_issues_newest_first_and_hides_drafts(client):
    older = create_issue(client, subject="Older issue")
    newer = create_issue(client, subject="Newer <issue>")
    draft = create_issue(client, subject="Secret draft")
    for issue_id in (older, newer):
        client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    page = client.get("/").get_data(as_text=True)
    assert page.index("Newer &lt;issue&gt;") < page.index("Older issue")
    assert "Secret draft" not in page
    assert client.get(f"/issues/{newer}").status_code == 200
    assert client.get(f"/issues/{draft}", headers={"Accept": "text/html"}).status_code == 404


def test_archive_pages_are_cached_and_refreshed_on_publish(app, client):
    client.get("/")
    cache = app.extensions["cache"]
    assert cache.get("archive:page:index") is not None
    issue_id = create_issue(client, subject="Fresh issue")
    assert "Fresh issue" not in client.get("/").get_data(as_text=True)
    client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    assert "Fresh issue" in client.get("/").get_data(as_text=True)


def test_in_development_a_code_or_template_edit_is_never_hidden_by_the_cache(make_app, monkeypatch):
    # Stands in for an edit: the source fingerprint is what changes when a file does.
    client = make_app(APP_ENV="development").test_client()
    monkeypatch.setattr(archive, "source_fingerprint", lambda root: "before-the-edit")
    client.get("/")
    monkeypatch.setattr(archive, "render_template", lambda *args, **kwargs: "after the edit")
    assert client.get("/").get_data(as_text=True) != "after the edit"  # served from the cache
    monkeypatch.setattr(archive, "source_fingerprint", lambda root: "after-the-edit")
    assert client.get("/").get_data(as_text=True) == "after the edit"


def test_the_source_fingerprint_follows_every_file(tmp_path):
    (tmp_path / "templates").mkdir()
    page = tmp_path / "templates" / "base.html"
    page.write_text("<p>old</p>")
    before = archive.source_fingerprint(str(tmp_path))
    assert archive.source_fingerprint(str(tmp_path)) == before
    page.write_text("<p>new, and longer</p>")
    edited = archive.source_fingerprint(str(tmp_path))
    assert edited != before
    (tmp_path / "views.py").write_text("")
    assert archive.source_fingerprint(str(tmp_path)) not in {before, edited}


def test_archive_renders_from_the_database_when_the_cache_is_down(make_app):
    client = make_app(CACHE_URL="redis://127.0.0.1:1/0").test_client()
    assert client.get("/").status_code == 200
    assert client.get("/readyz").get_json()["checks"]["cache"] == "unavailable"


def test_seed_adds_samples_once(app, client):
    assert "Welcome to Tidings" not in client.get("/").get_data(as_text=True)  # now cached
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed"])
    second = runner.invoke(args=["seed"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert first.output.count("published issue") == 2
    assert "published issue" not in second.output
    with app.app_context():
        assert session().scalar(select(func.count()).select_from(Subscriber)) == 10
        assert session().scalar(select(func.count()).select_from(Delivery)) == 16
    assert "Welcome to Tidings" in client.get("/").get_data(as_text=True)
