"""The owner's pages for subscribers (/admin/subscribers): found and paged, exported as CSV,
imported from CSV with a report of each line not taken, and erased one by one."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.wrappers import Response

from app.database import MAX_ID, session
from app.owner import owner_required
from app.subscriptions import roster
from app.subscriptions.models import Subscriber, SubscriberStatus

bp = Blueprint("owner_subscribers", __name__, url_prefix="/admin/subscribers")
SUBSCRIBER = f"/<int(max={MAX_ID}):subscriber_id>"


@bp.get("")
@owner_required
def index() -> str:
    """A page of subscribers, by the start of their address and their status."""
    starting, status = request.args.get("q", "").strip(), _status()
    after = request.args.get("after", 0, type=int)
    subscribers = roster.page(starting, status, max(after, 0))
    return render_template(
        "owner/subscribers.html",
        subscribers=subscribers,
        q=starting,
        status=status,
        statuses=list(SubscriberStatus),
        next_after=subscribers[-1].id if len(subscribers) == roster.PAGE_SIZE else None,
        erased=request.args.get("erased"),
    )


@bp.get("/export.csv")
@owner_required
def export() -> Response:
    """Every subscriber (of the status asked for) as CSV, streamed batch by batch; each
    batch is read in an app context of its own (the request's is over by then)."""
    app, status = current_app._get_current_object(), _status()  # type: ignore[attr-defined]

    def rows() -> Iterator[str]:
        yield roster.CSV_HEADER
        lines, after = "", 0
        while True:
            with app.app_context():
                lines, after = roster.export_batch(status, after)
            if not lines:
                return
            yield lines

    disposition = {"Content-Disposition": "attachment; filename=tidings-subscribers.csv"}
    return FlaskResponse(rows(), mimetype="text/csv", headers=disposition)


@bp.get("/import")
@owner_required
def import_form() -> str:
    """The import's form."""
    return render_template("owner/import.html", report=None)


@bp.post("/import")
@owner_required
def import_csv() -> str:
    """Invite the new addresses of an uploaded CSV; report what happened to each line."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("Choose a CSV file of addresses, one a line.")
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("The file is not UTF-8 text: save it as CSV (UTF-8).") from None
    return render_template("owner/import.html", report=roster.import_addresses(text))


@bp.get(f"{SUBSCRIBER}/erase")
@owner_required
def confirm_erase(subscriber_id: int) -> str:
    """Ask before erasing."""
    subscriber = session().get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound("There is no such subscriber.")
    return render_template("owner/erase.html", subscriber=subscriber)


@bp.post(f"{SUBSCRIBER}/erase")
@owner_required
def erase(subscriber_id: int) -> Response:
    """Erase the subscriber and their deliveries."""
    if not roster.erase(subscriber_id):
        raise NotFound("There is no such subscriber.")
    return redirect(url_for(".index", erased=1))


def _status() -> SubscriberStatus | None:
    """The status asked for, or None for any; 400 for one that does not exist."""
    raw = request.args.get("status", "")
    try:
        return SubscriberStatus(raw) if raw else None
    except ValueError:
        raise BadRequest(f"There is no status {raw!r}.") from None
