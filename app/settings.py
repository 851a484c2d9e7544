"""Settings: read once from the environment into one typed, validated object."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Values a template or tutorial might leave behind; refused outside development.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "password", "xxx"})
MIN_SECRET_LENGTH = 32
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


@dataclass(frozen=True)
class Settings:
    """Every setting Tidings reads; the field name upper-cased is its variable and config key."""

    app_env: str
    secret_key: str
    secret_key_fallbacks: tuple[str, ...]
    admin_token: str
    database_url: str
    cache_url: str
    broker_url: str
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_starttls: bool
    smtp_implicit_tls: bool
    smtp_timeout: int
    mail_from: str
    public_url: str
    log_level: str
    subscribe_rate_limit: int
    mail_rate_limit: int
    page_cache_seconds: int
    trusted_proxies: int

    def to_config(self) -> dict[str, Any]:
        """The settings as Flask config keys, plus the Flask flags they imply."""
        config = {name.upper(): value for name, value in dataclasses.asdict(self).items()}
        config["TESTING"] = self.app_env == "test"
        # The dev server reloads on code changes; templates must follow without a restart.
        config["TEMPLATES_AUTO_RELOAD"] = self.app_env == "development"
        # Nothing Tidings accepts is larger; bigger bodies are refused with 413.
        config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
        return config


class _Reader:
    """Reads variables from one mapping, collecting every problem rather than stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: dict[str, str] = {}

    def get[T](self, name: str, parse: Callable[[str], T], default: str | None = None) -> T | None:
        """Parse `name` (`default` if unset or empty); record any problem and return None."""
        raw = self.env.get(name, "").strip() or default
        if raw is None:
            self.problems[name] = "is required but not set"
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems[name] = str(exc)
            return None


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


def secret(app_env: str | None) -> Callable[[str], str]:
    """A parser for a secret; placeholders and short values are refused outside development."""

    def parse(raw: str) -> str:
        if app_env != "development" and (
            raw.lower() in PLACEHOLDER_SECRETS or len(raw) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                f"must be a random value of at least {MIN_SECRET_LENGTH} characters outside "
                "development (try: openssl rand -hex 32)"
            )
        return raw

    return parse


def secrets(app_env: str | None) -> Callable[[str], tuple[str, ...]]:
    """A parser for a comma-separated list of secrets, each checked as `secret` checks one."""
    one = secret(app_env)
    return lambda raw: tuple(one(item.strip()) for item in raw.split(",") if item.strip())


def _check_smtp_security(read: _Reader, app_env: str | None, values: Mapping[str, Any]) -> None:
    """One kind of TLS at a time; a password never in clear outside development."""
    starttls, implicit = values["smtp_starttls"], values["smtp_implicit_tls"]
    if starttls and implicit:
        read.problems["SMTP_STARTTLS"] = "cannot be true with SMTP_IMPLICIT_TLS: choose one"
    if values["smtp_username"] and not (starttls or implicit) and app_env != "development":
        read.problems["SMTP_USERNAME"] = (
            "is set without TLS, which would send the password in clear: set "
            "SMTP_STARTTLS=true (port 587) or SMTP_IMPLICIT_TLS=true (port 465)"
        )


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse `env` into Settings, or raise SettingsError naming every bad variable."""
    read = _Reader(env)
    app_env = read.get("APP_ENV", one_of(ENVIRONMENTS), default="production")
    if env.get("TIDINGS_RUNTIME_IMAGE") and app_env not in (None, "production"):
        read.problems["APP_ENV"] = (
            f"the runtime image runs as production only, got {app_env!r} "
            "(develop with the dev image: make up)"
        )
    redis_url = url_with_scheme("redis", "rediss")
    values = {
        "app_env": app_env,
        "secret_key": read.get("SECRET_KEY", secret(app_env)),
        "secret_key_fallbacks": read.get("SECRET_KEY_FALLBACKS", secrets(app_env), default=""),
        "admin_token": read.get("ADMIN_TOKEN", secret(app_env)),
        "database_url": read.get("DATABASE_URL", url_with_scheme("postgresql+psycopg")),
        "cache_url": read.get("CACHE_URL", redis_url),
        "broker_url": read.get("BROKER_URL", redis_url),
        "smtp_host": read.get("SMTP_HOST", str),
        "smtp_port": read.get("SMTP_PORT", int_between(1, 65535), default="25"),
        "smtp_username": read.get("SMTP_USERNAME", str, default=""),
        "smtp_password": read.get("SMTP_PASSWORD", str, default=""),
        "smtp_starttls": read.get("SMTP_STARTTLS", parse_bool, default="false"),
        "smtp_implicit_tls": read.get("SMTP_IMPLICIT_TLS", parse_bool, default="false"),
        "smtp_timeout": read.get("SMTP_TIMEOUT", int_between(1, 300), default="10"),
        "mail_from": read.get("MAIL_FROM", mail_address),
        "public_url": read.get("PUBLIC_URL", url_with_scheme("http", "https")),
        "log_level": read.get("LOG_LEVEL", one_of(LOG_LEVELS, upper=True), default="INFO"),
        "subscribe_rate_limit": read.get("SUBSCRIBE_RATE_LIMIT", int_between(1, 10_000), "10"),
        "mail_rate_limit": read.get("MAIL_RATE_LIMIT", int_between(0, 10_000), default="0"),
        "page_cache_seconds": read.get("PAGE_CACHE_SECONDS", int_between(0, 86_400), "300"),
        "trusted_proxies": read.get("TRUSTED_PROXIES", int_between(0, 5), default="0"),
    }
    _check_smtp_security(read, app_env, values)
    secret_key, admin_token = values["secret_key"], values["admin_token"]
    if app_env != "development" and secret_key is not None and admin_token == secret_key:
        read.problems["ADMIN_TOKEN"] = "must differ from SECRET_KEY outside development"  # noqa: S105  # a message
    if read.problems:
        raise SettingsError(read.problems)
    return Settings(**values)  # type: ignore[arg-type]  # every None was recorded as a problem
