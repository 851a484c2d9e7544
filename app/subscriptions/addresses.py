"""Email addresses as readers type them: normalised, then checked."""

from __future__ import annotations

import re

from app.subscriptions.models import MAX_EMAIL_LENGTH

MAX_LOCAL_LENGTH = 64
# Deliberately plain: printable ASCII without spaces, quotes or angle brackets in the
# local part; dot-separated labels with a letter-only (or IDNA-encoded) top-level domain.
# Matched whole (fullmatch): `$` alone would let a trailing newline through.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)


class InvalidEmailError(ValueError):
    """The text is not an address Tidings can deliver to; the message says why."""


def normalize_email(raw: str) -> str:
    """The address trimmed, its domain lower-cased and IDNA-encoded (`müller.de` is
    `xn--mller-kva.de`, as mail servers know it); the local part is the server's business."""
    local, at, domain = raw.strip().rpartition("@")
    if not at:
        return raw.strip()
    try:
        domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidEmailError("The part after the @ is not a valid domain.") from None
    return f"{local}{at}{domain}"


def valid_email(raw: str) -> str:
    """The normalised address, or InvalidEmailError saying what is wrong with it."""
    email = normalize_email(raw)
    if not email:
        raise InvalidEmailError("Enter an email address.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmailError(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    local, at, domain = email.rpartition("@")
    if not at or not local:
        raise InvalidEmailError("An email address looks like name@example.org.")
    if len(local) > MAX_LOCAL_LENGTH or not _LOCAL.fullmatch(local) or ".." in local:
        raise InvalidEmailError("The part before the @ is not valid.")
    if local.startswith(".") or local.endswith("."):
        raise InvalidEmailError("The part before the @ is not valid.")
    if not _DOMAIN.fullmatch(domain):
        raise InvalidEmailError("The part after the @ is not a valid domain.")
    return email
