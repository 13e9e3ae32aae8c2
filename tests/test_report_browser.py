"""The audit report in a real browser: headless Chromium renders it without console errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from consensus.audit import audit

XSS = "<script>alert(1)</script>"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str | None:
    explicit = os.environ.get("CONSENSUS_BROWSER")
    if explicit:
        return explicit
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


BROWSER = _browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on PATH (.ci/run installs it with apt-get install chromium; "
    "set CONSENSUS_BROWSER to another Chromium-family binary)")


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    rows = []
    for i in range(40):
        for w, name in enumerate(["ann-1", "ann-2", "ann-3", XSS]):
            label = ["yes", "no"][(i + (w == 3) * (i % 3 == 0)) % 2]
            rows.append((f"<i>item</i>{i}", name, label, 3.0 + w + (i % 5)))
    frame = pl.DataFrame(rows, schema=["item", "worker", "label", "duration"], orient="row")
    gold = frame.filter(pl.col("worker") == "ann-1").select("item", "label").head(15)
    out = tmp_path_factory.mktemp("report")
    audit(frame, gold=gold, claimed_accuracy=0.95).write(out)
    return out / "report.html"


def test_report_renders_without_console_errors(report: Path) -> None:
    done = _run("--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    dom = done.stdout
    assert 'data-report-ready="1"' in dom  # the report's script ran to the end
    assert "Verdict on the claim" in dom and "Annotator reliability" in dom
    # the attacker-named annotator is text, never an element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert not re.search(r"<script>\s*alert", dom)
    assert "<i>item</i>" not in dom and "&lt;i&gt;item&lt;/i&gt;" in dom


def test_report_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _run("--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few kB
