"""HTTP for subscriptions: the API, the form, and the links in emails."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from app.api import ApiError, json_object, require_form
from app.ratelimit import limit_per_client
from app.subscriptions import service
from app.subscriptions.addresses import InvalidEmailError, valid_email
from app.subscriptions.emails import send_subscription_email
from app.subscriptions.tokens import InvalidTokenError, Purpose

bp = Blueprint("subscriptions", __name__)

# The same answer whether or not the address was known: it must not tell.
ACCEPTED = {"status": "pending"}


def _subscribe(raw_email: object) -> None:
    """Validate and record the address, and queue its email if one is due."""
    if not isinstance(raw_email, str):
        raise ApiError("email is required and must be a string.", field="email")
    try:
        email = valid_email(raw_email)
    except InvalidEmailError as exc:
        raise ApiError(str(exc), field="email") from None
    subscriber_id = service.subscribe(email)
    if subscriber_id is not None:
        send_subscription_email(subscriber_id)


@bp.post("/api/subscribers")
@limit_per_client("subscribe", "SUBSCRIBE_RATE_LIMIT")
def subscribe_api() -> tuple[dict[str, str], int]:
    """Subscribe from JSON `{"email": ...}`: 202, or 422 naming the field."""
    _subscribe(json_object().get("email"))
    return ACCEPTED, 202


@bp.post("/subscribe")
@limit_per_client("subscribe", "SUBSCRIBE_RATE_LIMIT")
def subscribe_form() -> tuple[str, int]:
    """Subscribe from the form on the home page; errors are shown on the form."""
    require_form()
    email = request.form.get("email", "")
    try:
        _subscribe(email)
    except ApiError as exc:
        return render_template("subscribe.html", error=exc.message, email=email), 422
    return render_template(
        "message.html",
        title="Check your inbox",
        message=("If that address can receive Tidings, a confirmation link is on its way."),
    ), 202


@bp.get("/confirm/<token>")
def confirm(token: str) -> tuple[str, int]:
    """Confirm the subscription a link names."""
    try:
        service.confirm(service.subscriber_for(Purpose.CONFIRM, token))
    except InvalidTokenError:
        return _invalid_link()
    return render_template(
        "message.html", title="Subscribed", message=("Thank you: your subscription is confirmed.")
    ), 200


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> tuple[str | Response, int]:
    """Unsubscribe in one click (GET from the email, POST from List-Unsubscribe-Post)."""
    try:
        service.unsubscribe(service.subscriber_for(Purpose.UNSUBSCRIBE, token))
    except InvalidTokenError:
        return _invalid_link()
    return render_template(
        "message.html",
        title="Unsubscribed",
        message=(
            "You will receive no more issues. Subscribing again takes one click on the home page."
        ),
    ), 200


def _invalid_link() -> tuple[str, int]:
    return render_template(
        "message.html",
        title="This link does not work",
        message=(
            "It is incomplete, expired or no longer valid. Subscribe again from the home page "
            "to get a fresh one."
        ),
    ), 400
