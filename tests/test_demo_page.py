"""The demo page at GET /: served as HTML, and in a real (headless) browser it
connects to the Streams socket as a watcher: it takes no scans from the apps.

The page's live behaviour (scans as they are made, the simulated MARK display)
is driven over the DevTools protocol in tests/test_web_client.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServerProcess, start_server
from streams_helpers import connect, http, post_scan


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    s = start_server("--port", "0", "--log-level", "warning", "--gateway-serial", "GW-DEMO")
    yield s
    s.stop()


def test_get_root_without_upgrade_is_the_demo_page(server: ServerProcess) -> None:
    status, headers, body = http("GET", server.http_url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "<title>scanbridge</title>" in page
    assert 'id="scans"' in page and 'from "/scanbridge.js"' in page


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None:
        return None
    for cmd in (
        ["apt-get", "install", "-y", "-q", "chromium"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "chromium"],
    ):
        try:
            subprocess.run(cmd, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = shutil.which("chromium")
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        pytest.skip("chromium is not installed and `apt-get install -y chromium` did not work")
    return path


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_page_in_headless_chromium_watches_and_leaves_scans_to_apps(
    server: ServerProcess, chromium: str, tmp_path: Path
) -> None:
    # Two scans while no app is connected: the page (a watcher) does not take them.
    for code in ("4006381333931", "SSCC-Ü&<42>"):
        assert post_scan(server.http_url, code, device_serial="DEMO-DEV")[0] == 201
    url = server.http_url + "/"
    r = _browser(chromium, tmp_path / "p1", "--virtual-time-budget=4000", "--dump-dom", url)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    tbody = re.search(r'<tbody id="scans">(.*?)</tbody>', dom, re.S)
    assert tbody, dom[-2000:]
    assert re.findall(r'<td class="code">(.*?)</td>', tbody.group(1)) == [], dom[-3000:]
    assert re.search(r'<span id="status" class="live">live</span>', dom), "page not connected"
    assert "gateway GW-DEMO" in dom  # the gateway_state every client gets first
    # An app that connects after the page still gets both.
    with connect(server.url + "/") as app:
        codes = [e["scan_code"] for e in app.scans(2)]
    assert codes == ["4006381333931", "SSCC-Ü&<42>"]

    shot = tmp_path / "page.png"
    r = _browser(
        chromium,
        tmp_path / "p2",
        "--virtual-time-budget=2000",
        f"--screenshot={shot}",
        "--window-size=1000,600",
        url,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1000, 600)
