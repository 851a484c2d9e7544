"""A reader and the owner, in a real browser: subscribe, confirm, write, preview, publish,
receive, unsubscribe, export; every page checked by axe-core for accessibility."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from devtools.testdb import OWNER_PASSWORD
from tests.app.support import unique_address
from tests.e2e.conftest import path_of, wait_for_email

AXE = Axe()
# pytest-base-url (which pytest-playwright brings) still declares its session fixture in a
# way pytest 9 deprecates; nothing here depends on it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Session-scoped fixtures defined as instance methods:pytest.PytestRemovedIn10Warning"
)


def accessible(page: Page) -> None:
    """axe-core finds no violation on the page as it is now."""
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()


def sign_in(page: Page, site: str) -> None:
    page.goto(f"{site}/admin/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    accessible(page)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Issues")).to_be_visible()


def test_a_reader_and_the_owner_from_subscription_to_export(page: Page, site: str, live_app: Flask):
    reader = unique_address("browser")

    # The reader subscribes through the form, and confirms from the email's link.
    page.goto(site)
    accessible(page)
    page.get_by_label("Get each issue by email").fill(reader)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    accessible(page)
    confirmation = wait_for_email(live_app, reader, "Confirm your subscription")
    link = re.search(r"https?://\S+/confirm/\S+", confirmation["Text"])
    assert link
    page.goto(path_of(link[0], site))
    accessible(page)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Subscribed")).to_be_visible()
    accessible(page)

    # The owner writes an issue in Markdown, previews it, publishes it, watches it go.
    sign_in(page, site)
    accessible(page)
    page.get_by_role("link", name="Write an issue").click()
    accessible(page)
    page.get_by_label("Subject").fill("Tidings in a browser")
    page.get_by_label("Body, in Markdown").fill("## First\n\nWith *emphasis*.")
    page.get_by_role("button", name="Save and preview").click()
    page.get_by_role("link", name="Edit").click()
    accessible(page)
    page.get_by_label("Subject").fill("Tidings in a browser")
    page.get_by_role("button", name="Save and preview").click()
    expect(page.locator("article.preview h2")).to_have_text("First")
    expect(page.locator("article.preview em")).to_have_text("emphasis")
    accessible(page)
    page.get_by_role("link", name="Publish…").click()
    expect(page.get_by_text("It goes to 1 confirmed reader")).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Publish to 1 reader").click()
    expect(page.get_by_role("status")).to_contain_text("Done.", timeout=60_000)
    expect(page.locator("#sent")).to_have_text("1")
    accessible(page)

    # The reader receives it, and unsubscribes with its link.
    issue = wait_for_email(live_app, reader, "Tidings in a browser")
    assert "<em>emphasis</em>" in issue["HTML"]
    page.goto(path_of(issue["ListUnsubscribe"]["Links"][0], site))
    accessible(page)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="Unsubscribed")).to_be_visible()
    accessible(page)

    # The owner finds the reader, and exports the subscribers.
    page.goto(f"{site}/admin/subscribers")
    accessible(page)
    page.get_by_label("Addresses starting with").fill(reader)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("cell", name=reader, exact=True)).to_be_visible()
    page.get_by_role("link", name=f"Erase {reader}").click()
    expect(page.get_by_role("heading", name=f"Erase {reader}?")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Keep them").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export all as CSV").click()
    exported = download.value.path().read_text()
    assert f"{reader},unsubscribed," in exported
    page.get_by_role("link", name="Import a CSV").click()
    accessible(page)
    page.get_by_label("A CSV file").set_input_files(
        files=[{"name": "readers.csv", "mimeType": "text/csv", "buffer": b"not an address\n"}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("1 rejected")
    accessible(page)
    page.goto(f"{site}/issues/999999")
    expect(page.get_by_role("heading", name="404 Not Found")).to_be_visible()
    accessible(page)
