"""Property-based input on every public and admin endpoint: never a 5xx, never a traceback.

Against the real services, through the app's test client. Examples are derived, not random,
so that a run in CI is the run on a laptop; a failure prints the input that caused it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.testdb import ADMIN

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text that includes what breaks naive code: line separators, NUL, surrogates' neighbours,
# right-to-left marks, very long runs.
TEXT = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", " ", "\x00", "\u2028", "a\r\nb", "\u202e", "9" * 40, "-1", "1e309", "[" * 200]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# Everything JSON can carry in a string, unpaired surrogates and NUL included: PostgreSQL
# refuses both in text, so they must be caught before the database is.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfff", "\u2028"]
)
# An issue that passes every other check, with such text in one field: it reaches the insert.
ISSUE = st.fixed_dictionaries(
    {"subject": st.just("Subject") | ANY_TEXT, "body": st.just("Body") | ANY_TEXT}
)
# Object bodies with the fields the endpoints read, so that validation is reached.
FIELDS = st.fixed_dictionaries(
    {}, optional={"email": JSON, "subject": JSON, "body": JSON}
) | st.dictionaries(TEXT, JSON, max_size=3)
# What an HTTP client can put in a header: printable ASCII.
HEADER = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)
SEGMENT = TEXT.filter(lambda s: "/" not in s and s not in {"", ".", ".."}) | st.integers().map(str)


@pytest.fixture
def fuzz_client(make_app):
    """A client whose rate limit never hides a response."""
    return make_app(SUBSCRIBE_RATE_LIMIT="10000").test_client()


def assert_handled(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:500]
    assert "Traceback" not in body


@FUZZ
@given(body=FIELDS | JSON)
def test_the_json_endpoints_answer_any_body_with_a_4xx_or_success(fuzz_client, body):
    data = json.dumps(body)
    for path, headers in (("/api/subscribers", {}), ("/api/issues", ADMIN)):
        response = fuzz_client.post(
            path, data=data, content_type="application/json", headers=headers
        )
        assert_handled(response)


@FUZZ
@given(issue=ISSUE)
def test_an_issue_with_any_text_is_stored_or_refused_naming_the_field(fuzz_client, issue):
    response = fuzz_client.post(
        "/api/issues", data=json.dumps(issue), headers=ADMIN, content_type="application/json"
    )
    assert_handled(response)
    if response.status_code == 422:
        assert response.get_json()["field"] in issue


@FUZZ
@given(raw=st.binary(max_size=500), content_type=HEADER)
def test_any_bytes_under_any_content_type_get_a_clear_answer(fuzz_client, raw, content_type):
    for path, headers in (("/api/subscribers", {}), ("/api/issues", ADMIN), ("/subscribe", {})):
        response = fuzz_client.post(path, data=raw, content_type=content_type, headers=headers)
        assert_handled(response)


@FUZZ
@given(email=TEXT)
def test_the_form_answers_any_address(fuzz_client, email):
    assert_handled(fuzz_client.post("/subscribe", data={"email": email}))


@FUZZ
@given(segment=SEGMENT)
def test_every_path_with_a_parameter_answers_any_value(fuzz_client, segment):
    for method, path, headers in (
        ("get", f"/issues/{segment}", {}),
        ("get", f"/confirm/{segment}", {}),
        ("post", f"/confirm/{segment}", {}),
        ("get", f"/unsubscribe/{segment}", {}),
        ("post", f"/unsubscribe/{segment}", {}),
        ("get", f"/api/issues/{segment}", ADMIN),
        ("post", f"/api/issues/{segment}/publish", ADMIN),
    ):
        assert_handled(getattr(fuzz_client, method)(path, headers=headers))


@FUZZ
@given(token=HEADER)
def test_the_admin_api_answers_any_authorization(fuzz_client, token):
    for header in (token, f"Bearer {token}"):
        response = fuzz_client.get("/api/issues", headers={"Authorization": header})
        assert_handled(response)
