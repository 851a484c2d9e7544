"""Subscribing, confirming and unsubscribing, through HTTP, against the real services."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update

from app import jobs
from app.database import session
from app.mail import RETRY_FOR
from app.settings import MAX_REQUEST_BYTES
from app.subscriptions import emails
from app.subscriptions.addresses import InvalidEmailError, valid_email
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, make_token
from tests.app.support import messages_to, scripted_smtp, unique_address, wait_for_messages

API = "/api/subscribers"


def subscriber(app, email: str) -> Subscriber:
    with app.app_context():
        return session().scalars(select(Subscriber).where(Subscriber.email == email)).one()


def queued(app) -> list[tuple[str, tuple[object, ...]]]:
    """The tasks waiting in the (test) broker: name and arguments."""
    return [(task.name, task.args) for task in app.extensions["huey"].pending()]


def add_subscriber(app, email: str, status: SubscriberStatus) -> Subscriber:
    with app.app_context():
        row = Subscriber(email=email, status=status)
        session().add(row)
        session().commit()
        return row


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Reader@Example.ORG ", "Reader@example.org"),
        ("first.last+news@sub.example.co.uk", "first.last+news@sub.example.co.uk"),
        ("leser@Müller.de", "leser@xn--mller-kva.de"),
        ("reader@пример.рф", "reader@xn--e1afmkfd.xn--p1ai"),
    ],
)
def test_addresses_are_trimmed_and_their_domain_lowercased(raw, expected):
    assert valid_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at-sign",
        "@example.org",
        "reader@",
        "reader@localhost",
        "two@@example.org",
        "reader@exa mple.org",
        "reader@-example.org",
        ".reader@example.org",
        "rea..der@example.org",
        "reader@example.org'; DROP TABLE subscribers; --",
        "<script>alert(1)</script>@example.org",
        "a" * 65 + "@example.org",
        "abc\n@example.org",
        "reader@exa\u2028mple.org",
        "reader@.example.org",
        "reader@" + "a" * 250 + ".org",
    ],
)
def test_bad_addresses_are_refused_with_a_reason(raw):
    with pytest.raises(InvalidEmailError):
        valid_email(raw)


def test_new_address_is_pending_and_gets_a_confirmation_email(app, client):
    response = client.post(API, json={"email": "New@Example.org"})
    assert response.status_code == 202
    assert response.get_json() == {"status": "pending"}
    row = subscriber(app, "New@example.org")
    assert row.status is SubscriberStatus.PENDING
    assert queued(app) == [("send_subscription_email", (row.id,))]


@pytest.mark.parametrize("status", [SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED])
def test_known_address_gets_the_same_answer_and_at_most_one_reminder_an_hour(app, client, status):
    row = add_subscriber(app, "known@example.org", status)
    with app.app_context():
        session().execute(update(Subscriber).values(last_emailed_at=None))
        session().commit()
    first = client.post(API, json={"email": "known@example.org"})
    second = client.post(API, json={"email": "known@example.org"})
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json() == {"status": "pending"}
    assert queued(app) == [("send_subscription_email", (row.id,))]
    assert subscriber(app, "known@example.org").status is status


def test_reminder_is_due_again_after_an_hour(app, client):
    row = add_subscriber(app, "again@example.org", SubscriberStatus.PENDING)
    client.post(API, json={"email": "again@example.org"})
    with app.app_context():
        earlier = Subscriber.last_emailed_at - timedelta(hours=2)
        session().execute(update(Subscriber).values(last_emailed_at=earlier))
        session().commit()
    client.post(API, json={"email": "again@example.org"})
    assert queued(app) == [("send_subscription_email", (row.id,))] * 2


def test_unsubscribed_address_must_confirm_again(app, client):
    add_subscriber(app, "back@example.org", SubscriberStatus.UNSUBSCRIBED)
    assert client.post(API, json={"email": "back@example.org"}).status_code == 202
    assert subscriber(app, "back@example.org").status is SubscriberStatus.PENDING


def test_an_email_owed_while_the_broker_was_down_goes_once_it_is_back(app, client):
    address = unique_address("patient")
    app.config["BROKER_URL"], working = "redis://127.0.0.1:1/0", app.config["BROKER_URL"]
    jobs.init_app(app)  # the broker is down
    assert client.post(API, json={"email": address}).status_code == 202
    assert subscriber(app, address).email_due
    app.config["BROKER_URL"] = working
    jobs.init_app(app)  # and back: the sweep sends it
    with app.app_context():
        emails.send_due_subscription_emails.call_local()
    [message] = wait_for_messages(app, address)
    assert message["Subject"] == "Confirm your subscription to Tidings"
    row = subscriber(app, address)
    assert (row.email_due, row.email_attempts) == (False, 1)
    emails.send_subscription_email.call_local(row.id)  # a late duplicate job: no email
    assert len(messages_to(app, address)) == 1


def test_a_deferred_confirmation_waits_its_turn_then_goes(make_app):
    with scripted_smtp({"RCPT": "451 4.7.1 greylisted, try again later"}) as smtp:
        app = make_app(**smtp)
        address = unique_address("greylisted")
        assert app.test_client().post(API, json={"email": address}).status_code == 202
        row = subscriber(app, address)
        emails.send_subscription_email.call_local(row.id)
        with app.app_context():
            emails.send_due_subscription_emails.call_local()  # not due yet: nothing tried
    row = subscriber(app, address)
    assert (row.email_due, row.email_attempts) == (True, 1)
    assert row.email_retry_at is not None
    assert timedelta(seconds=50) < row.email_retry_at - datetime.now(UTC) <= timedelta(minutes=1)
    app.config.update(SMTP_HOST=os.environ["SMTP_HOST"], SMTP_PORT=int(os.environ["SMTP_PORT"]))
    with app.app_context():
        session().execute(update(Subscriber).values(email_retry_at=func.now()))
        session().commit()
        emails.send_due_subscription_emails.call_local()
    assert len(wait_for_messages(app, address)) == 1
    row = subscriber(app, address)
    assert (row.email_due, row.email_attempts) == (False, 2)


def test_a_refused_confirmation_is_given_up_at_once(make_app, caplog):
    with scripted_smtp({"RCPT": "550 5.1.1 no such mailbox"}) as smtp:
        app = make_app(**smtp)
        address = unique_address("nobody")
        app.test_client().post(API, json={"email": address})
        emails.send_subscription_email.call_local(subscriber(app, address).id)
    assert (subscriber(app, address).email_due, subscriber(app, address).email_attempts) == (
        False,
        1,
    )
    assert "email refused, 550 5.1.1 no such mailbox" in caplog.text


def test_the_sweep_gives_up_an_old_email_and_leaves_the_others_as_they_were(make_app):
    app = make_app(SMTP_PORT="1")  # the mail server is down
    old, recent = unique_address("old"), unique_address("recent")
    client = app.test_client()
    for address in (old, recent):
        assert client.post(API, json={"email": address}).status_code == 202
    with app.app_context():
        asked = func.now() - RETRY_FOR - timedelta(minutes=1)
        session().execute(
            update(Subscriber).where(Subscriber.email == old).values(last_emailed_at=asked)
        )
        session().commit()
        before = subscriber(app, recent).last_emailed_at
        for _ in range(3):
            emails.send_due_subscription_emails.call_local()
    assert subscriber(app, old).email_due is False
    assert subscriber(app, recent).email_due is True
    assert subscriber(app, recent).last_emailed_at == before  # its give-up is not postponed
    assert subscriber(app, recent).email_attempts == 0  # and nobody was charged for the outage


def test_a_link_from_an_earlier_subscription_does_not_act_on_a_later_one(app, client, monkeypatch):
    row = add_subscriber(app, "again@example.org", SubscriberStatus.PENDING)
    an_hour_ago = time.time() - 3600
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: an_hour_ago)
    with app.app_context():
        old_confirm = make_token(Purpose.CONFIRM, row)
        old_unsubscribe = make_token(Purpose.UNSUBSCRIBE, row)
    monkeypatch.undo()
    with app.app_context():
        earlier = func.now() - timedelta(hours=2)
        session().execute(update(Subscriber).values(subscribed_at=earlier))
        session().commit()
    assert client.post(f"/unsubscribe/{old_unsubscribe}").status_code == 200
    # The address subscribes again: the links of the first subscription are spent.
    assert client.post(API, json={"email": "again@example.org"}).status_code == 202
    assert subscriber(app, "again@example.org").status is SubscriberStatus.PENDING
    for old_link in (f"/confirm/{old_confirm}", f"/unsubscribe/{old_unsubscribe}"):
        assert client.post(old_link).status_code == 400
    assert subscriber(app, "again@example.org").status is SubscriberStatus.PENDING
    with app.app_context():
        new_confirm = make_token(Purpose.CONFIRM, subscriber(app, "again@example.org"))
    assert client.post(f"/confirm/{new_confirm}").status_code == 200
    assert subscriber(app, "again@example.org").status is SubscriberStatus.CONFIRMED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": None}, "email"),
        ({"email": 42}, "email"),
        ({"email": ["a@example.org"]}, "email"),
        ({"email": "not an address"}, "email"),
        ({"email": "x" * 5000 + "@example.org"}, "email"),
        ({"email": "' OR 1=1 --@example.org"}, "email"),
        ({"email": "<b>@example.org"}, "email"),
    ],
)
def test_invalid_json_subscriptions_are_422_naming_the_field(app, client, body, field):
    response = client.post(API, json=body)
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert response.get_json()["error"]
    assert queued(app) == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"email": ', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("email=a@example.org", "application/x-www-form-urlencoded", 415),
        ("a@example.org", "text/plain", 415),
        ('{"email": "' + "a" * MAX_REQUEST_BYTES + '"}', "application/json", 413),
        ("[" * 20_000, "application/json", 400),
    ],
)
def test_malformed_or_oversized_bodies_get_a_clear_4xx(client, data, content_type, status):
    response = client.post(API, data=data, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]


def test_subscriptions_are_rate_limited_per_client(make_app):
    client = make_app(SUBSCRIBE_RATE_LIMIT="2").test_client()
    answers = [
        client.post(API, json={"email": "x"}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
        for _ in range(3)
    ]
    assert [answer.status_code for answer in answers] == [422, 422, 429]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert "Too many requests" in answers[2].get_json()["error"]
    other = client.post(API, json={"email": "x"}, environ_base={"REMOTE_ADDR": "192.0.2.8"})
    assert other.status_code == 422


@pytest.mark.parametrize(("proxies", "limited"), [("0", True), ("1", False)])
def test_behind_trusted_proxies_the_limit_is_per_forwarded_client(make_app, proxies, limited):
    client = make_app(SUBSCRIBE_RATE_LIMIT="1", TRUSTED_PROXIES=proxies).test_client()
    answers = [
        client.post(
            API,
            json={"email": "x"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy
            headers={"X-Forwarded-For": f"192.0.2.{client_number}"},
        ).status_code
        for client_number in (1, 2)
    ]
    # Without TRUSTED_PROXIES the header is ignored: anyone could send it.
    assert answers == ([422, 429] if limited else [422, 422])


def test_subscribe_form_accepts_an_address(app, client):
    response = client.post("/subscribe", data={"email": "form@example.org"})
    assert response.status_code == 202
    assert b"Check your inbox" in response.data
    assert subscriber(app, "form@example.org").status is SubscriberStatus.PENDING


def test_subscribe_form_shows_the_error_escaped(client):
    response = client.post("/subscribe", data={"email": "<script>x</script>"})
    assert response.status_code == 422
    assert b"&lt;script&gt;x&lt;/script&gt;" in response.data
    assert b"<script>x" not in response.data
    assert b"An email address looks like" in response.data


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://localhost"}, 403),
        ({"Origin": "http://localhost:8080"}, 403),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, 202),
        ({"Origin": "http://localhost"}, 202),
        ({}, 202),
    ],
)
def test_the_form_is_accepted_from_this_site_only(client, headers, status):
    response = client.post("/subscribe", data={"email": "form@example.org"}, headers=headers)
    assert response.status_code == status


def test_subscribe_form_refuses_json(client):
    assert client.post("/subscribe", json={"email": "a@example.org"}).status_code == 415


def test_confirmation_link_asks_then_its_button_confirms(app, client):
    row = add_subscriber(app, "confirm@example.org", SubscriberStatus.PENDING)
    with app.app_context():
        token = make_token(Purpose.CONFIRM, row)
    # A mail scanner fetching the link confirms nothing.
    page = client.get(f"/confirm/{token}")
    assert page.status_code == 200
    assert b'<form method="post"><button type="submit">Confirm</button></form>' in page.data
    assert subscriber(app, "confirm@example.org").status is SubscriberStatus.PENDING
    response = client.post(f"/confirm/{token}")
    assert response.status_code == 200
    assert b"your subscription is confirmed" in response.data
    stored = subscriber(app, "confirm@example.org")
    assert stored.status is SubscriberStatus.CONFIRMED
    assert stored.confirmed_at is not None


def test_unsubscribe_link_asks_then_one_click_works_once_and_again(app, client):
    row = add_subscriber(app, "leave@example.org", SubscriberStatus.CONFIRMED)
    with app.app_context():
        token = make_token(Purpose.UNSUBSCRIBE, row)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert b'<button type="submit">Unsubscribe</button>' in page.data
    assert subscriber(app, "leave@example.org").status is SubscriberStatus.CONFIRMED
    # As a List-Unsubscribe-Post client sends it (RFC 8058), then once more.
    one_click = {"List-Unsubscribe": "One-Click"}
    assert client.post(f"/unsubscribe/{token}", data=one_click).status_code == 200
    assert subscriber(app, "leave@example.org").status is SubscriberStatus.UNSUBSCRIBED
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    assert subscriber(app, "leave@example.org").status is SubscriberStatus.UNSUBSCRIBED


def test_tokens_are_bound_to_their_purpose_and_address(app, client):
    row = add_subscriber(app, "bound@example.org", SubscriberStatus.PENDING)
    with app.app_context():
        confirm_token = make_token(Purpose.CONFIRM, row)
        session().execute(update(Subscriber).values(email="moved@example.org"))
        session().commit()
    for method in (client.get, client.post):
        assert method(f"/unsubscribe/{confirm_token}").status_code == 400
        assert method(f"/confirm/{confirm_token}").status_code == 400
    assert subscriber(app, "moved@example.org").status is SubscriberStatus.PENDING


def test_a_confirmation_link_does_not_bring_back_who_unsubscribed_since(app, client):
    row = add_subscriber(app, "gone@example.org", SubscriberStatus.CONFIRMED)
    with app.app_context():
        confirm_token = make_token(Purpose.CONFIRM, row)
        unsubscribe_token = make_token(Purpose.UNSUBSCRIBE, row)
    assert client.post(f"/unsubscribe/{unsubscribe_token}").status_code == 200
    for method in (client.get, client.post):
        assert method(f"/confirm/{confirm_token}").status_code == 400
    assert subscriber(app, "gone@example.org").status is SubscriberStatus.UNSUBSCRIBED


def test_tokens_carry_no_address(app):
    row = add_subscriber(app, "private.reader@example.org", SubscriberStatus.PENDING)
    with app.app_context():
        token = make_token(Purpose.UNSUBSCRIBE, row)
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"private.reader" not in decoded
    assert b"example.org" not in decoded


def test_links_signed_before_a_key_rotation_keep_working(app, client):
    row = add_subscriber(app, "loyal@example.org", SubscriberStatus.CONFIRMED)
    with app.app_context():
        token = make_token(Purpose.UNSUBSCRIBE, row)
    old_key = app.config["SECRET_KEY"]
    app.config.update(SECRET_KEY="r" * 40, SECRET_KEY_FALLBACKS=(old_key,))
    assert client.get(f"/unsubscribe/{token}").status_code == 200
    app.config.update(SECRET_KEY_FALLBACKS=())
    assert client.get(f"/unsubscribe/{token}").status_code == 400


def test_links_sent_when_tokens_carried_the_address_still_work(app, client):
    row = add_subscriber(app, "early@example.org", SubscriberStatus.CONFIRMED)
    with app.app_context():
        serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="tidings.unsubscribe")
        token = serializer.dumps({"id": row.id, "email": "early@example.org"})
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    assert subscriber(app, "early@example.org").status is SubscriberStatus.UNSUBSCRIBED


def test_expired_token_is_a_clear_400(app, client, monkeypatch):
    row = add_subscriber(app, "late@example.org", SubscriberStatus.PENDING)
    with app.app_context():
        token = make_token(Purpose.CONFIRM, row)
    future = time.time() + Purpose.CONFIRM.value + 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: future)
    response = client.get(f"/confirm/{token}", headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert b"This link does not work" in response.data


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 500])
def test_forged_tokens_are_a_clear_400(client, token):
    response = client.get(f"/confirm/{token}")
    assert response.status_code == 400
    assert b"This link does not work" in response.data
