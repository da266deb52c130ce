"""Shared fixtures: the real data from ../shared/datasets, one decode cache, one training run, one Streamlit server
and one Chromium for the whole session.

The two tiers. A test is in the slow tier (marked ``slow``; ``pytest -m "not slow"`` is the fast tier) when it uses,
directly or through another fixture, one of SLOW_FIXTURES, or carries ``@pytest.mark.slow`` itself:

- ``archive``, ``cifar``: decode the shared archive;
- ``trained_checkpoints``: three models really trained (once per session, shared by every test that asks);
- ``run_script``: a script in a subprocess (torch's import alone takes seconds, and most scripts load the data);
- ``playwright``, ``browser``, ``app_url``: headless Chromium and a ``streamlit run`` server (one each per
  session).

pytest knows every fixture a test uses before it runs it, so the mark follows from the test's signature (and from the
fixtures those fixtures use), never from its source text. A test that starts a script asks for the ``run_script``
fixture; the function of that name refuses to run in a test that is not marked slow, so a test that forgets the
fixture fails with a message saying so instead of landing in the fast tier. A test that starts a subprocess another
way marks itself ``@pytest.mark.slow`` (or uses ``run_script``). tests/test_tiers.py checks this rule.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"

SLOW_FIXTURES = {"archive", "cifar", "trained_checkpoints", "run_script", "playwright", "browser", "app_url"}
_running: dict[str, pytest.Item] = {}  # the test being set up, run or torn down (what run_script checks)


def pytest_collection_modifyitems(items):
    """Mark `slow` every test that uses a slow fixture, directly or through other fixtures."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["test"] = item


def pytest_runtest_logfinish():
    _running.pop("test", None)


@pytest.fixture(scope="session")
def archive() -> Path:
    assert SHARED_ARCHIVE.is_file(), f"the shared data set is expected at {SHARED_ARCHIVE}"
    return SHARED_ARCHIVE


@pytest.fixture(scope="session", autouse=True)
def data_environment(tmp_path_factory):
    """Every test (and every subprocess it starts) finds the shared data and one decode cache (the fast tier never
    reads them: the `cifar` fixture checks the archive is there)."""
    cache = tmp_path_factory.mktemp("cifar-cache")
    saved = {k: os.environ.get(k) for k in ("CIFAR10_DATA", "CIFAR10_CACHE")}
    os.environ["CIFAR10_DATA"] = str(SHARED_ARCHIVE)
    os.environ["CIFAR10_CACHE"] = str(cache)
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def cifar(data_environment, archive):
    from cifar_models.data import load_cifar10

    return load_cifar10(progress=False)


def run_script(*args: str, timeout: float = 900, check: bool = True,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one of scripts/*.py (or a module) as a real subprocess from the repo root, in ``env`` (default: this
    process's environment); returns CompletedProcess. Tests reach it through the ``run_script`` fixture, which puts
    them in the slow tier."""
    test = _running.get("test")
    if test is not None and test.get_closest_marker("slow") is None:
        raise AssertionError(f"{test.nodeid} runs a script but is in the fast tier: ask for the `run_script` "
                             "fixture (def test_...(run_script, ...)), which marks it slow")
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(name="run_script", scope="session")
def run_script_fixture():
    """:func:`run_script`, for a test that starts scripts (and is therefore slow)."""
    return run_script


SMOKE_SUBSET = 2000


@pytest.fixture(scope="session")
def trained_checkpoints(tmp_path_factory, data_environment) -> Path:
    """All three models really trained on CPU by `train_all.py --subset 2000 --epochs 2` (about 5 minutes)."""
    out = tmp_path_factory.mktemp("checkpoints")
    run_script("scripts/train_all.py", "--subset", str(SMOKE_SUBSET), "--epochs", "2", "--device", "cpu",
               "--out", str(out), "--quiet")
    return out


@pytest.fixture
def open_app(monkeypatch):
    """``open_app(page, checkpoints, data=None)``: the dashboard run in AppTest on ``page`` with those checkpoints."""
    from apptest_helpers import open_app_on

    return lambda page, checkpoints, data=None: open_app_on(monkeypatch, page, checkpoints, data)


@pytest.fixture(scope="session")
def untrained_checkpoints(tmp_path_factory) -> Path:
    """The three architectures, untrained (seeded), saved as real checkpoints with complete run records: for page
    tests where what the weights learned is not the point (seconds, not the minutes of `trained_checkpoints`)."""
    import torch

    from cifar_models import MODELS, build_model
    from cifar_models.checkpoint import save_checkpoint
    from run_records import run_record

    root = tmp_path_factory.mktemp("untrained")
    for name in MODELS:
        torch.manual_seed(0)
        model = build_model(name).eval()
        record = run_record(name, 0.1, params=model.num_parameters(), macs=model.macs_per_image(),
                            device="AMD EPYC (2 threads)")
        save_checkpoint(model, record, root / name)
    return root


@pytest.fixture(scope="session")
def playwright():
    """Playwright's driver; fails the test (as the README's test command installs one) where there is no Chromium."""
    from playwright.sync_api import sync_playwright

    from dashboard.browser import NO_CHROMIUM, chromium_executable

    with sync_playwright() as driver:
        if chromium_executable(driver) is None:
            pytest.fail(NO_CHROMIUM)
        yield driver


@pytest.fixture(scope="session")
def browser(playwright):
    """One headless Chromium for the session; each test opens its own tabs (`dashboard.browser.open_page`)."""
    from dashboard.browser import launch_chromium

    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def app_url(trained_checkpoints, tmp_path_factory):
    """The app served by one real `streamlit run` on the trained checkpoints for the session (tests must not write
    into its folder: serve a copy of your own for that, as tests/test_browser.py's `writable_app` does)."""
    from dashboard.browser import serve_dashboard

    with serve_dashboard(trained_checkpoints, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url
