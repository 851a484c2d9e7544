"""The browser suite's fixtures: the app served on localhost with a real worker beside it,
Debian's Chromium for Playwright, and, for a failing test, its screenshot and its page's
HTML in e2e-artifacts/.

The database, settings and worker fixtures are the app tests' own.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.app.conftest import database, isolated, live_app, start_worker  # noqa: F401  # fixtures
from tests.app.support import mailpit_get

ARTIFACTS = Path(__file__).resolve().parents[2] / "e2e-artifacts"
WAIT_SECONDS = 60


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium (no browser can be downloaded here), with nothing phoning home."""
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    return {**browser_type_launch_args, "executable_path": os.environ["CHROMIUM"], "args": flags}


@pytest.fixture
def site(live_app: Flask, start_worker) -> Iterator[str]:  # noqa: F811  # the fixture
    """The app, served on localhost (a secure context: the owner's cookie is Secure), and a
    worker for its jobs; the base URL."""
    server = make_server("localhost", 0, live_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start_worker()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()


def wait_for_email(app: Flask, to: str, subject: str) -> dict[str, Any]:
    """The first message to `to` whose subject contains `subject`, once it has arrived."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        query = f"/api/v1/search?query=to:{to}&limit=0"
        for summary in mailpit_get(app, query)["messages"]:
            if subject in summary["Subject"]:
                message: dict[str, Any] = mailpit_get(app, f"/api/v1/message/{summary['ID']}")
                return message
        time.sleep(0.5)
    raise AssertionError(f"no email {subject!r} to {to} within {WAIT_SECONDS} s")


def path_of(link: str, base: str) -> str:
    """A link from an email (under PUBLIC_URL), on the served site instead."""
    return base + re.sub(r"^https?://[^/]+", "", link)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """For a test that failed in its body: its page's screenshot and HTML, kept."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = ARTIFACTS / re.sub(r"\W+", "-", item.name)
        page.screenshot(path=f"{stem}.png", full_page=True)
        Path(f"{stem}.html").write_text(page.content())
        report.sections.append(("e2e artifacts", f"{stem}.png, {stem}.html ({page.url})"))
    return report
