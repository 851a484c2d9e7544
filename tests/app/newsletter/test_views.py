"""Issues: the admin API and the cached public archive."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.database import session
from app.newsletter.models import MAX_BODY_LENGTH, Delivery
from app.settings import MAX_REQUEST_BYTES
from app.subscriptions.models import Subscriber, SubscriberStatus
from devtools.testdb import ADMIN
from tests.app.support import add_subscribers, create_issue, publish_and_fan_out


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
    assert shown["fanned_out"] is False
    assert shown["deliveries"] == {"pending": 0, "deferred": 0, "sent": 0, "failed": 0}
    assert shown["errors"] == []


def test_issues_are_listed_newest_first_with_their_delivery_counts(app, client):
    add_subscribers(app, ivy=SubscriberStatus.CONFIRMED, jon=SubscriberStatus.CONFIRMED)
    published = create_issue(client, subject="Published")
    draft = create_issue(client, subject="Draft")
    publish_and_fan_out(client, published)
    response = client.get("/api/issues", headers=ADMIN)
    assert response.status_code == 200
    listed = [
        (issue["id"], issue["subject"], issue["status"], issue["deliveries"])
        for issue in response.get_json()["issues"]
    ]
    none = {"pending": 0, "deferred": 0, "sent": 0, "failed": 0}
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
    assert cache.get("page:index") is not None
    issue_id = create_issue(client, subject="Fresh issue")
    assert "Fresh issue" not in client.get("/").get_data(as_text=True)
    client.post(f"/api/issues/{issue_id}/publish", headers=ADMIN)
    assert "Fresh issue" in client.get("/").get_data(as_text=True)


def test_in_development_no_page_is_cached_so_no_edit_is_hidden(make_app):
    app = make_app(APP_ENV="development", PAGE_CACHE_SECONDS="300")
    assert app.test_client().get("/").status_code == 200
    assert app.extensions["cache"].get("page:index") is None


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
        assert session().scalar(select(func.count()).select_from(Delivery)) == 0
    # The worker writes the deliveries of the two published issues.
    assert [task.name for task in app.extensions["huey"].pending()] == ["fan_out"] * 2
    assert "Welcome to Tidings" in client.get("/").get_data(as_text=True)


def test_the_public_pages_have_a_description_an_icon_and_a_robots_txt(client):
    page = client.get("/").get_data(as_text=True)
    assert '<meta name="description" content="Tidings: a small' in page
    assert 'rel="icon" href="/static/favicon.svg"' in page
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200
    robots = client.get("/robots.txt")
    assert robots.mimetype == "text/plain"
    assert "Disallow: /unsubscribe/" in robots.get_data(as_text=True)
