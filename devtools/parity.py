"""`make parity`: every way development differs from production, and each production target
from production's one source, with the reason for each; a difference without one fails.

Production is declared in compose.prod.yml over docker-compose.yml (`make prod-up`); Swarm
(deploy/swarm.yml) and Kubernetes (deploy/kubernetes) are checked against it. Compose
resolves the three Compose definitions itself (scripts/parity passes `docker compose config
--format json` of each on standard input); the Kubernetes manifests are read here. Each
service comes down to the same properties (the image, the process that serves, the user, the
filesystem, capabilities, mounts, healthcheck, limits, ports, networks, replicas and each
setting), and each difference is looked up in INTENDED. The tables are printed and written
into docs/production.md.

    scripts/parity | python -m devtools.parity    (make parity)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.settings import declarations
from devtools.configuration import stack_variables

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
DOC = ROOT / "docs" / "production.md"
BEGIN, END = "<!-- parity: begin (make parity writes this) -->", "<!-- parity: end -->"
APP_SERVICES = ("web", "worker", "migrate")
# What the runtime image runs when a service names no command (the Dockerfile's last CMD).
IMAGE_COMMAND = "gunicorn --preload app.wsgi:app"
IMAGE_USER = "app (the image's, UID 1000)"

# Why each intended difference exists: (comparison, service or *, property) -> reason.
INTENDED: dict[tuple[str, str, str], str] = {
    ("development", "*", "image"): "development runs the dev image: every dependency group, "
    "and the code bind-mounted, not copied in",
    ("development", "*", "process"): "devtools/reload.py gives web and worker new code at once",
    ("development", "*", "mounts"): "the code is bind-mounted, so an edit is live; production "
    "has its code in the image",
    ("development", "*", "read-only"): "development writes bytecode caches and tool output into "
    "the checkout",
    ("development", "*", "capabilities"): "development stays close to `docker run`'s defaults, "
    "for debuggers and tools",
    **{
        ("development", "*", limit): "a developer's machine is shared with their other work; "
        "no limit gets in the way"
        for limit in ("cpu limit", "memory limit", "process limit")
    },
    ("development", "*", "ports"): "development publishes the app, PostgreSQL and Mailpit on "
    "127.0.0.1; production only its proxy",
    ("development", "*", "networks"): "PostgreSQL is also on the default network in "
    "development, for its port on 127.0.0.1",
    ("development", "*", "service"): "production runs migrations once before it serves, and "
    "nginx in front",
    ("development", "*", "env APP_ENV"): "the dev image runs development, the runtime image "
    "production only",
    ("development", "*", "env WEB_CONCURRENCY"): "one process reloads fastest; production "
    "serves with two",
    ("development", "*", "env TRUSTED_PROXIES"): "production has nginx in front; development none",
    ("development", "*", "env PUBLIC_URL"): "each stack's own address",
    ("swarm", "*", "replicas"): "a swarm spreads web and worker over its nodes "
    "(WEB_REPLICAS, WORKER_REPLICAS)",
    ("swarm", "*", "ports"): "host mode on SWARM_PORT: the routing mesh needs IPVS",
    ("swarm", "*", "secrets"): "Docker secrets, as files: a swarm has them, Compose on one "
    "machine passes them from .env",
    # Redis reads no password from a file: sh reads the secret, then the image's entrypoint
    # starts redis-server with it.
    ("swarm", "cache", "process"): "the password from its Docker secret",
    ("swarm", "broker", "process"): "the password from its Docker secret",
    ("swarm", "cache", "healthcheck"): "the password from its Docker secret",
    ("swarm", "broker", "healthcheck"): "the password from its Docker secret",
    ("swarm", "cache", "env REDISCLI_AUTH"): "the password from its Docker secret",
    ("swarm", "broker", "env REDISCLI_AUTH"): "the password from its Docker secret",
    ("swarm", "*", "env PUBLIC_URL"): "each stack's own address",
    ("kubernetes", "*", "user"): "a UID above 10000, as Kubernetes policies ask; the image's "
    "files are readable by any user",
    ("kubernetes", "web", "healthcheck"): "Kubernetes probes over HTTP: liveness on /healthz, "
    "readiness on /readyz (the database's), so a replica without it takes no traffic",
    ("kubernetes", "*", "cpu limit"): "CPU is requested, not limited: bursts are not throttled",
    ("kubernetes", "*", "process limit"): "the node's kubelet bounds processes per pod",
    ("kubernetes", "*", "replicas"): "two web replicas and a PodDisruptionBudget; the worker "
    "scales with its HorizontalPodAutoscaler",
    ("kubernetes", "*", "secrets"): "a Secret mounted as files: the cluster has them, Compose "
    "on one machine passes them from .env",
    ("kubernetes", "*", "mounts"): "the Secret's files; web writes nowhere else, the worker its "
    "heartbeat to /tmp",
    ("kubernetes", "*", "networks"): "a NetworkPolicy instead of networks",
    ("kubernetes", "*", "env TRUSTED_PROXIES"): "0 until the operator says how many proxies "
    "are in front (docs/production.md)",
    ("kubernetes", "*", "env PUBLIC_URL"): "each deployment's own address",
    ("kubernetes", "*", "env MAIL_FROM"): "each deployment's own sender",
    ("kubernetes", "*", "env SMTP_HOST"): "your mail provider; Mailpit stands in for it in the "
    "Compose stacks",
    ("kubernetes", "*", "env SMTP_PORT"): "your mail provider's submission port",
    ("kubernetes", "*", "env SMTP_STARTTLS"): "your mail provider speaks TLS; Mailpit does not",
    ("kubernetes", "*", "env SMTP_USERNAME"): "your mail provider's login, in the Secret",
    ("kubernetes", "*", "env OWNER_EMAIL"): "each deployment's own owner",
    ("kubernetes", "*", "env ADMIN_PASSWORD_HASH"): "the owner's password, in the Secret",
    ("kubernetes", "*", "env SMTP_PASSWORD"): "your mail provider's login, in the Secret",
}


# Settings whose values are credentials, wherever they come from (the environment or a file).
CREDENTIALS = {
    *("DATABASE_URL", "CACHE_URL", "BROKER_URL", "SMTP_USERNAME", "SMTP_PASSWORD"),
    "ADMIN_PASSWORD_HASH",
}
# Read by the development stack's reloader only; production's processes never look.
DEVELOPMENT_ONLY = {"RELOAD_POLLING"}


def _effective(name: str, value: str) -> str:
    """A setting's value as the process sees it (empty: its default), as the table shows it:
    a credential only as such."""
    declared = declarations().get(name)
    stack = stack_variables().get(name)
    default = declared.default if declared else stack.default if stack else None
    value = value or default or ""
    secret = (
        (declared and declared.secret)
        or name in CREDENTIALS
        or name.endswith(("PASSWORD", "_AUTH"))
    )
    if secret:
        return "(a credential)" if value else "(empty)"
    return value or "(empty)"


def _environment(variables: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Each setting and its value; NAME_FILE counts as NAME (a credential in a file)."""
    for name, value in variables.items():
        name = name.removesuffix("_FILE")
        if name not in DEVELOPMENT_ONLY:
            yield f"env {name}", _effective(name, str(value or ""))


@dataclass
class Service:
    """One service's properties, each a short text."""

    properties: dict[str, str]


def from_compose(config: dict[str, Any]) -> dict[str, Service]:
    """Each service of a resolved Compose configuration (`docker compose config`)."""
    return {name: Service(dict(_compose_properties(s))) for name, s in config["services"].items()}


def _compose_properties(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    build = service.get("build") or {}
    # scripts/swarm tags the runtime target it builds <stack>-runtime.
    target = build.get("target") or ("runtime" if service["image"].endswith("-runtime") else "")
    yield "image", f"Dockerfile target {target}" if target else service["image"]
    command = (service.get("entrypoint") or []) + (service.get("command") or [])
    app_default = IMAGE_COMMAND if target == "runtime" else "the image's"
    yield "process", " ".join(command).replace("$$", "$") or app_default
    yield "user", service.get("user", IMAGE_USER if target else "the image's")
    yield "read-only", "yes" if service.get("read_only") else "no"
    yield "capabilities", "all dropped" if service.get("cap_drop") == ["ALL"] else "Docker's"
    mounts = [_mount(v) for v in service.get("volumes") or [] if v["type"] != "volume"]
    mounts += [f"tmpfs {path}" for path in service.get("tmpfs", [])]
    mounts += [f"file {config['target']}" for config in service.get("configs", [])]
    yield "mounts", ", ".join(sorted(mounts)) or "none"
    health = service.get("healthcheck") or {}
    test = " ".join(health.get("test", [])[1:]) or "the image's"
    yield "healthcheck", "none" if health.get("disable") else test.replace("$$", "$")
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    yield from _limits(limits.get("cpus"), limits.get("memory"), limits.get("pids"))
    ports = [
        f"{p.get('host_ip', '')}:{p.get('published')}->{p['target']}"
        for p in service.get("ports", [])
    ]
    yield "ports", ", ".join(ports) or "none"
    yield "networks", ", ".join(sorted(service.get("networks") or {"default": None}))
    yield "replicas", str((service.get("deploy") or {}).get("replicas", 1))
    yield "secrets", "files" if service.get("secrets") else "environment"
    yield from _environment(service.get("environment") or {})


def _mount(volume: dict[str, Any]) -> str:
    """A mount: the checkout (a directory), a file of it (a name with a suffix), or tmpfs."""
    if volume["type"] == "bind":
        return f"{'file' if Path(volume['source']).suffix else 'bind'} {volume['target']}"
    return f"{volume['type']} {volume['target']}"


def _limits(cpus: object, memory: object, pids: object) -> Iterator[tuple[str, str]]:
    """The CPU, memory and process limits, each its own property (each has its own reasons)."""
    if memory is not None and str(memory).isdigit():
        memory = f"{int(str(memory)) // 2**20}M"
    yield "cpu limit", str(cpus or "none")
    yield "memory limit", str(memory).replace("Mi", "M") if memory else "none"
    yield "process limit", str(pids or "none")


def from_kubernetes() -> dict[str, Service]:
    """web, worker and migrate as deploy/kubernetes runs them."""
    config = dict(
        line.split("=", 1)
        for line in (KUBERNETES / "config.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    services = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document.get("kind") in ("Deployment", "Job"):
                name = document["metadata"]["name"].removeprefix("tidings-")
                spec = document["spec"]
                services[name] = Service(dict(_pod_properties(spec, config)))
    return services


def _pod_properties(spec: dict[str, Any], config: dict[str, str]) -> Iterator[tuple[str, str]]:
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    security = container["securityContext"]
    yield "image", "Dockerfile target runtime"
    command = container.get("command")
    yield "process", " ".join(command) if command else IMAGE_COMMAND
    yield "user", f"UID {pod['securityContext']['runAsUser']}"
    yield "read-only", "yes" if security.get("readOnlyRootFilesystem") else "no"
    yield "capabilities", "all dropped" if security["capabilities"]["drop"] == ["ALL"] else "?"
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    mounts = [
        _pod_mount(volumes[m["name"]], m["mountPath"]) for m in container.get("volumeMounts", [])
    ]
    yield "mounts", ", ".join(sorted(mounts)) or "none"
    probes = {
        _probe(container[kind]) for kind in ("livenessProbe", "readinessProbe") if kind in container
    }
    yield "healthcheck", "; ".join(sorted(probes)) or "none"
    limits = container["resources"].get("limits", {})
    yield from _limits(limits.get("cpu"), limits.get("memory"), None)
    yield "ports", "none"
    yield "networks", "NetworkPolicy"
    yield "replicas", str(spec.get("replicas", 1))
    yield "secrets", "files"
    given = {variable["name"]: variable.get("value", "") for variable in container.get("env", [])}
    yield from _environment({**config, **given})


def _probe(probe: dict[str, Any]) -> str:
    """A probe as a healthcheck's command reads: a command, or GET path."""
    if "httpGet" in probe:
        return f"GET {probe['httpGet']['path']}"
    return " ".join(probe["exec"]["command"])


def _pod_mount(volume: dict[str, Any], path: str) -> str:
    """A pod's mount as a Compose mount reads: tmpfs for memory, secret for a Secret."""
    if volume.get("emptyDir", {}).get("medium") == "Memory":
        return f"tmpfs {path}"
    return f"{'secret' if 'secret' in volume else 'volume'} {path}"


@dataclass(frozen=True)
class Difference:
    """One property of one service that differs, and why (None: no reason given)."""

    comparison: str
    service: str
    property: str
    source: str
    target: str
    reason: str | None


def _missing(name: str) -> str:
    """What a property absent from a service amounts to: a setting's default, or nothing."""
    return _effective(name.removeprefix("env "), "") if name.startswith("env ") else "(not set)"


def compare(
    comparison: str, source: dict[str, Service], target: dict[str, Service]
) -> list[Difference]:
    """Every property of every service in which `target` differs from `source`."""
    differences = []
    for service in sorted(source.keys() | target.keys()):
        if service not in source or service not in target:
            where = "only in production" if service in source else f"only in {comparison}"
            differences.append(_difference(comparison, service, "service", where, ""))
            continue
        mine, theirs = source[service].properties, target[service].properties
        for name in sorted(mine.keys() | theirs.keys()):
            here, there = mine.get(name, _missing(name)), theirs.get(name, _missing(name))
            if here != there:
                differences.append(_difference(comparison, service, name, here, there))
    return differences


def _difference(comparison: str, service: str, name: str, source: str, target: str) -> Difference:
    reason = INTENDED.get(_reason_key(comparison, service, name))
    return Difference(comparison, service, name, source, target, reason)


def _reason_key(comparison: str, service: str, name: str) -> tuple[str, str, str]:
    """The key of INTENDED that explains this difference: the service's own, else any's."""
    own = (comparison, service, name)
    return own if own in INTENDED else (comparison, "*", name)


def stale_reasons(differences: list[Difference]) -> list[tuple[str, str, str]]:
    """The reasons in INTENDED that no difference uses any more."""
    used = {_reason_key(d.comparison, d.service, d.property) for d in differences}
    return sorted(INTENDED.keys() - used)


TITLES = {
    "development": "Development (`make up`) against production (`make prod-up`)",
    "swarm": "Docker Swarm (`deploy/swarm.yml`) against production's source",
    "kubernetes": "Kubernetes (`deploy/kubernetes`) against production's source",
}


def table(comparison: str, differences: list[Difference]) -> str:
    """The differences of one comparison, as a Markdown table."""
    other = "development" if comparison == "development" else comparison
    lines = [
        f"**{TITLES[comparison]}**",
        "",
        f"| service | property | production | {other} | why |",
        "|---|---|---|---|---|",
    ]
    for d in differences:
        why = d.reason or "**no reason: fix the difference, or give it one in devtools/parity.py**"
        cells = (d.service, d.property, d.source, d.target, why)
        lines.append("| " + " | ".join(c.replace("|", "\\|") or "-" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def credentials_in(configs: dict[str, Any]) -> set[str]:
    """Every credential's value in the configurations (.env's passwords, as Compose put them
    into environments and command lines): none of them may be printed."""
    found = set()
    for config in configs.values():
        for service in config["services"].values():
            for name, value in (service.get("environment") or {}).items():
                if value and _effective(name, str(value)) == "(a credential)":
                    found.add(str(value))
                    found.update(re.findall(r"://[^:@/]*:([^@/]+)@", str(value)))
    return {value for value in found if len(value) >= 8}


def scrub(text: str, credentials: set[str]) -> str:
    """`text` with each credential replaced by ***."""
    for value in credentials:
        text = text.replace(value, "***")
    return text


def main() -> int:
    """Compare, print, write the docs' tables; 1 on a difference without a reason, or when
    the docs were out of date (they are rewritten: commit them)."""
    configs = json.load(sys.stdin)
    credentials = credentials_in(configs)
    production = from_compose(configs["production"])
    app_only = {name: production[name] for name in APP_SERVICES}
    differences = {
        "development": compare("development", production, from_compose(configs["development"])),
        "swarm": compare("swarm", production, from_compose(configs["swarm"])),
        "kubernetes": compare("kubernetes", app_only, from_kubernetes()),
    }
    text = scrub("\n".join(table(name, found) for name, found in differences.items()), credentials)
    print(text)
    every = [d for found in differences.values() for d in found]
    unexplained = [d for d in every if d.reason is None]
    stale = stale_reasons(every)
    for key in stale:
        print(f"parity: no difference is left for the reason of {key}: remove it", file=sys.stderr)
    for d in unexplained:
        problem = f"{d.service} {d.property}: {d.source!r} in production, {d.target!r} here"
        print(
            scrub(f"parity: {d.comparison}: {problem}, and no reason", credentials), file=sys.stderr
        )
    doc = DOC.read_text()
    before, _, rest = doc.partition(BEGIN)
    _, _, after = rest.partition(END)
    updated = f"{before}{BEGIN}\n\n{text}\n{END}{after}"
    outdated = updated != doc
    if outdated:
        DOC.write_text(updated)
        print(
            "parity: docs/production.md's tables were out of date; rewritten: commit them",
            file=sys.stderr,
        )
    return 1 if unexplained or stale or outdated else 0


if __name__ == "__main__":
    sys.exit(main())
