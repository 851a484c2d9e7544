"""devtools/testdb.py: the wait for the test stack's services."""

from __future__ import annotations

import pytest

from devtools import testdb


def test_a_service_that_does_not_answer_is_named(monkeypatch):
    monkeypatch.setattr(testdb, "SERVICES_WAIT_SECONDS", 0.5)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody:x@127.0.0.1:1/nothing")
    with pytest.raises(RuntimeError, match=r"^PostgreSQL \(DATABASE_URL\) did not answer within"):
        testdb.wait_for_services()
