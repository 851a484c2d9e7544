"""Liveness, readiness, and the container probes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import InterfaceError

from app import create_app, probe
from devtools.testdb import ADMIN

# A port nothing listens on: the dependency is "down".
DOWN = {
    "db": ("DATABASE_URL", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none"),
    "cache": ("CACHE_URL", "redis://127.0.0.1:1/0"),
    "broker": ("BROKER_URL", "redis://127.0.0.1:1/0"),
}


def test_healthz_is_ok_without_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_every_dependency(client):
    response = client.get("/readyz")
    assert response.get_json() == {
        "status": "ok",
        "checks": {"db": "ok", "cache": "ok", "broker": "ok"},
    }
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("dependency", "status", "state"),
    [("db", 503, "unavailable"), ("cache", 200, "degraded"), ("broker", 200, "degraded")],
)
def test_readyz_names_the_dependency_that_is_down(isolated, dependency, status, state):
    variable, url = DOWN[dependency]
    # Built directly: the shared fixtures would need the database this may point nowhere.
    app = create_app({**isolated, variable: url})
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == status
    assert body["status"] == state
    assert body["checks"][dependency] == "unavailable"
    assert [name for name, result in body["checks"].items() if result != "ok"] == [dependency]
    assert "Traceback" not in response.get_data(as_text=True)
    app.extensions["db"].engine.dispose()


def test_worker_probe_passes_while_the_heartbeat_is_recent(monkeypatch, tmp_path):
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    monkeypatch.setattr(probe, "HEARTBEAT_FILE", str(heartbeat))
    assert probe.main(["worker"]) == 0


def test_worker_probe_fails_when_the_heartbeat_stopped(monkeypatch, tmp_path, capsys):
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    stale = time.time() - probe.HEARTBEAT_SECONDS * probe.HEARTBEAT_GRACE - 1
    os.utime(heartbeat, (stale, stale))
    monkeypatch.setattr(probe, "HEARTBEAT_FILE", str(heartbeat))
    assert probe.main(["worker"]) == 1
    assert "last heartbeat was" in capsys.readouterr().err


def test_worker_probe_fails_before_the_consumer_started(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(probe, "HEARTBEAT_FILE", str(tmp_path / "never-written"))
    assert probe.main(["worker"]) == 1
    assert "has not started" in capsys.readouterr().err


def test_a_running_consumer_beats(start_worker):
    before = time.time()
    start_worker()
    deadline = time.monotonic() + 20
    while not heartbeat_since(before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert heartbeat_since(before)
    assert probe.main(["worker"]) == 0


def heartbeat_since(moment: float) -> bool:
    with contextlib.suppress(FileNotFoundError):
        return Path(probe.HEARTBEAT_FILE).stat().st_mtime >= moment
    return False


def test_web_probe_fails_when_nothing_listens(monkeypatch, capsys):
    monkeypatch.setattr(probe, "WEB_ADDRESS", ("127.0.0.1", 1))
    assert probe.main(["web"]) == 1
    assert "Connection refused" in capsys.readouterr().err


def test_probe_imports_neither_the_app_nor_its_libraries():
    # The healthcheck runs every few seconds in every container: it must stay cheap.
    code = "import runpy, sys; runpy.run_path('app/probe.py'); print(sorted(sys.modules))"
    result = subprocess.run(  # noqa: S603  # a fixed command
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    for heavy in ("'app'", "'flask'", "'sqlalchemy'", "'redis'", "'huey'"):
        assert heavy not in result.stdout


def test_probe_rejects_an_unknown_name(capsys):
    assert probe.main(["db"]) == 2
    assert "usage" in capsys.readouterr().err


def test_the_auto_probe_checks_a_worker_where_a_consumer_beats(monkeypatch, tmp_path, capsys):
    heartbeat = tmp_path / "heartbeat"
    monkeypatch.setattr(probe, "HEARTBEAT_FILE", str(heartbeat))
    monkeypatch.setattr(probe, "WEB_ADDRESS", ("127.0.0.1", 1))
    assert probe.main(["auto"]) == 1  # no beat: a web server, and none answers
    assert "Connection refused" in capsys.readouterr().err
    heartbeat.touch()
    assert probe.main(["auto"]) == 0  # a worker, beating


@pytest.mark.parametrize("path", ["/", "/issues/1", "/api/issues"])
def test_pages_answer_503_while_the_database_is_down(isolated, path):
    app = create_app({**isolated, "DATABASE_URL": DOWN["db"][1], "PAGE_CACHE_SECONDS": "0"})
    response = app.test_client().get(path, headers={**ADMIN, "Accept": "text/html"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Traceback" not in response.get_data(as_text=True)
    app.extensions["db"].engine.dispose()


def test_a_connection_closed_under_a_request_is_a_503_too(client, monkeypatch):
    def closed(*args, **kwargs):
        raise InterfaceError("SELECT", {}, Exception("the connection is closed"))

    monkeypatch.setattr("sqlalchemy.orm.Session.execute", closed)
    response = client.get("/api/issues", headers=ADMIN)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
