"""Tidings: a small, self-hosted newsletter service."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import cache, database, errors, health, jobs, owner, security, validation
from app.newsletter import owner_views as owner_issues
from app.newsletter import seed
from app.newsletter import views as newsletter
from app.settings import SettingsError, load_settings
from app.subscriptions import owner_views as owner_subscribers
from app.subscriptions import views as subscriptions


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app: settings from the environment (plus `overrides`), clients, features."""
    app = Flask(__name__)
    configure(app, {**os.environ, **(overrides or {})})
    database.init_app(app)
    cache.init_app(app)
    jobs.init_app(app)
    for blueprint in (
        *(health.bp, newsletter.archive, subscriptions.bp, newsletter.admin, seed.bp),
        *(owner.bp, owner_issues.bp, owner_subscribers.bp),
    ):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    validation.init_app(app)
    security.init_app(app)
    return app


def configure(app: Flask, env: Mapping[str, str]) -> None:
    """Load and validate the settings into `app.config`; raises SettingsError."""
    settings = load_settings(env)
    app.config.from_mapping(settings.to_config())
    app.logger.setLevel(settings.log_level)
    if settings.trusted_proxies:
        # The client's address and scheme as the proxies in front saw them. Only as many
        # X-Forwarded-* hops as there are proxies: anything further left a client can forge.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


# The exit status of a process stopped by bad configuration: gunicorn's "app failed to load",
# on which its master stops, rather than starting one failing worker after another.
CONFIGURATION_ERROR = 4


def create_app_or_exit() -> Flask:
    """`create_app` for entry points: a configuration error ends the process with its message."""
    try:
        return create_app()
    except SettingsError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        raise SystemExit(CONFIGURATION_ERROR) from None
