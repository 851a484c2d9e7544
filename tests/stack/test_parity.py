"""`make parity` on a throw-away copy of the checkout: it passes as the repository is, and a
production value changed in one place only is named in each target that did not follow.

Python's standard library only: it runs on the host (make host-check).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from typing import ClassVar

from devtools.stack import CLEAN_ENV, copy_checkout, env_value, remove_images, run


class Parity(unittest.TestCase):
    """Production's source against Swarm and Kubernetes, in both directions."""

    dir: ClassVar[Path]

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = Path(tempfile.mkdtemp(prefix="tidings-parity-")) / "tidings"
        cls.dir.mkdir()
        copy_checkout(cls.dir)
        run(["make", ".env"], cls.dir)

    @classmethod
    def tearDownClass(cls) -> None:
        remove_images(env_value(cls.dir, "COMPOSE_PROJECT_NAME"))
        shutil.rmtree(cls.dir.parent, ignore_errors=True)

    def parity(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "parity"],  # noqa: S607  # make, with a fixed target
            cwd=self.dir,
            env=CLEAN_ENV,
            capture_output=True,
            text=True,
            check=False,
        )

    def parity_with(self, name: str, old: str, new: str) -> subprocess.CompletedProcess[str]:
        """`make parity` with `old` replaced by `new` in the copy's file `name`; the file, and
        the docs it rewrites, are put back afterwards."""
        paths = [self.dir / name, self.dir / "docs" / "production.md"]
        texts = [path.read_text() for path in paths]
        assert old in texts[0], f"{name} has no {old!r}"
        paths[0].write_text(texts[0].replace(old, new, 1))
        try:
            return self.parity()
        finally:
            for path, text in zip(paths, texts, strict=True):
                path.write_text(text)

    def test_as_it_is_every_difference_has_its_reason_and_the_docs_show_them(self) -> None:
        result = self.parity()
        assert result.returncode == 0, result.stderr
        assert "| web | replicas | 1 | 2 |" in result.stdout

    def test_a_value_changed_at_the_source_only_is_named_in_each_target(self) -> None:
        result = self.parity_with("compose.prod.yml", "memory: 384M", "memory: 512M")
        assert result.returncode != 0
        assert "swarm: web memory limit" in result.stderr, result.stderr
        assert "kubernetes: web memory limit" in result.stderr, result.stderr

    def test_a_value_changed_in_one_target_only_is_named_in_that_target(self) -> None:
        result = self.parity_with("deploy/swarm.yml", "memory: 384M", "memory: 512M")
        assert result.returncode != 0
        assert "swarm: web memory limit" in result.stderr, result.stderr
        assert "kubernetes:" not in result.stderr, result.stderr
