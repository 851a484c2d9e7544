"""The production definitions bound every container and keep the stores to the app alone:
compose.prod.yml (over docker-compose.yml), deploy/swarm.yml and deploy/kubernetes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STORES = ("db", "cache", "broker")


class ComposeLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML is untyped here
    """YAML as Compose reads it: its tags (!reset, !override) change merging, not values."""


ComposeLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)
    ),
)


def services(name: str) -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = yaml.load((ROOT / name).read_text(), ComposeLoader)  # noqa: S506  # a SafeLoader
    return loaded["services"]


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / name).read_text(), ComposeLoader)  # noqa: S506
    return loaded


PRODUCTION = {
    "compose.prod.yml": services("compose.prod.yml"),
    "deploy/swarm.yml": services("deploy/swarm.yml"),
}


@pytest.mark.parametrize("name", PRODUCTION)
def test_every_production_container_has_a_memory_cpu_and_process_limit(name):
    # compose.prod.yml runs docker-compose.yml's services too.
    names = PRODUCTION[name].keys() | (
        services("docker-compose.yml").keys() if name == "compose.prod.yml" else set()
    )
    for service in names:
        limits = PRODUCTION[name].get(service, {}).get("deploy", {}).get("resources", {})
        assert {"cpus", "memory", "pids"} <= limits.get("limits", {}).keys(), (name, service)


def test_in_development_the_stores_are_on_an_internal_network_with_the_app():
    compose = document("docker-compose.yml")
    assert compose["networks"]["stores"] == {"internal": True}
    development = compose["services"]
    assert development["cache"]["networks"] == development["broker"]["networks"] == ["stores"]
    for service in ("web", "worker", "db"):
        assert "stores" in development[service]["networks"], service


def test_in_production_nothing_but_the_app_reaches_the_stores():
    assert PRODUCTION["compose.prod.yml"]["db"]["networks"] == ["stores"]
    swarm = document("deploy/swarm.yml")
    assert swarm["networks"]["stores"]["internal"] is True
    assert not any(network.get("attachable") for network in swarm["networks"].values())
    for service, definition in swarm["services"].items():
        on_stores = "stores" in definition.get("networks", [])
        assert on_stores == (service in {*STORES, "web", "worker", "migrate"}), service
        if service in STORES:
            assert definition["networks"] == ["stores"], service


def test_the_broker_is_bounded_and_evicts_no_job():
    for command in (
        services("docker-compose.yml")["broker"]["command"],
        services("deploy/swarm.yml")["broker"]["command"],
    ):
        assert command[command.index("--maxmemory") + 1].startswith("${BROKER_MAXMEMORY"), command
        assert command[command.index("--maxmemory-policy") + 1] == "noeviction", command


def test_the_stores_require_a_password_everywhere():
    development = services("docker-compose.yml")
    swarm = services("deploy/swarm.yml")
    for redis in ("cache", "broker"):
        assert "--requirepass" in development[redis]["command"], redis
        assert "--requirepass" in " ".join(swarm[redis]["entrypoint"]), redis
    assert "CACHE_URL_FILE" in swarm["web"]["environment"]
    assert "BROKER_URL_FILE" in swarm["web"]["environment"]
