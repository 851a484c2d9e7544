"""The Kubernetes base (deploy/kubernetes) is valid against the Kubernetes schemas, offline,
and runs Tidings as the production stack does. No cluster runs it here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.settings import declarations

BASE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# The oldest Kubernetes release still supported upstream when this was written.
KUBERNETES = "1.33.0"


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    """Every object the kustomization lists, as written."""
    return [
        document
        for name in kustomization()["resources"]
        for document in yaml.safe_load_all((BASE / name).read_text())
    ]


def pod_specs() -> dict[str, dict[str, Any]]:
    """Each workload's pod spec, by the object's name."""
    return {
        r["metadata"]["name"]: r["spec"]["template"]["spec"]
        for r in resources()
        if r["kind"] in ("Deployment", "Job")
    }


def env_keys(name: str) -> set[str]:
    return set(re.findall(r"^([A-Z_]+)=", (BASE / name).read_text(), re.M))


@pytest.mark.parametrize(
    "resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}"
)
def test_each_object_is_valid_for_kubernetes(resource):
    kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def test_web_worker_and_migrations_are_all_there():
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources()}
    assert {
        ("Deployment", "tidings-web"),
        ("Deployment", "tidings-worker"),
        ("Job", "tidings-migrate"),
        ("Service", "tidings-web"),
        ("HorizontalPodAutoscaler", "tidings-worker"),
    } <= kinds


def test_every_pod_runs_as_non_root_read_only_without_capabilities_and_asks_for_resources():
    for name, pod in pod_specs().items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name


def test_web_is_probed_on_healthz_and_readyz():
    [web] = pod_specs()["tidings-web"]["containers"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_worker_autoscales_its_own_deployment():
    [hpa] = [r for r in resources() if r["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tidings-worker"


def test_config_and_secret_give_every_required_setting_and_nothing_unknown():
    config, secret = env_keys("config.env"), env_keys("secrets.env.example")
    settings = declarations()
    required = {name for name, declared in settings.items() if declared.default is None}
    assert required <= config | secret, "missing from config.env or secrets.env.example"
    assert config | secret <= settings.keys(), "not a setting (app/settings.py)"
    assert not config & {name for name, declared in settings.items() if declared.secret}


def test_only_web_takes_connections_and_the_stores_only_from_the_app():
    policies = {
        r["metadata"]["name"]: r["spec"] for r in resources() if r["kind"] == "NetworkPolicy"
    }
    deny = policies["tidings-default-deny-ingress"]
    assert (deny["podSelector"], deny["policyTypes"], deny.get("ingress")) == (
        {},
        ["Ingress"],
        None,
    )
    web = policies["tidings-web"]
    assert web["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "web"}
    assert web["ingress"] == [{"ports": [{"port": "http"}]}]
    [stores] = policies["tidings-stores"]["podSelector"]["matchExpressions"]
    assert set(stores["values"]) == {"db", "cache", "broker"}
    [allowed] = policies["tidings-stores"]["ingress"]
    [app_pods] = allowed["from"][0]["podSelector"]["matchExpressions"]
    assert set(app_pods["values"]) == {"web", "worker", "migrate"}


def test_no_forwarded_address_is_believed_unless_the_operator_says_how_many_proxies():
    # 1 would let a client behind no proxy choose its own address for the rate limit.
    assert re.search(r"^TRUSTED_PROXIES=0$", (BASE / "config.env").read_text(), re.M)


def test_secrets_are_files_never_environment_variables():
    secret_keys = env_keys("secrets.env.example")
    for name, pod in pod_specs().items():
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"], name
        [mounted] = [v for v in pod["volumes"] if "secret" in v]
        assert mounted["secret"]["secretName"] == "tidings-secrets", name
        for container in pod["containers"]:
            assert all("secretRef" not in source for source in container["envFrom"]), name
            given = {variable["name"]: variable.get("value") for variable in container["env"]}
            mount = next(m for m in container["volumeMounts"] if m["name"] == mounted["name"])
            for key in secret_keys:
                assert key not in given, (name, key)
                assert given[f"{key}_FILE"] == f"{mount['mountPath']}/{key}", (name, key)


def test_the_image_is_a_release_by_version_never_latest():
    [image] = kustomization()["images"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", image["newTag"]), image
