"""The app factory and the entry points built on it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app import CONFIGURATION_ERROR, create_app, create_app_or_exit


def test_factory_applies_overrides_and_binds_clients(app):
    assert app.config["TESTING"] is True
    assert app.config["DATABASE_URL"].endswith("_test")
    assert {"db", "cache", "huey"} <= set(app.extensions)


def test_factory_refuses_invalid_configuration(isolated):
    with pytest.raises(Exception, match="SMTP_PORT: must be a whole number"):
        create_app({**isolated, "SMTP_PORT": "smtp"})


def test_entry_points_exit_with_the_variable_name_not_a_traceback(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(SystemExit) as raised:
        create_app_or_exit()
    assert raised.value.code == CONFIGURATION_ERROR
    assert "DATABASE_URL: is required but not set" in capsys.readouterr().err


def test_home_page_renders(client):
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert b"self-hosted newsletter" in response.data


def test_unknown_page_is_a_page_for_browsers(client):
    response = client.get("/nowhere", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"404 Not Found" in response.data


def test_unknown_api_route_is_json(client):
    response = client.get("/api/nowhere", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("The requested URL was not found")


def test_wrong_method_is_json_for_programs(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert "error" in response.get_json()


@pytest.mark.parametrize(("app_env", "debugger"), [("development", True), ("test", False)])
def test_flask_debug_brings_the_debugger_in_development_only(isolated, app_env, debugger):
    code = "import app.wsgi; print(type(app.wsgi.app.wsgi_app).__name__)"
    env = {**os.environ, **isolated, "APP_ENV": app_env, "FLASK_DEBUG": "1"}
    result = subprocess.run(  # noqa: S603  # a fixed command
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert (result.stdout.strip() == "DebuggedApplication") is debugger


def test_pages_carry_the_security_headers(client):
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
