"""Headless Chromium (Debian's, installed by `make browser`) rendering a page as a reader's browser would: a
screenshot, or the page's DOM once its scripts and layout have run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import CHROMIUM

PNG = b"\x89PNG\r\n\x1a\n"


def _chromium(page: Path, profile: Path, *asked: str) -> str:
    assert CHROMIUM, "chromium is not installed: `make test` installs Debian's chromium package"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *asked,
            page.as_uri(),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, folder: Path) -> Path:
    """``page`` drawn 1000 pixels wide into a PNG in ``folder``; fails the test unless Chromium drew something."""
    png = folder / f"{page.stem}.png"
    _chromium(page, folder / "profile", "--hide-scrollbars", "--window-size=1000,1800", f"--screenshot={png}")
    assert png.read_bytes()[:8] == PNG and png.stat().st_size > 20_000, page.name
    return png


def rendered_dom(page: Path, folder: Path) -> str:
    """``page``'s DOM as Chromium renders it."""
    return _chromium(page, folder / "profile", "--dump-dom")
