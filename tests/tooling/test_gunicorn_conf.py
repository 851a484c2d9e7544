"""gunicorn.conf.py: the web server's settings, and an access log that keeps links private."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config

CONF = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))


def access_atoms(path: str, referer: str = "-") -> dict[str, object]:
    logger = CONF["RedactingLogger"](Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": referer,
    }
    request = SimpleNamespace(headers=[("REFERER", referer)])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms: dict[str, object] = logger.atoms(response, request, environ, timedelta(seconds=1))
    return atoms


def test_email_link_tokens_never_reach_the_access_log():
    atoms = access_atoms("/unsubscribe/eyJpZCI6MX0.abc.def", referer="https://x/confirm/eyJ.a.b")
    line = " ".join(str(value) for value in atoms.values())
    assert "eyJ" not in line
    assert atoms["r"] == "GET /unsubscribe/<token> HTTP/1.1"
    assert atoms["f"] == "https://x/confirm/<token>"


def test_other_paths_are_logged_as_they_are():
    assert access_atoms("/issues/7")["U"] == "/issues/7"


def test_the_server_keeps_no_file_on_the_root_filesystem():
    assert CONF["worker_tmp_dir"] == "/dev/shm"  # noqa: S108  # compared, not used
    assert CONF["logger_class"] is CONF["RedactingLogger"]
