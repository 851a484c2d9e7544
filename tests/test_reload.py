"""scripts/reload, which restarts the worker on code changes, in both of its modes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "reload"
WAIT_SECONDS = 20


def wait_for_line(path: Path, text: str, *, keep_editing: Path | None = None) -> None:
    """Wait for `text` in `path`; meanwhile re-save `keep_editing`, in case the watcher took
    its first look at the files only after the first save."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text().splitlines():
            return
        if keep_editing is not None:
            keep_editing.write_text(keep_editing.read_text())
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text()!r}")


@pytest.mark.parametrize("polling", ["false", "true"])
def test_command_restarts_with_the_new_code(tmp_path, polling):
    code = tmp_path / "job.py"
    log = tmp_path / "runs.log"
    code.write_text("VERSION = 'old'\n")
    program = (
        f"import job, pathlib, time; "
        f"pathlib.Path({str(log)!r}).open('a').write(job.VERSION + '\\n'); time.sleep(60)"
    )
    env = {**os.environ, "RELOAD_PATHS": str(tmp_path), "RELOAD_POLLING": polling}
    env.pop("WATCHFILES_FORCE_POLLING", None)
    process = subprocess.Popen(  # noqa: S603  # our own script
        [str(SCRIPT), "python", "-c", program],
        cwd=tmp_path,
        env=env,
    )
    try:
        wait_for_line(log, "old")
        code.write_text("VERSION = 'new'\n")
        wait_for_line(log, "new", keep_editing=code)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bad_polling_switch_is_refused_by_name():
    result = subprocess.run(  # noqa: S603  # our own script
        [str(SCRIPT), "true"],
        env={**os.environ, "RELOAD_POLLING": "sometimes"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "RELOAD_POLLING must be true, false or auto" in result.stderr
