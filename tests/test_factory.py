"""The app factory and the entry points built on it."""

from __future__ import annotations

import pytest

from app import create_app, create_app_or_exit


def test_factory_applies_overrides_and_binds_clients(app):
    assert app.config["TESTING"] is True
    assert app.config["DATABASE_URL"].endswith("_test")
    assert {"db", "cache", "huey"} <= set(app.extensions)


def test_factory_refuses_invalid_configuration(test_env):
    with pytest.raises(Exception, match="SMTP_PORT: must be a whole number"):
        create_app({**test_env, "SMTP_PORT": "smtp"})


def test_entry_points_exit_with_the_variable_name_not_a_traceback(monkeypatch):
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(SystemExit) as raised:
        create_app_or_exit()
    assert "DATABASE_URL: is required but not set" in str(raised.value.code)


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
