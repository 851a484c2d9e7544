"""The owner's pages for issues (/admin): the list with each one's progress, writing and
editing a draft in Markdown, its preview as readers will get it, a test to the owner, and
publishing it once the page has said how many readers it goes to."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import Conflict
from werkzeug.wrappers import Response

from app.database import MAX_ID
from app.newsletter import rendering, service
from app.newsletter.models import MAX_BODY_LENGTH, MAX_SUBJECT_LENGTH, Issue, IssueStatus
from app.owner import owner_required
from app.validation import ApiError, require_form, text_field

bp = Blueprint("owner_issues", __name__, url_prefix="/admin")
ISSUE = f"/issues/<int(max={MAX_ID}):issue_id>"
# Seconds between refreshes of a delivery's progress page (no script: the page reloads).
REFRESH_SECONDS = 5


@bp.get("/")
@owner_required
def index() -> str:
    """Every issue, newest first, with its delivery counts."""
    issues = service.issues_newest_first()
    counts = service.delivery_counts([issue.id for issue in issues])
    return render_template("owner/issues.html", issues=issues, counts=counts)


@bp.get("/issues/new")
@owner_required
def new() -> str:
    """An empty draft's form."""
    return render_template("owner/issue_form.html", issue=None, fields={})


@bp.post("/issues")
@owner_required
def create() -> tuple[str, int] | Response:
    """Save a new draft, then show its preview; the form again, with the error, if invalid."""
    try:
        issue = service.create_issue(**_fields())
    except ApiError as error:
        return _form_again(None, error)
    return redirect(url_for(".preview", issue_id=issue.id))


@bp.get(ISSUE)
@owner_required
def preview(issue_id: int) -> str:
    """The issue as readers will get it: its HTML and its text, and what can be done next."""
    issue = service.get_issue(issue_id)
    return render_template(
        "owner/issue.html",
        issue=issue,
        html=rendering.to_html(issue.body),
        owner_email=current_app.config["OWNER_EMAIL"],
        tested=request.args.get("tested") == "1",
    )


@bp.get(f"{ISSUE}/edit")
@owner_required
def edit(issue_id: int) -> str:
    """A draft's form, filled in."""
    issue = _draft(issue_id)
    return render_template("owner/issue_form.html", issue=issue, fields=vars(issue))


@bp.post(f"{ISSUE}/edit")
@owner_required
def save(issue_id: int) -> tuple[str, int] | Response:
    """Save the draft's new text, then show its preview."""
    issue = _draft(issue_id)
    try:
        service.update_draft(issue_id, **_fields())
    except ApiError as error:
        return _form_again(issue, error)
    return redirect(url_for(".preview", issue_id=issue_id))


@bp.post(f"{ISSUE}/test")
@owner_required
def send_test(issue_id: int) -> Response:
    """Queue a test of the issue to OWNER_EMAIL."""
    service.get_issue(issue_id)
    if not current_app.config["OWNER_EMAIL"]:
        raise Conflict("Set OWNER_EMAIL to receive tests.")
    service.queue_test(issue_id, current_app.config["OWNER_EMAIL"])
    return redirect(url_for(".preview", issue_id=issue_id, tested=1))


@bp.get(f"{ISSUE}/publish")
@owner_required
def confirm_publish(issue_id: int) -> str:
    """Ask before publishing, saying how many readers the issue goes to."""
    return render_template("owner/publish.html", issue=_draft(issue_id), readers=service.readers())


@bp.post(f"{ISSUE}/publish")
@owner_required
def publish(issue_id: int) -> Response:
    """Publish the draft; then its delivery's progress."""
    _draft(issue_id)
    service.publish(issue_id)
    return redirect(url_for(".progress", issue_id=issue_id))


@bp.get(f"{ISSUE}/progress")
@owner_required
def progress(issue_id: int) -> str:
    """Sent, pending, deferred and failed, with the reasons; reloads itself until done."""
    issue = service.get_issue(issue_id)
    counts = service.delivery_counts([issue_id])[issue_id]
    busy = issue.status is IssueStatus.PUBLISHED and (
        issue.fanned_out_at is None or counts.get("pending", 0) + counts.get("deferred", 0) > 0
    )
    return render_template(
        "owner/progress.html",
        issue=issue,
        counts=counts,
        errors=service.delivery_errors(issue_id),
        refresh=REFRESH_SECONDS if busy else None,
    )


def _fields() -> dict[str, str]:
    """The form's subject and body, checked as the API checks them; ApiError if invalid."""
    require_form()
    form = request.form.to_dict()
    return {
        "subject": text_field(form, "subject", max_length=MAX_SUBJECT_LENGTH, single_line=True),
        "body": text_field(form, "body", max_length=MAX_BODY_LENGTH, single_line=False),
    }


def _form_again(issue: Issue | None, error: ApiError) -> tuple[str, int]:
    page = render_template(
        "owner/issue_form.html", issue=issue, fields=request.form, error=error.message
    )
    return page, 422


def _draft(issue_id: int) -> Issue:
    """The issue, or 409 once it is published (it went out as it was)."""
    issue = service.get_issue(issue_id)
    if issue.status is not IssueStatus.DRAFT:
        raise Conflict("This issue is published: it went out as it is, and stays so.")
    return issue
