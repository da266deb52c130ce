"""Shared fixtures: the real data from ../shared/datasets and one decode cache for the whole session."""
from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


# Tests that use one of these are in the slow tier: they decode the shared archive, train for real or drive Chromium.
SLOW_FIXTURES = {"archive", "cifar", "trained_checkpoints", "app_url", "browser"}


def pytest_collection_modifyitems(items):
    """Mark `slow` every test that uses a slow fixture or runs a script in a subprocess (:func:`run_script`), so
    `pytest -m "not slow"` is the fast tier."""
    for item in items:
        function = getattr(item, "function", None)
        runs_a_script = function is not None and "run_script(" in inspect.getsource(function)
        if runs_a_script or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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


def run_script(*args: str, timeout: float = 900, check: bool = True):
    """Run one of scripts/*.py (or a module) as a real subprocess from the repo root; returns CompletedProcess."""
    import subprocess

    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


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
