"""HTTP for subscriptions: the API, the form, and the links in emails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, render_template, request

from app.ratelimit import limit_per_client
from app.security import same_origin
from app.subscriptions import service
from app.subscriptions.addresses import InvalidEmailError, valid_email
from app.subscriptions.models import Subscriber
from app.subscriptions.tokens import InvalidTokenError, Purpose
from app.validation import ApiError, json_object, require_form

bp = Blueprint("subscriptions", __name__)


@dataclass(frozen=True)
class Page:
    """A short page (message.html); with a `button`, a form that posts back to the same URL."""

    title: str
    message: str
    button: str | None = None


@dataclass(frozen=True)
class LinkAction:
    """What a link in an email does: POST acts, every other method only asks. Mail scanners
    and previews fetch every link in a message (GET, HEAD); acting on those would confirm or
    unsubscribe for them."""

    purpose: Purpose
    act: Callable[[Subscriber], None]
    ask: Page
    done: Page


# The same answer whether or not the address was known: it must not tell.
ACCEPTED = {"status": "pending"}
CHECK_INBOX = Page(
    "Check your inbox", "If that address can receive Tidings, a confirmation link is on its way."
)
INVALID_LINK = Page(
    "This link does not work",
    "It is incomplete, expired or no longer valid. "
    "Subscribe again from the home page to get a fresh one.",
)
CONFIRM = LinkAction(
    Purpose.CONFIRM,
    service.confirm,
    ask=Page("Confirm your subscription", "One click, and each issue reaches you.", "Confirm"),
    done=Page("Subscribed", "Thank you: your subscription is confirmed."),
)
UNSUBSCRIBE = LinkAction(
    Purpose.UNSUBSCRIBE,
    service.unsubscribe,
    ask=Page("Unsubscribe", "Stop receiving Tidings by email?", "Unsubscribe"),
    done=Page(
        "Unsubscribed",
        "You will receive no more issues. Subscribing again takes one click on the home page.",
    ),
)


def _subscribe(raw_email: object) -> None:
    """Validate the address and subscribe it."""
    if not isinstance(raw_email, str):
        raise ApiError("email is required and must be a string.", field="email")
    try:
        email = valid_email(raw_email)
    except InvalidEmailError as exc:
        raise ApiError(str(exc), field="email") from None
    service.subscribe(email)


@bp.post("/api/subscribers")
@limit_per_client("subscribe", "SUBSCRIBE_RATE_LIMIT")
def subscribe_api() -> tuple[dict[str, str], int]:
    """Subscribe from JSON `{"email": ...}`: 202, or 422 naming the field."""
    _subscribe(json_object().get("email"))
    return ACCEPTED, 202


@bp.post("/subscribe")
@same_origin
@limit_per_client("subscribe", "SUBSCRIBE_RATE_LIMIT")
def subscribe_form() -> tuple[str, int]:
    """Subscribe from the form on the home page; errors are shown on the form."""
    require_form()
    email = request.form.get("email", "")
    try:
        _subscribe(email)
    except ApiError as exc:
        return render_template("subscribe.html", error=exc.message, email=email), 422
    return render_template("message.html", page=CHECK_INBOX), 202


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> tuple[str, int]:
    """The confirmation link of the first email."""
    return _follow(CONFIRM, token)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> tuple[str, int]:
    """The unsubscribe link of every email; List-Unsubscribe-Post clients POST to it."""
    return _follow(UNSUBSCRIBE, token)


def _follow(link: LinkAction, token: str) -> tuple[str, int]:
    """Act on POST for the subscriber the token names, and only ask on any other method
    (Flask answers HEAD with this view too); 400 for a bad token."""
    try:
        subscriber = service.subscriber_for(link.purpose, token)
    except InvalidTokenError:
        return render_template("message.html", page=INVALID_LINK), 400
    if request.method != "POST":
        return render_template("message.html", page=link.ask), 200
    link.act(subscriber)
    return render_template("message.html", page=link.done), 200
