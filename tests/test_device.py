"""Which device a run gets (``choose_device``, unit-tested for any number of GPUs without one), and the scripts
refusing a device this machine lacks with one line and exit 2, before they look at data or checkpoints."""
import os

import pytest
import torch

from cifar_models.distributed import DeviceError, choose_device


@pytest.mark.parametrize("requested, options, expected", [
    (None, dict(cuda_count=0), "cpu"),
    ("cpu", dict(cuda_count=2), "cpu"),
    (None, dict(cuda_count=1), "cuda:0"),
    ("cuda", dict(cuda_count=1), "cuda:0"),  # never the index-less device torch.cuda.set_device refuses
    ("cuda", dict(cuda_count=4, current_index=2), "cuda:2"),  # alone: the current GPU
    (None, dict(cuda_count=4, current_index=2), "cuda:2"),
    ("cuda", dict(cuda_count=8, local_rank=5, distributed=True), "cuda:5"),  # torchrun: LOCAL_RANK's GPU
    (None, dict(cuda_count=8, local_rank=5, distributed=True), "cuda:5"),
    ("cuda:3", dict(cuda_count=8, local_rank=5, distributed=True), "cuda:3"),  # an explicit index is kept
    ("cuda:7", dict(cuda_count=8), "cuda:7"),
])
def test_the_device_a_request_means(requested, options, expected):
    chosen = choose_device(requested, **options)
    assert chosen == torch.device(expected)
    assert chosen.type == "cpu" or chosen.index is not None


@pytest.mark.parametrize("requested, cuda_count, says", [
    ("banana", 0, "--device 'banana' is not a device; the devices here are cpu"),
    ("banana", 2, "--device 'banana' is not a device; the devices here are cpu, cuda:0, cuda:1"),
    ("", 1, "--device '' is not a device; the devices here are cpu, cuda:0"),
    ("cuda:-1", 1, "--device 'cuda:-1' is not a device; the devices here are cpu, cuda:0"),
    ("mps", 0, "--device 'mps' is not a device this lab trains on; the devices here are cpu"),
    ("cpu:1", 0, "--device 'cpu:1' is not a device this lab trains on; the devices here are cpu"),
    ("cuda", 0, "--device cuda needs a CUDA GPU and this machine has none; the devices here are cpu"),
    ("cuda:0", 0, "--device cuda:0 needs a CUDA GPU and this machine has none; the devices here are cpu"),
    ("cuda:7", 1, "--device cuda:7: there is no cuda:7 (1 CUDA GPU here); the devices here are cpu, cuda:0"),
    ("cuda:2", 2, "--device cuda:2: there is no cuda:2 (2 CUDA GPUs here); the devices here are cpu, cuda:0, cuda:1"),
])
def test_a_device_this_machine_lacks_is_refused_naming_the_ones_it_has(requested, cuda_count, says):
    with pytest.raises(DeviceError) as refused:
        choose_device(requested, cuda_count=cuda_count)
    assert str(refused.value) == says


def test_torchrun_with_more_ranks_per_machine_than_gpus_is_refused():
    with pytest.raises(DeviceError, match=r"there is no cuda:3 \(2 CUDA GPUs here\)"):
        choose_device(None, cuda_count=2, local_rank=3, distributed=True)


SCRIPTS = {  # each script with arguments that would otherwise get it to its data or checkpoints
    "train_all.py": ["--models", "plain_cnn", "--subset", "600", "--epochs", "1"],
    "evaluate.py": [],
    "benchmark_training.py": ["--images", "600", "--epochs", "1"],
}


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("device", ["banana", "cuda", "cuda:7"])
def test_scripts_refuse_a_device_in_one_line_before_loading_data(run_script, script, device, tmp_path):
    # Data and checkpoints point where nothing is, so a script that looked at them first would say so instead; no GPU
    # is visible to the script, so on a GPU machine too this is a machine without one.
    environment = {**os.environ, "CIFAR10_DATA": str(tmp_path / "no-data"), "CIFAR10_CHECKPOINTS": str(tmp_path),
                   "CUDA_VISIBLE_DEVICES": ""}
    arguments = [*SCRIPTS[script], "--device", device]
    if script == "evaluate.py":
        arguments += ["--checkpoints", str(tmp_path)]
    if script == "train_all.py":
        arguments += ["--out", str(tmp_path / "out")]
    if script == "benchmark_training.py":
        arguments += ["--json", str(tmp_path / "benchmark.json")]
    result = run_script(f"scripts/{script}", *arguments, env=environment, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert result.stderr.startswith(f"error: --device {device}" if device != "banana" else "error: --device 'banana'")
    assert result.stderr.strip().endswith("the devices here are cpu")
    assert result.stdout == ""
    assert not (tmp_path / "out").exists() and not (tmp_path / "benchmark.json").exists()
