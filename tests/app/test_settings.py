"""Settings: every variable parsed explicitly, every problem named."""

from __future__ import annotations

import pytest

from app.settings import SettingsError, load_settings

VALID = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 32,
    "ADMIN_TOKEN": "a" * 32,
    "DATABASE_URL": "postgresql+psycopg://tidings:pw@db:5432/tidings",
    "CACHE_URL": "redis://cache:6379/0",
    "BROKER_URL": "redis://broker:6379/0",
    "SMTP_HOST": "mailpit",
    "SMTP_PORT": "1025",
    "MAIL_FROM": "Tidings <news@example.org>",
    "PUBLIC_URL": "https://news.example.org",
}


def test_valid_environment_is_parsed_into_types():
    settings = load_settings({**VALID, "SMTP_STARTTLS": "TRUE", "LOG_LEVEL": "debug"})
    assert settings.smtp_port == 1025
    assert settings.smtp_starttls is True
    assert settings.log_level == "DEBUG"
    assert settings.to_config()["SMTP_PORT"] == 1025
    assert settings.to_config()["TESTING"] is False


def test_defaults_apply_to_optional_variables():
    settings = load_settings({k: v for k, v in VALID.items() if k not in ("APP_ENV", "SMTP_PORT")})
    assert settings.app_env == "production"
    assert settings.smtp_port == 25
    assert settings.smtp_starttls is False
    assert settings.smtp_username == ""


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECRET_KEY", None, "is required"),
        ("DATABASE_URL", "", "is required"),
        ("DATABASE_URL", "sqlite:///x.db", "postgresql+psycopg://"),
        ("CACHE_URL", "http://cache", "redis://"),
        ("SMTP_PORT", "abc", "whole number"),
        ("SMTP_PORT", "70000", "between 1 and 65535"),
        ("SMTP_STARTTLS", "maybe", "true or false"),
        ("APP_ENV", "staging", "one of development, test, production"),
        ("MAIL_FROM", "nobody", "email address"),
        ("PUBLIC_URL", "news.example.org", "http://"),
        ("LOG_LEVEL", "loud", "one of DEBUG"),
        ("SECRET_KEY", "change-me", "at least 32 characters"),
        ("ADMIN_TOKEN", "short", "at least 32 characters"),
        ("TRUSTED_PROXIES", "9", "between 0 and 5"),
    ],
)
def test_bad_variable_is_named_with_the_reason(name, value, message):
    env = {k: v for k, v in VALID.items() if k != name}
    if value is not None:
        env[name] = value
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert list(raised.value.problems) == [name]
    assert message in raised.value.problems[name]
    assert name in str(raised.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as raised:
        load_settings({"SMTP_PORT": "0"})
    assert {"SECRET_KEY", "DATABASE_URL", "SMTP_PORT", "MAIL_FROM"} <= set(raised.value.problems)


def test_placeholder_secrets_are_allowed_only_in_development():
    settings = load_settings({**VALID, "APP_ENV": "development", "SECRET_KEY": "change-me"})
    assert settings.secret_key == "change-me"


def test_the_runtime_image_runs_as_production_only():
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "TIDINGS_RUNTIME_IMAGE": "1", "APP_ENV": "development"})
    assert "the runtime image runs as production only" in raised.value.problems["APP_ENV"]
    assert load_settings({**VALID, "TIDINGS_RUNTIME_IMAGE": "1"}).app_env == "production"


def test_one_secret_for_two_purposes_is_refused_outside_development():
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "ADMIN_TOKEN": VALID["SECRET_KEY"]})
    assert raised.value.problems == {
        "ADMIN_TOKEN": "must differ from SECRET_KEY outside development"
    }


def test_fallback_keys_are_a_list_of_secrets():
    settings = load_settings({**VALID, "SECRET_KEY_FALLBACKS": " o" + "1" * 31 + ", " + "2" * 32})
    assert settings.secret_key_fallbacks == ("o" + "1" * 31, "2" * 32)
    assert load_settings(VALID).secret_key_fallbacks == ()
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "SECRET_KEY_FALLBACKS": "short"})
    assert "at least 32 characters" in raised.value.problems["SECRET_KEY_FALLBACKS"]


def test_an_smtp_password_never_travels_in_clear_outside_development():
    with_login = {**VALID, "SMTP_USERNAME": "tidings", "SMTP_PASSWORD": "pw"}
    with pytest.raises(SettingsError) as raised:
        load_settings(with_login)
    assert "would send the password in clear" in raised.value.problems["SMTP_USERNAME"]
    assert load_settings({**with_login, "SMTP_STARTTLS": "true"}).smtp_starttls
    assert load_settings({**with_login, "SMTP_IMPLICIT_TLS": "true"}).smtp_implicit_tls
    development = {**with_login, "APP_ENV": "development"}
    assert load_settings(development).smtp_username == "tidings"


def test_one_kind_of_smtp_tls_at_a_time():
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "SMTP_STARTTLS": "true", "SMTP_IMPLICIT_TLS": "true"})
    assert "choose one" in raised.value.problems["SMTP_STARTTLS"]


def test_a_setting_may_come_from_a_file_as_secrets_do(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("f" * 40 + "\n")
    env = {k: v for k, v in VALID.items() if k != "SECRET_KEY"}
    assert load_settings({**env, "SECRET_KEY_FILE": str(secret)}).secret_key == "f" * 40
    with pytest.raises(SettingsError) as raised:
        load_settings({**env, "SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert "SECRET_KEY_FILE: cannot be read: No such file or directory" in str(raised.value)
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "SECRET_KEY_FILE": str(secret)})
    assert raised.value.problems == {
        "SECRET_KEY_FILE": "is set, and so is SECRET_KEY: set one of them"
    }
