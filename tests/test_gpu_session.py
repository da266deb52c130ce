"""scripts/gpu_session.sh --rehearse: the GPU session's two calls on this CPU, in a venv that holds only what the GPU
machine has plus the carried wheels, so that the prepared calls cannot rot while no GPU is at hand; and --prepare's
measure of what a call sends."""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from conftest import REPO
from cifar_models import MODELS
from cifar_models.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
SETUP = ["env", "install", "data"]
LONG_STEPS = ["sweep", "seeds", "benchmark"]
BUDGETS = (1, 2)  # the rehearsal's sweep (10, 20, 40 and 80 epochs there); seed 1 and the weights at the last
SEED_0 = [f"budgets/{epochs}/{name}" for epochs in BUDGETS for name in MODELS]
SEED_1 = [f"budgets/{BUDGETS[-1]}/seed-1/{name}" for name in MODELS]


def _rehearse(out, *arguments, **environment):
    return subprocess.run(["bash", "scripts/gpu_session.sh", "--rehearse", *arguments], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "OUT": str(out), "PYTHON": sys.executable, **environment},
                          timeout=1800)


def _step_statuses(out) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in (out / "steps.txt").read_text().splitlines()}


def _within_what_the_tool_brings_back(out):
    """At most 8 files of at most 16 MiB, 64 MiB together, named in letters, digits, '.', '_' and '-'."""
    files = list(out.rglob("*"))
    assert len(files) <= 8 and all(path.is_file() and path.parent == out for path in files)
    assert all(path.stat().st_size <= 16 << 20 for path in files) and sum(p.stat().st_size for p in files) <= 64 << 20
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", path.name) for path in files)


def _records(archive) -> dict[str, dict]:
    """Run folder -> its run.json, from a records.tar.gz."""
    with tarfile.open(archive) as tar:
        return {member.name.removesuffix("/run.json"): json.load(tar.extractfile(member)) for member in tar}


def test_two_rehearsed_calls_train_the_sweep_and_bring_back_every_finished_run(tmp_path):
    out = tmp_path / "out"
    result = _rehearse(out, "--part", "1")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    steps = [*SETUP, "smoke", *LONG_STEPS]
    assert _step_statuses(out) == {step: "0" for step in steps}
    assert sorted(path.name for path in out.iterdir()) == [
        "benchmark_training.json", "records.tar.gz", "session.log", "steps.txt", "weights.tar.gz.00",
        "weights.tar.gz.01", "weights.tar.gz.02"]  # 39 MB of fp16 weights in 15 MiB parts
    _within_what_the_tool_brings_back(out)
    log = (out / "session.log").read_text()
    assert all(f"==== {step}: " in log for step in steps)
    # the cheapest first: budget by budget, each Plain CNN, SENet, Inception, then seed 1 (seed 0 kept, not retrained)
    trained = re.findall(r"\] budget (\d+) epochs, seed (\d): (\w+)(.*)", log)
    assert [(int(epochs), int(seed), name) for epochs, seed, name, _ in trained] == [
        *((epochs, 0, name) for epochs in BUDGETS for name in MODELS),
        *((BUDGETS[-1], seed, name) for seed in (0, 1) for name in MODELS)]
    assert [kept.strip().startswith("finished already, kept") for *_, kept in trained] == [False] * 6 + [True] * 3 + [
        False] * 3

    records = _records(out / "records.tar.gz")
    assert sorted(records) == sorted(SEED_0 + SEED_1)
    for folder, record in records.items():
        assert record["data"]["subset"] == 100 and len(record["history"]) == record["recipe"]["epochs"]
        assert record["recipe"]["seed"] == (1 if "seed-1" in folder else 0) and folder.endswith(record["model"])
    archive = b"".join(part.read_bytes() for part in sorted(out.glob("weights.tar.gz.*")))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == [f"budgets/{BUDGETS[-1]}/{name}/model.safetensors" for name in sorted(MODELS)]
        tar.extractall(tmp_path / "runs", filter="data")
    with tarfile.open(out / "records.tar.gz") as tar:
        tar.extractall(tmp_path / "runs", filter="data")
    for name in MODELS:  # the weights and records brought back load as the dashboard loads them
        loaded = load_checkpoint(tmp_path / "runs" / "budgets" / str(BUDGETS[-1]) / name)
        assert loaded.record.epochs_run == BUDGETS[-1] and loaded.record.seed == 0
    benchmark = json.loads((out / "benchmark_training.json").read_text())
    assert list(benchmark["models"]) == ["plain_cnn"] and benchmark["plain_cnn_speedup"] > 0

    # Call 2 on a cold machine, carrying call 1's records: it keeps every run call 1 finished and trains none again.
    again = tmp_path / "again"
    result = _rehearse(again, "--part", "2", GPU_SESSION_CARRIED_RECORDS=str(out / "records.tar.gz"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert _step_statuses(again) == {step: "0" for step in [*SETUP, "restore", *LONG_STEPS]}
    log = (again / "session.log").read_text()
    assert log.count("finished already, kept") == 12 and "==== smoke" not in log
    assert _records(again / "records.tar.gz") == records  # the same runs, not retrained (their times and weights too)
    assert sorted(path.name for path in again.iterdir()) == [
        "benchmark_training.json", "records.tar.gz", "session.log", "steps.txt"]  # call 1 brought the weights


def test_a_failing_step_fails_the_rehearsal_and_the_later_steps_still_report(tmp_path):
    out = tmp_path / "out"
    result = _rehearse(out, CIFAR10_DATA=str(tmp_path / "no-data-here"))
    assert result.returncode == 1
    statuses = _step_statuses(out)
    assert [statuses[step] for step in [*SETUP, "smoke"]] == ["0", "0", "2", "2"]  # the smoke run ran, and said why
    assert [statuses[step] for step in LONG_STEPS] == ["skipped"] * 3  # the long steps would fail the same way
    assert "---- data failed" in result.stdout and "---- smoke failed" in result.stdout
    assert str(tmp_path / "no-data-here") in result.stdout
    assert sorted(path.name for path in out.iterdir()) == ["session.log", "steps.txt"]


def test_prepare_measures_what_a_call_sends_and_refuses_more_than_the_tool_takes(tmp_path):
    """--prepare counts what run() sends (tracked and untracked-not-ignored files, and the carried .whl and
    .device-data) and refuses it over the device tool's 64 MiB, in a small project of its own."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "gpu_session.sh", project / "scripts")
    shutil.copy(REPO / "requirements.txt", project)
    (project / ".gitignore").write_text("/.whl/\n/.device-data/\n/ignored/\n")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@lab"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "project"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    (project / ".whl").mkdir()
    (project / ".whl" / "dropblock-0.3.0-py3-none-any.whl").write_bytes(b"w" * 5_000)  # there: no download
    (tmp_path / "shared" / "datasets").mkdir(parents=True)
    (tmp_path / "shared" / "datasets" / "cifar10-jpeg.tar.gz").write_bytes(b"d" * 3_000_000)
    (project / "notes.txt").write_text("n" * 1_000)  # untracked, not ignored: it travels
    (project / "ignored").mkdir()
    (project / "ignored" / "big").write_bytes(b"i" * 2_000_000)  # ignored and not carried: it stays

    def prepare():
        return subprocess.run(["bash", "scripts/gpu_session.sh", "--prepare"], cwd=project, capture_output=True,
                              text=True, timeout=120)

    result = prepare()
    assert result.returncode == 0, result.stderr
    tracked = sum((project / name).stat().st_size for name in ("scripts/gpu_session.sh", "requirements.txt",
                                                                 ".gitignore"))
    sends = tracked + 1_000 + 5_000 + 3_000_000
    assert f"a call sends {sends / 2**20:.2f} MiB of 64.00 MiB" in result.stdout
    assert (project / ".device-data" / "cifar10-jpeg.tar.gz").stat().st_size == 3_000_000
    assert 'run(command="bash scripts/gpu_session.sh --part 1", carry=[".whl", ".device-data"]' in result.stdout

    with open(project / "too-much.bin", "wb") as file:  # untracked: 64 MiB more than fits (sparse, no disk used)
        file.truncate(64 << 20)
    result = prepare()
    assert result.returncode == 2 and "over the device tool's limit" in result.stderr


def test_the_rehearsal_venv_lacks_what_the_gpu_machine_lacks(tmp_path):
    made = subprocess.run([sys.executable, "scripts/gpu_machine_venv.py", str(tmp_path / "venv")], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=600)
    python = made.stdout.strip()
    environment = {**os.environ, "PYTHONPATH": str(REPO)}

    def imports(module: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-c", f"import {module}"], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=300)

    assert imports("torch, torchvision, safetensors, numpy, PIL, tqdm, pandas").returncode == 0
    for absent in ("dropblock", "captum", "streamlit", "altair", "matplotlib"):
        assert f"No module named '{absent}'" in imports(absent).stderr
    # So a step that imports the models fails there until the carried dropblock wheel is installed:
    assert "No module named 'dropblock'" in imports("cifar_models.models").stderr
