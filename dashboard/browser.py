"""The dashboard served by a real ``streamlit run`` on a free local port, and headless Chromium to drive it: shared by
the browser tests (tests/test_browser.py) and the page benchmark (scripts/benchmark_dashboard.py).

Chromium is the system's (``$CHROMIUM``, else ``chromium``, ``chromium-browser`` or ``google-chrome`` on the PATH;
Debian's ``chromium`` package is what ``scripts/setup_test_env.sh`` installs), else Playwright's own build where
``python -m playwright install chromium`` put one. Nothing here imports Streamlit or Playwright.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .settings import CHECKPOINTS_ENV

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ENV = "CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CHROMIUM = (f"no Chromium found (looked at ${CHROMIUM_ENV}, {', '.join(CHROMIUM_NAMES)} on the PATH and "
               "Playwright's own build); run scripts/setup_test_env.sh to install one")
# Streamlit's own end-to-end tests wait on these attributes: connected, and the script run finished.
RUN_FINISHED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
# Everything drawn: no skeletons, every image loaded, every chart's marks in its SVG (a page's script run can end
# before the browser has drawn what it sent).
EVERYTHING_DRAWN = """() => (!document.querySelector('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"]')
  && [...document.images].every(image => image.complete && image.naturalWidth > 0)
  && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
       .every(chart => chart.querySelector('svg .role-mark')))"""
VIEWPORT = {"width": 1400, "height": 3600}  # tall: Streamlit scrolls inside the page, so this shows it all


def system_chromium() -> str | None:
    """The system's Chromium executable, or None."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return named if Path(named).is_file() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def chromium_executable(playwright) -> str | None:
    """The system's Chromium, else Playwright's own build where it is installed, else None."""
    bundled = playwright.chromium.executable_path
    return system_chromium() or (bundled if bundled and Path(bundled).is_file() else None)


def launch_chromium(playwright):
    """Headless Chromium; RuntimeError(NO_CHROMIUM) where there is none."""
    executable = chromium_executable(playwright)
    if executable is None:
        raise RuntimeError(NO_CHROMIUM)
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_dashboard(checkpoints: Path, log_path: Path, start_timeout: float = 60) -> Iterator[str]:
    """`streamlit run dashboard/Home.py` on a free local port with these checkpoints; yields its URL."""
    port = free_port()
    environment = {**os.environ, CHECKPOINTS_ENV: str(checkpoints)}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/Home.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def open_page(browser, app_url: str, path: str):
    """A new tab (a new Streamlit session) on ``path``, returned once the page's script run has finished."""
    page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
    page.goto(f"{app_url}/{path}")
    page.wait_for_selector(RUN_FINISHED, timeout=120_000)
    return page
