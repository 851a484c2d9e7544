"""The owner's session on the admin pages (/admin): signing in with the password whose hash
is ADMIN_PASSWORD_HASH, signing out, and what every admin page and form requires.

The session is Flask's signed cookie (settings.Settings.to_config: HttpOnly, SameSite=Lax,
Secure outside development, SESSION_HOURS long). Every form of the admin pages carries the
session's own token, and posts from other sites are refused (security.same_origin) as well.
The JSON API (/api/issues) keeps its bearer token.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.exceptions import BadRequest, ServiceUnavailable
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from app.ratelimit import limit_per_client
from app.security import refuse_cross_site, same_origin
from app.validation import require_form

bp = Blueprint("owner", __name__, url_prefix="/admin")

CLOSED = "The admin pages are closed: set ADMIN_PASSWORD_HASH (make admin-password makes one)."


def owner_required[**P, R](view: Callable[P, R]) -> Callable[P, R | Response]:
    """The view for the signed-in owner only: others are sent to sign in; and a form posted
    to it must come from this site, with the session's token."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if request.method == "POST":
            refuse_cross_site()
        if not session.get("owner"):
            return redirect(url_for("owner.sign_in", next=request.full_path.rstrip("?")))
        if request.method == "POST":
            check_form_token()
        return view(*args, **kwargs)

    return wrapper


def form_token() -> str:
    """The session's token, for the hidden field of each form (`{{ form_token() }}`)."""
    if "form_token" not in session:
        session["form_token"] = secrets.token_urlsafe(32)
    token: str = session["form_token"]
    return token


def check_form_token() -> None:
    """400 unless the posted form carries the session's token."""
    sent = request.form.get("form_token", "")
    if not hmac.compare_digest(sent.encode(), form_token().encode()):
        raise BadRequest("This form has expired: go back, reload the page and send it again.")


@bp.app_context_processor
def _form_token() -> dict[str, Callable[[], str]]:
    return {"form_token": form_token}


@bp.get("/sign-in")
def sign_in() -> str:
    """The sign-in form."""
    _require_a_password()
    return render_template("owner/sign_in.html", next=_next_page())


@bp.post("/sign-in")
@same_origin
@limit_per_client("sign-in", "SIGN_IN_RATE_LIMIT")
def sign_in_post() -> tuple[str, int] | Response:
    """Sign the owner in with their password: to the page they asked for, or the issues."""
    _require_a_password()
    require_form()
    password = request.form.get("password", "")
    if not check_password_hash(current_app.config["ADMIN_PASSWORD_HASH"], password):
        page = render_template("owner/sign_in.html", next=_next_page(), error="Wrong password.")
        return page, 401
    session.clear()  # a new session: nothing from before the sign-in carries over
    session.permanent = True
    session["owner"] = True
    return redirect(_next_page())


@bp.post("/sign-out")
@owner_required
def sign_out() -> Response:
    """End the session."""
    session.clear()
    return redirect(url_for("owner.sign_in"))


def _require_a_password() -> None:
    if not current_app.config["ADMIN_PASSWORD_HASH"]:
        raise ServiceUnavailable(CLOSED)


def _next_page() -> str:
    """Where to go after signing in: a page of this site's admin only (no open redirect)."""
    wanted = request.values.get("next", "")
    return wanted if wanted.startswith("/admin/") else url_for("owner_issues.index")
