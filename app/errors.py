"""Error responses: JSON for the API and probes, a page for people; never a stack trace."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

# Paths whose callers are programs and expect JSON errors.
JSON_PREFIXES = ("/api/", "/healthz", "/readyz")


def init_app(app: Flask) -> None:
    """Answer every HTTP error, including the 500 Flask makes of an unexpected exception.

    Flask logs the traceback of an unexpected exception before it reaches this handler.
    """
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(OperationalError, database_error)
    # A connection the server closed under a request (a restart): the same outage.
    app.register_error_handler(InterfaceError, database_error)


# Seconds a client is told to wait while the database is away (a restart takes a few).
RETRY_AFTER_SECONDS = 5


def database_error(error: OperationalError | InterfaceError) -> tuple[Response, int]:
    """503 while the database is unreachable or a statement timed out: nobody's input (a
    mistake in SQL is a 500, as any bug)."""
    current_app.logger.warning("database error: %s", error.orig or error)
    unavailable = ServiceUnavailable(
        "The database is not answering just now; try again in a few seconds.",
        retry_after=RETRY_AFTER_SECONDS,
    )
    return http_error(unavailable)


def http_error(error: HTTPException) -> tuple[Response, int]:
    """The error as JSON for programs, as a page for browsers."""
    code = error.code or 500
    message = error.description or error.name
    if request.path.startswith(JSON_PREFIXES) or not request.accept_mimetypes.accept_html:
        response = jsonify(error=message)
    else:
        page = render_template("error.html", code=code, name=error.name, message=message)
        response = Response(page, mimetype="text/html")
    # Keep what the error says beyond its body, such as Retry-After or Allow.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, code
