"""python/scanbridge/_core.pyi tells the truth about the built extension:
mypy's stubtest compares every name, signature and default both ways
(``make lint`` runs the same check). Skipped where mypy is not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("mypy.stubtest")


def test_core_stub_matches_runtime() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--concise", "scanbridge._core"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
