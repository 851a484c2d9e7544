"""devtools/parity.py on definitions made up for the test: a difference without a reason is
named, a credential is never shown. tests/stack/test_parity.py runs it on the real ones."""

from __future__ import annotations

from devtools.parity import INTENDED, Service, compare, credentials_in, from_compose, scrub

SECRET = "an-actual-password-123"


def redis(*command: str, **environment: str) -> dict[str, object]:
    return {"image": "redis:8", "command": list(command), "environment": environment}


def test_a_difference_with_no_reason_is_named_and_one_with_a_reason_carries_it():
    source = {"web": Service({"memory limit": "384M", "replicas": "1"})}
    target = {"web": Service({"memory limit": "512M", "replicas": "2"})}
    found = {d.property: d for d in compare("swarm", source, target)}
    assert found["memory limit"].reason is None
    assert (found["memory limit"].source, found["memory limit"].target) == ("384M", "512M")
    assert found["replicas"].reason == INTENDED[("swarm", "*", "replicas")]


def test_a_service_only_one_side_has_is_a_difference():
    [only] = compare("swarm", {"web": Service({})}, {"web": Service({}), "extra": Service({})})
    assert (only.service, only.property, only.reason) == ("extra", "service", None)


def test_a_credential_is_shown_as_such_and_scrubbed_wherever_it_appears():
    config = {
        "services": {
            "cache": redis("redis-server", "--requirepass", SECRET, REDISCLI_AUTH=SECRET),
            "web": {
                "image": "x",
                "environment": {"CACHE_URL": f"redis://:{SECRET}@cache:6379/0", "LOG_LEVEL": ""},
            },
        }
    }
    services = from_compose(config)
    assert services["cache"].properties["env REDISCLI_AUTH"] == "(a credential)"
    assert services["web"].properties["env CACHE_URL"] == "(a credential)"
    assert services["web"].properties["env LOG_LEVEL"] == "INFO"  # empty: the app's default
    process = services["cache"].properties["process"]
    assert scrub(process, credentials_in({"production": config})) == (
        "redis-server --requirepass ***"
    )
