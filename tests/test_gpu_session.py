"""scripts/gpu_session.sh --rehearse: the GPU session's steps on this CPU, in a venv that holds only what the GPU
machine has plus the carried wheels, so that the one prepared call cannot rot while no GPU is at hand."""
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import REPO
from cifar_models import MODELS
from cifar_models.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
STEPS = ["env", "install", "data", "smoke", "train", "pack", "evaluate", "benchmark", "seeds", "pack-seeds"]


def _rehearse(out, **environment):
    return subprocess.run(["bash", "scripts/gpu_session.sh", "--rehearse"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OUT": str(out), "PYTHON": sys.executable, **environment}, timeout=1800)


def _step_statuses(out) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in (out / "steps.txt").read_text().splitlines()}


def test_the_rehearsal_runs_every_step_and_brings_back_what_the_session_must(tmp_path):
    out = tmp_path / "out"
    result = _rehearse(out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert _step_statuses(out) == {step: "0" for step in STEPS}
    brought_back = sorted(path.name for path in out.iterdir() if not path.name.startswith("checkpoints.tar.gz."))
    assert brought_back == ["benchmark_training.json", "evaluate.jsonl", "seed-records.tar.gz", "session.log",
                            "steps.txt"]
    # What the device tool brings back: at most 8 files of at most 16 MiB (the weights alone are 39 MB in fp16).
    assert len(list(out.iterdir())) <= 8 and all(path.stat().st_size <= 16 << 20 for path in out.iterdir())
    log = (out / "session.log").read_text()
    assert all(f"==== {step}: " in log for step in STEPS)

    archive = b"".join(part.read_bytes() for part in sorted(out.glob("checkpoints.tar.gz.*")))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == [f"checkpoints/{name}/{file}" for name in sorted(MODELS)
                                          for file in ("model.safetensors", "run.json")]
        tar.extractall(tmp_path, filter="data")
    evaluations = {line["model"]: line for line in map(json.loads, (out / "evaluate.jsonl").read_text().splitlines())}
    assert sorted(evaluations) == sorted(MODELS)
    for name in MODELS:
        record = load_checkpoint(tmp_path / "checkpoints" / name).record
        assert record.data.subset == 100 and record.epochs_run == 1
        assert evaluations[name]["n"] == record.test.n == 100
        assert evaluations[name]["accuracy"] == pytest.approx(record.accuracy, abs=0.02)

    # seeds 1 and 2: their run records only, laid out as train_all.py --seeds lays them out
    with tarfile.open(out / "seed-records.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(f"seeds/{folder}{name}/run.json" for folder in ("", "seed-1/")
                                                for name in MODELS)
        records = [json.load(tar.extractfile(member)) for member in tar.getmembers()]
    assert sorted(record["recipe"]["seed"] for record in records) == [1, 1, 1, 2, 2, 2]

    benchmark = json.loads((out / "benchmark_training.json").read_text())
    assert list(benchmark["models"]) == ["plain_cnn"] and benchmark["plain_cnn_speedup"] > 0


def test_a_failing_step_fails_the_rehearsal_and_the_later_steps_still_report(tmp_path):
    out = tmp_path / "out"
    result = _rehearse(out, CIFAR10_DATA=str(tmp_path / "no-data-here"))
    assert result.returncode == 1
    statuses = _step_statuses(out)
    assert [statuses[step] for step in STEPS[:4]] == ["0", "0", "2", "2"]  # the smoke run still ran, and said why
    assert [statuses[step] for step in STEPS[4:]] == ["skipped"] * 6  # the long steps would fail the same way
    assert "---- data failed" in result.stdout and "---- smoke failed" in result.stdout
    assert str(tmp_path / "no-data-here") in result.stdout


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
