"""Tests of the app, mirroring app/: against the test stack's PostgreSQL, Redis and Mailpit
where they need them (the fixtures are in conftest.py)."""
