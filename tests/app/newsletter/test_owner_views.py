"""The owner's pages for issues: write in Markdown, preview, test, publish, watch."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.database import session
from app.newsletter.models import Issue, IssueStatus
from app.subscriptions.models import SubscriberStatus
from devtools.testdb import OWNER_PASSWORD
from tests.app.support import add_subscribers


def signed_in(client):
    client.post("/admin/sign-in", data={"password": OWNER_PASSWORD})
    page = client.get("/admin/issues/new").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token
    return token[1]


def write(client, token: str, subject: str, body: str):
    return client.post(
        "/admin/issues", data={"subject": subject, "body": body, "form_token": token}
    )


def test_a_draft_in_markdown_is_previewed_as_readers_will_get_it(app, client):
    token = signed_in(client)
    body = "# News\n\nSome *emphasis* and a [link](https://example.org).\n\n<script>x()</script>"
    response = write(client, token, "Issue one", body)
    assert response.status_code == 302
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<h1>News</h1>" in preview
    assert "<em>emphasis</em>" in preview
    assert '<a href="https://example.org" rel="noopener nofollow">link</a>' in preview
    assert "<script>x()" not in preview
    assert "&lt;script&gt;x()&lt;/script&gt;" in preview  # the plain text, as written


def test_an_invalid_draft_shows_the_form_again_with_the_error(client):
    token = signed_in(client)
    response = write(client, token, "Two\nlines", "body")
    assert response.status_code == 422
    assert b"subject must be a single line." in response.data
    assert b"body</textarea>" in response.data  # what was typed stays


def test_a_draft_can_be_edited_and_a_published_issue_cannot(app, client):
    token = signed_in(client)
    location = write(client, token, "Before", "text").headers["Location"]
    edit = {"subject": "After", "body": "new text", "form_token": token}
    assert client.post(f"{location}/edit", data=edit).status_code == 302
    with app.app_context():
        issue = session().scalars(select(Issue)).one()
        assert (issue.subject, issue.body) == ("After", "new text")
    client.post(f"{location}/publish", data={"form_token": token})
    assert client.get(f"{location}/edit").status_code == 409
    assert client.post(f"{location}/edit", data=edit).status_code == 409


def test_publishing_says_how_many_readers_first_then_shows_the_progress(app, client):
    add_subscribers(app, ann=SubscriberStatus.CONFIRMED, bob=SubscriberStatus.CONFIRMED)
    add_subscribers(app, cid=SubscriberStatus.PENDING)
    token = signed_in(client)
    location = write(client, token, "To two", "Hello").headers["Location"]
    ask = client.get(f"{location}/publish").get_data(as_text=True)
    assert "<strong>2</strong> confirmed readers" in ask
    with app.app_context():
        assert session().scalars(select(Issue)).one().status is IssueStatus.DRAFT
    response = client.post(f"{location}/publish", data={"form_token": token})
    assert response.headers["Location"] == f"{location}/progress"
    progress = client.get(f"{location}/progress").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="5">' in progress  # until it is done
    assert "readers are still being added" in progress
    queued = [task.name for task in app.extensions["huey"].pending()]
    assert queued == ["fan_out"]


def test_a_test_goes_to_the_owner(app, client):
    token = signed_in(client)
    location = write(client, token, "Try me", "Hello").headers["Location"]
    response = client.post(f"{location}/test", data={"form_token": token})
    assert response.headers["Location"] == f"{location}?tested=1"
    assert "A test is on its way to owner@tidings.test" in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    [task] = app.extensions["huey"].pending()
    assert (task.name, task.args[1]) == ("send_test", "owner@tidings.test")


def test_the_issues_list_shows_each_ones_status(client):
    token = signed_in(client)
    write(client, token, "A draft", "text")
    page = client.get("/admin/").get_data(as_text=True)
    assert "A draft" in page
    assert "<td>draft</td>" in page
