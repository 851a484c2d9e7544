"""Reading request bodies (JSON objects, forms, text fields), and errors that name the bad field."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ApiError(Exception):
    """A client error answered as `{"error": message, "field": field}`."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def init_app(app: Flask) -> None:
    """Answer ApiError as JSON."""
    app.register_error_handler(ApiError, _api_error)


def _api_error(error: ApiError) -> tuple[Response, int]:
    body: dict[str, str] = {"error": error.message}
    if error.field is not None:
        body["field"] = error.field
    return jsonify(body), error.status


def json_object() -> dict[str, Any]:
    """The request's JSON object; 415 for another content type, 400 for malformed JSON."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    try:
        body = request.get_json()
    except BadRequest:
        raise ApiError("The body is not valid JSON.", status=400) from None
    except RecursionError:
        raise ApiError("The body is nested too deeply.", status=400) from None
    if not isinstance(body, dict):
        raise ApiError("The body must be a JSON object.", status=400)
    return body


def require_form() -> None:
    """415 unless the request carries an HTML form."""
    if request.mimetype not in FORM_TYPES:
        raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded.")


def text_field(body: dict[str, Any], name: str, *, max_length: int, single_line: bool) -> str:
    """`body[name]` as a stripped, non-empty string of at most `max_length` characters."""
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(f"{name} is required and must be a string.", field=name)
    value = value.strip()
    if not value:
        raise ApiError(f"{name} must not be empty.", field=name)
    if len(value) > max_length:
        raise ApiError(f"{name} must be at most {max_length} characters.", field=name)
    # Every separator Python's email package refuses in a header, not only CR and LF.
    if single_line and len(value.splitlines()) > 1:
        raise ApiError(f"{name} must be a single line.", field=name)
    if not storable_text(value):
        raise ApiError(
            f"{name} must be text without NUL characters or unpaired surrogates.", field=name
        )
    return value


def storable_text(value: str) -> bool:
    """Whether PostgreSQL stores `value` as text: UTF-8 (JSON may escape a lone surrogate,
    which UTF-8 cannot encode) and no NUL character, which text columns refuse."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value
