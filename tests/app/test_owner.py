"""The owner's session on the admin pages: signing in and out, and what guards every form."""

from __future__ import annotations

import re

import pytest

from devtools.testdb import OWNER_PASSWORD


def sign_in(client, password: str = OWNER_PASSWORD, **extra: str):
    return client.post("/admin/sign-in", data={"password": password, **extra})


def form_token(client) -> str:
    page = client.get("/admin/issues/new").get_data(as_text=True)
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, page
    return match[1]


def test_the_admin_pages_send_whoever_is_not_signed_in_to_sign_in(client):
    for path in ("/admin/", "/admin/issues/new", "/admin/subscribers"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/sign-in?next=/admin/")


def test_signing_in_opens_them_with_a_guarded_cookie_and_signing_out_closes_them(client):
    response = sign_in(client, next="/admin/subscribers")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/subscribers"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("tidings_owner=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Expires="):
        assert attribute in cookie, cookie
    assert client.get("/admin/").status_code == 200
    token = form_token(client)
    assert client.post("/admin/sign-out", data={"form_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


def test_in_development_the_cookie_works_over_plain_http(make_app):
    response = sign_in(make_app(APP_ENV="development").test_client())
    assert "Secure" not in response.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_and_attempts_are_limited(make_app):
    client = make_app(SIGN_IN_RATE_LIMIT="2").test_client()
    answers = [sign_in(client, "wrong").status_code for _ in range(3)]
    assert answers == [401, 401, 429]
    assert sign_in(client).status_code == 429  # the right one waits too
    assert client.get("/admin/").status_code == 302


def test_without_a_password_hash_the_admin_pages_are_closed(make_app):
    client = make_app(ADMIN_PASSWORD_HASH="").test_client()
    response = client.get("/admin/sign-in", headers={"Accept": "text/html"})
    assert response.status_code == 503
    assert b"make admin-password" in response.data
    assert sign_in(client).status_code == 503


@pytest.mark.parametrize("next_page", ["https://evil.example/", "//evil.example/", "/api/issues"])
def test_signing_in_never_sends_the_owner_off_the_admin_pages(client, next_page):
    response = sign_in(client, next=next_page)
    assert response.headers["Location"] == "/admin/"


def test_a_form_needs_the_sessions_token_and_this_sites_origin(client):
    sign_in(client)
    token = form_token(client)
    fields = {"subject": "Hello", "body": "World"}
    assert client.post("/admin/issues", data=fields).status_code == 400
    assert client.post("/admin/issues", data={**fields, "form_token": "forged"}).status_code == 400
    cross = {"Sec-Fetch-Site": "cross-site"}
    response = client.post("/admin/issues", data={**fields, "form_token": token}, headers=cross)
    assert response.status_code == 403
    assert client.post("/admin/issues", data={**fields, "form_token": token}).status_code == 302


def test_the_admin_json_api_still_takes_its_token(client):
    assert client.get("/api/issues").status_code == 401
