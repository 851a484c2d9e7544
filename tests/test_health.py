"""Liveness, readiness, and the container probes."""

from __future__ import annotations

import pytest

from app import create_app, probe

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


@pytest.mark.parametrize("dependency", sorted(DOWN))
def test_readyz_names_the_dependency_that_is_down(test_env, dependency):
    variable, url = DOWN[dependency]
    # Built directly: the shared fixtures would need the database this may point nowhere.
    app = create_app({**test_env, variable: url})
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"][dependency] == "unavailable"
    assert [name for name, result in body["checks"].items() if result != "ok"] == [dependency]
    assert "Traceback" not in response.get_data(as_text=True)
    app.extensions["db"].engine.dispose()


def test_worker_probe_passes_when_the_broker_answers():
    assert probe.main(["worker"]) == 0


def test_worker_probe_fails_when_the_broker_is_down(monkeypatch, capsys):
    monkeypatch.setenv("BROKER_URL", DOWN["broker"][1])
    assert probe.main(["worker"]) == 1
    assert "worker unhealthy" in capsys.readouterr().err


def test_probe_rejects_an_unknown_name(capsys):
    assert probe.main(["db"]) == 2
    assert "usage" in capsys.readouterr().err
