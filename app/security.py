"""Browser-facing protections: security headers on every response, same-origin form posts."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import Forbidden

# Pages run no script at all; the one stylesheet is inline. Forms post back to Tidings only,
# and no other site may frame a page (clickjacking on the confirm and unsubscribe buttons).
# connect-src 'self': what a browser fetches for the page itself (crawlers' checks read
# robots.txt so); with no script, nothing else could fetch.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Links in emails carry tokens: a page must not hand its URL to the next site.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask) -> None:
    """Add the security headers to every response."""
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # Werkzeug's debugger (FLASK_DEBUG=1, development only) runs scripts of its own.
    if response.mimetype == "text/html" and not current_app.debug:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def same_origin[**P, R](view: Callable[P, R]) -> Callable[P, R]:
    """403 for a form posted from another site (cross-site request forgery).

    Browsers say where a request comes from in Sec-Fetch-Site, or else in Origin; a request
    with neither (curl, an old browser) is not a browser acting for another site.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        refuse_cross_site()
        return view(*args, **kwargs)

    return wrapper


def refuse_cross_site() -> None:
    """403 for a request another site's page made."""
    if _cross_site():
        raise Forbidden("Forms are accepted from this site's own pages only.")


def _cross_site() -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # Scheme, host and port, whole: an https page may not post to the http site, or back.
    return origin != f"{request.scheme}://{request.host}"
