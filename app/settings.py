"""Settings: each declared once below, read once from the environment, every problem named.

A new setting is one field of `Settings`: its type, `setting(parser, default, doc=...)`.
Each may also come from a file, NAME_FILE naming its path (Docker and Kubernetes secrets).
`.env.example` and docs/configuration.md are generated from these declarations (`make fmt`),
and a test checks that Compose passes each one through.

Hand-written rather than pydantic-settings: the parsers are a few lines each, and pydantic
would add about 8 MB to a runtime image that is 57 MB over its base.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Values a template or tutorial might leave behind; refused outside development.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "password", "xxx"})
MIN_SECRET_LENGTH = 32
# How long the owner stays signed in to the admin pages.
SESSION_HOURS = 8
# Bytes, not characters: the longest issue body (50,000 characters) still fits when JSON
# escapes every one of them as a surrogate pair (12 bytes, \\ud83d\\ude00).
MAX_REQUEST_BYTES = 1024 * 1024
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(Exception):
    """The environment does not describe a runnable Tidings; lists every bad variable."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        lines = [f"  {name}: {problem}" for name, problem in self.problems.items()]
        super().__init__("invalid configuration (see .env.example):\n" + "\n".join(lines))


def parse_bool(raw: str) -> bool:
    """`true/false`, `yes/no`, `on/off`, `1/0`, in any case; anything else is an error."""
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A parser for a whole number in [low, high]."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def one_of(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    """A parser accepting one of `choices`."""

    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def url_with_scheme(*schemes: str) -> Callable[[str], str]:
    """A parser for a URL whose scheme is one of `schemes` and which names a host."""

    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(
                f"must be a URL like {schemes[0]}://host/..., got a {parts.scheme!r} URL"
            )
        return raw

    return parse


def mail_address(raw: str) -> str:
    """A sender such as `Name <user@example.org>` or `user@example.org`."""
    address = raw.rpartition("<")[2].rstrip(">")
    local, at, domain = address.partition("@")
    if not (local and at and "." in domain):
        raise ValueError(f"must be an email address like Tidings <news@example.org>, got {raw!r}")
    return raw


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, or empty for an empty value."""
    return lambda raw: parse(raw) if raw else ""


def password_hash(raw: str) -> str:
    """A password hash as werkzeug makes it (scrypt or pbkdf2): method$salt$digest."""
    if not re.fullmatch(r"(scrypt|pbkdf2):[\w:]+\$[^$]+\$[0-9a-f]+", raw):
        raise ValueError("must be a password hash: make admin-password makes one")
    return raw


def comma_list(raw: str) -> tuple[str, ...]:
    """Comma-separated values, each stripped; empty items dropped."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Setting:
    """How one variable is read: its parser, its default (None: required), what it is for.

    `example` is the value `.env.example` gives development, where it differs from the
    default. A `secret` must be random outside development.
    """

    parse: Callable[[str], Any]
    default: str | None
    doc: str
    example: str | None = None
    secret: bool = False


def setting(
    parse: Callable[[str], Any],
    default: str | None = None,
    *,
    doc: str,
    example: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare a field of Settings: the field's name upper-cased is its variable."""
    return dataclasses.field(metadata={"setting": Setting(parse, default, doc, example, secret)})


REDIS_URL = url_with_scheme("redis", "rediss")


@dataclass(frozen=True)
class Settings:
    """Every setting Tidings reads; the field name upper-cased is its variable and config key."""

    app_env: str = setting(
        one_of(ENVIRONMENTS),
        "production",
        example="development",
        doc="development | test | production. Outside development, weak secrets are refused.",
    )
    secret_key: str = setting(
        str,
        secret=True,
        example="change-me",
        doc="Signs sessions and the links in emails: at least 32 random characters outside "
        "development.",
    )
    secret_key_fallbacks: tuple[str, ...] = setting(
        comma_list,
        "",
        secret=True,
        doc="Former SECRET_KEYs, comma-separated, after a rotation: links already emailed keep "
        "working. Remove a key once its links have expired (a year at most).",
    )
    admin_token: str = setting(
        str,
        secret=True,
        example="change-me",
        doc="Bearer token for the admin API: at least 32 random characters outside development.",
    )
    database_url: str = setting(
        url_with_scheme("postgresql+psycopg"),
        doc="PostgreSQL: postgresql+psycopg://user:password@host:5432/name.",
    )
    cache_url: str = setting(
        REDIS_URL,
        doc="Redis for the rate limit and the page cache: redis://:password@host:6379/0.",
    )
    broker_url: str = setting(
        REDIS_URL,
        doc="Redis for the job queue: persistent, never evicting (noeviction), with a "
        "password: whoever can queue a job runs it in the worker.",
    )
    smtp_host: str = setting(str, example="mailpit", doc="The SMTP server that sends every email.")
    smtp_port: int = setting(
        int_between(1, 65535), "25", example="1025", doc="Its port: 25, 587 or 465."
    )
    smtp_username: str = setting(str, "", doc="SMTP login; empty: no login.")
    smtp_password: str = setting(str, "", doc="SMTP password, for SMTP_USERNAME.")
    smtp_starttls: bool = setting(
        parse_bool,
        "false",
        doc="STARTTLS after connecting (port 587). Certificates are verified; a login without "
        "TLS is refused outside development.",
    )
    smtp_implicit_tls: bool = setting(
        parse_bool, "false", doc="TLS from the first byte (port 465), instead of STARTTLS."
    )
    smtp_timeout: int = setting(
        int_between(1, 300),
        "10",
        doc="Seconds to wait for each reply of the SMTP server. A message being sent is "
        "leased to its worker for 12 times this.",
    )
    mail_from: str = setting(
        mail_address,
        example="Tidings <newsletter@tidings.localhost>",
        doc="Sender of every message; Message-IDs are made under its domain.",
    )
    public_url: str = setting(
        url_with_scheme("http", "https"),
        doc="Where readers reach Tidings; the links in emails start with it.",
    )
    log_level: str = setting(
        one_of(LOG_LEVELS, upper=True), "INFO", doc="DEBUG | INFO | WARNING | ERROR."
    )
    subscribe_rate_limit: int = setting(
        int_between(1, 10_000),
        "10",
        doc="Subscription requests allowed per client IP per minute (then 429 with Retry-After).",
    )
    mail_rate_limit: int = setting(
        int_between(0, 10_000),
        "0",
        doc="Issue emails each worker sends per second; 0: as fast as the SMTP server accepts.",
    )
    page_cache_seconds: int = setting(
        int_between(0, 86_400),
        "300",
        doc="How long rendered archive pages stay in the cache; 0 turns page caching off, as "
        "development always does (an edit shows at once).",
    )
    admin_password_hash: str = setting(
        optional(password_hash),
        "",
        doc="The owner's password for the admin pages (/admin), as a hash: `make "
        "admin-password` asks for a password and puts its hash here. Empty: the pages are closed.",
    )
    owner_email: str = setting(
        optional(mail_address),
        "",
        example="owner@tidings.localhost",
        doc="The owner's address: a test of an issue is sent there from the admin pages.",
    )
    sign_in_rate_limit: int = setting(
        int_between(1, 1000),
        "5",
        doc="Sign-in attempts allowed per client IP per minute (then 429 with Retry-After).",
    )
    trusted_proxies: int = setting(
        int_between(0, 5),
        "0",
        doc="Reverse proxies in front of Tidings, whose X-Forwarded-For/-Proto are believed. "
        "0 when clients connect directly: anyone could send those headers.",
    )

    def to_config(self) -> dict[str, Any]:
        """The settings as Flask config keys, plus the Flask flags they imply."""
        config = {name.upper(): value for name, value in dataclasses.asdict(self).items()}
        config["TESTING"] = self.app_env == "test"
        # The dev server reloads on code changes; templates must follow without a restart,
        # and no cached page may hide an edit: development keeps no page.
        config["TEMPLATES_AUTO_RELOAD"] = self.app_env == "development"
        if self.app_env == "development":
            config["PAGE_CACHE_SECONDS"] = 0
        # Nothing Tidings accepts is larger; bigger bodies are refused with 413.
        config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
        # The owner's session: never readable by scripts, never sent by other sites' forms,
        # only over HTTPS outside development, and over after SESSION_HOURS.
        config["SESSION_COOKIE_NAME"] = "tidings_owner"
        config["SESSION_COOKIE_HTTPONLY"] = True
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
        config["SESSION_COOKIE_SECURE"] = self.app_env != "development"
        config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=SESSION_HOURS)
        return config


def declarations() -> dict[str, Setting]:
    """Each variable's name and its declaration, in the order of `Settings`."""
    return {f.name.upper(): f.metadata["setting"] for f in dataclasses.fields(Settings)}


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse `env` into Settings, or raise SettingsError naming every bad variable."""
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, declared in declarations().items():
        try:
            raw = _value_or_file(env, name) or declared.default
        except ValueError as exc:
            problems[f"{name}_FILE"] = str(exc)
            continue
        if raw is None:
            problems[name] = "is required but not set"
            continue
        try:
            values[name.lower()] = declared.parse(raw)
        except ValueError as exc:
            problems[name] = str(exc)
    for name, problem in _cross_checks(env, values):
        problems.setdefault(name, problem)
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def _value_or_file(env: Mapping[str, str], name: str) -> str:
    """`name`'s value, or the content of the file `name`_FILE gives (a Docker secret, say):
    secrets then never sit in the environment."""
    value, path = env.get(name, "").strip(), env.get(f"{name}_FILE", "").strip()
    if not path:
        return value
    if value:
        raise ValueError(f"is set, and so is {name}: set one of them")
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror} ({path})") from None


def _cross_checks(env: Mapping[str, str], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems no single variable shows: the runtime image, weak secrets, TLS and logins."""
    app_env = values.get("app_env")
    problems = []
    if env.get("TIDINGS_RUNTIME_IMAGE") and app_env not in (None, "production"):
        problems.append(
            (
                "APP_ENV",
                f"the runtime image runs as production only, got {app_env!r} "
                "(develop with the dev image: make up)",
            )
        )
    if app_env != "development":
        problems += _weak_secrets(values)
        if (
            values.get("secret_key") is not None
            and values.get("admin_token") == values["secret_key"]
        ):
            problems.append(("ADMIN_TOKEN", "must differ from SECRET_KEY outside development"))
    starttls, implicit = values.get("smtp_starttls"), values.get("smtp_implicit_tls")
    if starttls and implicit:
        problems.append(("SMTP_STARTTLS", "cannot be true with SMTP_IMPLICIT_TLS: choose one"))
    if values.get("smtp_username") and not (starttls or implicit) and app_env != "development":
        problems.append(
            (
                "SMTP_USERNAME",
                "is set without TLS, which would send the password in "
                "clear: set SMTP_STARTTLS=true (port 587) or SMTP_IMPLICIT_TLS=true (port 465)",
            )
        )
    return problems


def _weak_secrets(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Each secret (or any of a list of them) that is a placeholder or too short."""
    weak = (
        f"must be a random value of at least {MIN_SECRET_LENGTH} characters outside "
        "development (try: openssl rand -hex 32)"
    )
    problems = []
    for name, declared in declarations().items():
        value = values.get(name.lower())
        if declared.secret and value is not None:
            candidates = value if isinstance(value, tuple) else (value,)
            if any(
                one.lower() in PLACEHOLDER_SECRETS or len(one) < MIN_SECRET_LENGTH
                for one in candidates
            ):
                problems.append((name, weak))
    return problems
