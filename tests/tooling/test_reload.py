"""devtools/reload.py, which gives `web` and `worker` new code when a Python file changes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.reload import POLLING_MOUNTS, main, use_polling

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20


def start_reloader(tmp_path: Path, *args: str, polling: str = "false") -> subprocess.Popen[bytes]:
    """The reloader running `args` in `tmp_path`, watching it; its log goes to reload.log."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RELOAD_PATHS": str(tmp_path),
        "RELOAD_POLLING": polling,
    }
    with (tmp_path / "reload.log").open("w") as log:
        return subprocess.Popen(  # noqa: S603  # our own module
            [sys.executable, "-m", "devtools.reload", *args], cwd=tmp_path, env=env, stderr=log
        )


def logged(tmp_path: Path) -> str:
    """What the reloader and its command have written to stderr so far."""
    return (tmp_path / "reload.log").read_text()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the reloader as Docker does (SIGTERM)."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def wait_for(condition, *, keep_editing: Path | None = None) -> None:
    """Wait for `condition()`; meanwhile re-save `keep_editing`, in case the watcher took its
    first look at the files only after the first save. Later saves are each seen once."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if keep_editing is not None:
            keep_editing.write_text(keep_editing.read_text())
        time.sleep(0.05)
    raise AssertionError("the condition never held")


def runs(tmp_path: Path) -> list[str]:
    """The versions of job.py that have run, in order."""
    log = tmp_path / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


def job_module(tmp_path: Path, version: str) -> Path:
    """A program that appends `version` to runs.log, then waits to be stopped."""
    job = tmp_path / "job.py"
    job.write_text(
        "import pathlib, time\n"
        f"pathlib.Path('runs.log').open('a').write({version!r} + '\\n')\n"
        "time.sleep(600)\n"
    )
    return job


@pytest.mark.parametrize("polling", ["false", "true"])
def test_an_edit_restarts_the_command_and_a_broken_one_waits_for_the_fix(tmp_path, polling):
    job = job_module(tmp_path, "old")
    process = start_reloader(tmp_path, "job", polling=polling)
    try:
        wait_for(lambda: runs(tmp_path) == ["old"])
        job_module(tmp_path, "new")
        wait_for(lambda: "new" in runs(tmp_path), keep_editing=job)
        # Saved again at the same size, half a second apart within the same second.
        second, fraction = divmod(job.stat().st_mtime_ns, 10**9)
        job_module(tmp_path, "NEW")
        moved = second * 10**9 + (fraction + 10**9 // 2) % 10**9
        os.utime(job, ns=(moved, moved))
        wait_for(lambda: runs(tmp_path)[-1] == "NEW")
        job.write_text("raise SystemExit(3)\n")
        # The broken version exits at once; the reloader waits for the next change.
        broken = "job exited with status 3; it starts again when a file changes"
        wait_for(lambda: broken in logged(tmp_path))
        assert process.poll() is None
        job_module(tmp_path, "fixed")
        wait_for(lambda: runs(tmp_path)[-1] == "fixed")
    finally:
        stop(process)
    assert "job.py changed: reloading job" in logged(tmp_path)
    assert process.returncode == 128 + signal.SIGTERM, logged(tmp_path)  # the job's own end


def test_a_command_that_fails_before_any_change_ends_the_reloader(tmp_path):
    # A bad setting, say: no edit will fix it, and the container must show the failure.
    (tmp_path / "job.py").write_text("raise SystemExit(3)\n")
    process = start_reloader(tmp_path, "job")
    assert process.wait(timeout=30) == 3
    assert "job exited with status 3 before any change" in logged(tmp_path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wsgi_module(tmp_path: Path, body: str) -> Path:
    module = tmp_path / "hello.py"
    module.write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        f"    return [{body.encode()!r}]\n"
    )
    return module


def test_hup_reloads_gunicorn_without_refusing_a_request(tmp_path):
    port = free_port()
    module = wsgi_module(tmp_path, "old")
    url = f"http://127.0.0.1:{port}/"
    process = start_reloader(
        tmp_path, "--hup", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "hello:app"
    )

    def answer() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:  # a local test server
            body: str = response.read().decode()
            return body

    try:
        wait_for(lambda: _answers(answer))
        assert answer() == "old"
        wsgi_module(tmp_path, "new")
        # Every request during the reload is answered, by the old code or the new.
        deadline = time.monotonic() + WAIT_SECONDS
        while (body := answer()) != "new" and time.monotonic() < deadline:
            assert body == "old"
            module.write_text(module.read_text())
            time.sleep(0.05)
        assert body == "new"
    finally:
        stop(process)
    assert process.returncode == 0, logged(tmp_path)


def _answers(answer) -> bool:
    try:
        answer()
    except (urllib.error.URLError, ConnectionError):
        return False
    return True


def test_bad_polling_switch_is_refused_by_name(monkeypatch, capsys):
    monkeypatch.setenv("RELOAD_POLLING", "sometimes")
    assert main(["job"]) == 2
    assert "RELOAD_POLLING must be true, false or auto, got 'sometimes'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["--hup"], ["--polling", "job"]])
def test_a_command_is_required(argv, capsys):
    assert main(argv) == 2
    assert "usage: python -m devtools.reload" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "mount", "polls"),
    [
        ("auto", "ext4", False),
        ("auto", "overlay", False),
        ("auto", None, False),
        *[("auto", mount, True) for mount in sorted(POLLING_MOUNTS)],
        ("true", "ext4", True),
        ("YES", "ext4", True),
        ("false", "9p", False),
        ("0", "9p", False),
    ],
)
def test_polling_is_chosen_where_file_events_do_not_cross_the_mount(setting, mount, polls):
    assert use_polling(setting, mount) is polls


def test_the_file_event_probe_sees_a_change_and_reports_none_without(tmp_path):
    target = tmp_path / "probe"
    target.touch()
    command = [sys.executable, "-m", "devtools.events", str(target), "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as watcher:  # noqa: S603
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "watching"
        time.sleep(0.2)  # "watching" is printed just before the watch begins
        target.write_text("changed")
        assert watcher.stdout.readline().strip() == "event"
    quiet = subprocess.run(  # noqa: S603  # our own module
        [*command[:-1], "0.2"], env=env, capture_output=True, text=True, check=True
    )
    assert quiet.stdout.split() == ["watching", "none"]
