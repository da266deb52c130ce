"""Shared fixtures: the real data from ../shared/datasets and one decode cache for the whole session."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = REPO.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


@pytest.fixture(scope="session")
def archive() -> Path:
    assert SHARED_ARCHIVE.is_file(), f"the shared data set is expected at {SHARED_ARCHIVE}"
    return SHARED_ARCHIVE


@pytest.fixture(scope="session", autouse=True)
def data_environment(tmp_path_factory, archive):
    """Every test (and every subprocess it starts) finds the shared data and one decode cache."""
    cache = tmp_path_factory.mktemp("cifar-cache")
    saved = {k: os.environ.get(k) for k in ("CIFAR10_DATA", "CIFAR10_CACHE")}
    os.environ["CIFAR10_DATA"] = str(archive)
    os.environ["CIFAR10_CACHE"] = str(cache)
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def cifar(data_environment):
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
