"""The engine's step modes (cifar_models.step_modes): which mode runs where, and on the CPU the code path a CUDA graph
replays (static buffers, the learning rate as a tensor, a fused SGD, DropBlock's rate on the device) computed step for
step against the eager step. The capture itself needs CUDA: scripts/check_graphed_step.py, the GPU session's first
check, runs it there."""
import hashlib
import json
import warnings

import pytest
import torch
from tqdm.auto import tqdm

from cifar_models import step_modes
from cifar_models.engine import train_model
from cifar_models.models import build_model
from cifar_models.models.dropblock import DeviceDropBlock2D
from cifar_models.recipe import Recipe
from cifar_models.step_modes import resolve_step_mode, state_kept, sync_check, sync_check_mode
from cifar_models.step_rehearsal import assert_trained_alike, tiny_trainer, two_epochs

CPU = torch.device("cpu")


def test_the_graph_ready_step_computes_what_the_eager_step_does():
    """Two epochs on each path from the same weights and seeds: the same figures every epoch and the same weights
    and momentum after, to float rounding (the fused SGD and a float32 learning rate round differently from the
    eager loop's update)."""
    eager, graph_ready = tiny_trainer(False, CPU), tiny_trainer(True, CPU)
    with tqdm(disable=True) as bar:
        figures = [two_epochs(trainer, bar) for trainer in (eager, graph_ready)]
    for theirs, ours in zip(*figures):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    assert_trained_alike(graph_ready, eager, 1e-4)
    assert isinstance(graph_ready.optimizer.param_groups[0]["lr"], torch.Tensor), "the rate went in as a tensor"
    assert graph_ready.static.lr.item() == pytest.approx(eager.learning_rate(6))


def test_the_static_step_copies_each_batch_and_rate_into_the_same_buffers():
    trainer = tiny_trainer(True, CPU)
    static = trainer.static
    addresses = (static.images.data_ptr(), static.labels.data_ptr(), static.lr.data_ptr())
    chosen = torch.tensor([7, 2, 11, 0])
    static.load(chosen, 0.125)
    assert torch.equal(static.images, trainer.images[chosen]) and torch.equal(static.labels, trainer.labels[chosen])
    assert static.lr.item() == 0.125 and static.lr.dtype == torch.float32  # what the fused SGD kernels read
    assert (static.images.data_ptr(), static.labels.data_ptr(), static.lr.data_ptr()) == addresses


def test_a_ramped_dropblock_on_the_device_follows_the_ramp_and_draws_the_same_mask():
    """The device rate mirrors the ramp step by step; with it the layer drops what the float rate drops from the
    same random state, and at rate 0 it keeps everything (drawing a mask that keeps every position)."""
    eager, on_device = (DeviceDropBlock2D(0.3, 4, ramp=True) for _ in range(2))
    on_device.hold_schedule_on_device(CPU)
    x = torch.rand(2, 8, 16, 16)
    for step in (0, 3, 9):
        for layer in (eager, on_device):
            layer.follow_training(step, 10)
        assert on_device.device_rate.item() == pytest.approx(eager.drop_prob / 16)
        torch.manual_seed(step)
        ours = on_device(x)
        torch.manual_seed(step)
        assert torch.equal(ours, eager(x))
    on_device.follow_training(0, 10)
    assert torch.equal(on_device(x), x)
    fixed = DeviceDropBlock2D(0.3, 4)
    fixed.hold_schedule_on_device(CPU)
    assert fixed.device_rate is None, "a fixed rate stays a constant"


def test_state_kept_undoes_warm_up_steps_in_place():
    """What the warm-up before a capture does to weights, BatchNorm statistics and momentum is undone in the same
    tensors; a momentum buffer the warm-up created becomes zeros, so the next step is a first step, exactly."""
    trainer, untouched = tiny_trainer(True, CPU), tiny_trainer(True, CPU)
    parameters = list(trainer.model.parameters())
    addresses = [p.data_ptr() for p in parameters]
    with state_kept(trainer.model, trainer.optimizer):
        trainer.static.load(torch.arange(4), 0.1)
        for _ in range(3):
            trainer.static.run()
    assert [p.data_ptr() for p in parameters] == addresses
    for name, tensor in untouched.model.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], tensor), name
    assert all(not trainer.optimizer.state[p]["momentum_buffer"].any() for p in parameters)
    for step in (trainer, untouched):
        torch.manual_seed(5)
        step.generator.manual_seed(5)
        step.static.load(torch.arange(4), 0.1)
        step.static.run()
    for name, tensor in untouched.model.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], tensor), name


def test_each_mode_runs_only_where_it_can_and_says_why_not(monkeypatch):
    cuda = torch.device("cuda")
    assert resolve_step_mode("eager", "senet", CPU) == ("eager", None)
    assert resolve_step_mode("graphed", "senet", cuda) == ("graphed", None)
    mode, note = resolve_step_mode("graphed", "senet", CPU)
    assert mode == "eager" and note == "senet: the graphed step mode needs CUDA (this run is on cpu); training eager"
    assert "MixUp" in resolve_step_mode("graphed", "senet", cuda, mixes_batches=True)[1]
    assert "single process" in resolve_step_mode("graphed", "senet", cuda, distributed=True)[1]
    assert resolve_step_mode("compiled", "senet", cuda, distributed=True) == ("compiled", None)
    assert resolve_step_mode("auto", "senet", cuda) == ("eager", None), "nothing measured: eager"
    monkeypatch.setitem(step_modes.FASTEST_STEP_MODE, "senet", "graphed")
    assert resolve_step_mode("auto", "senet", cuda) == ("graphed", None)
    assert resolve_step_mode("auto", "senet", CPU)[0] == "eager"
    with pytest.raises(ValueError, match="step mode must be one of eager, compiled, graphed, auto, not 'fast'"):
        resolve_step_mode("fast", "senet", CPU)


def test_the_sync_check_is_asked_for_by_the_environment(monkeypatch):
    monkeypatch.delenv(step_modes.SYNC_CHECK_VARIABLE, raising=False)
    assert sync_check_mode() is None
    monkeypatch.setenv(step_modes.SYNC_CHECK_VARIABLE, "error")
    assert sync_check_mode() == "error"
    with sync_check(CPU):  # CUDA only: a no-op here
        torch.zeros(3).sum().item()
    monkeypatch.setenv(step_modes.SYNC_CHECK_VARIABLE, "loud")
    with pytest.raises(ValueError, match="CIFAR_SYNC_CHECK='loud': it takes warn or error"):
        sync_check_mode()


def test_graphed_on_a_cpu_trains_eager_bit_for_bit_and_records_eager(cifar, tmp_path, capsys):
    """The fallback is the eager run itself: the same weights, byte for byte, and run.json says eager."""
    recipe = Recipe(epochs=1, batch_size=20, eval_batch_size=100)
    digests, records = {}, {}
    for mode in ("eager", "graphed"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback on a CPU is a note, not a warning
            records[mode] = train_model("plain_cnn", cifar, recipe, tmp_path / mode, device=CPU, subset=40,
                                        progress=True, precision="fp32", step_mode=mode)
        digests[mode] = hashlib.sha256((tmp_path / mode / "plain_cnn" / "model.safetensors").read_bytes()).digest()
    assert digests["graphed"] == digests["eager"]
    assert records["graphed"].step_mode == records["eager"].step_mode == "eager"
    assert json.loads((tmp_path / "graphed" / "plain_cnn" / "run.json").read_text())["step_mode"] == "eager"
    assert "plain_cnn: the graphed step mode needs CUDA (this run is on cpu); training eager" in capsys.readouterr().out


def test_the_gpu_check_runs_what_a_cpu_can_and_names_what_needs_cuda(run_script):
    """scripts/check_graphed_step.py is the GPU session's first check of the capture; here it runs the graphed path
    uncaptured against eager and lists the capture checks as needing CUDA."""
    result = run_script("scripts/check_graphed_step.py", "--device", "cpu")
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["ok: the graphed path, uncaptured, trains as eager does",
                          "every check that can run here passed"]
    assert sum(line.startswith("needs CUDA, not run on cpu: ") for line in lines) == 3
    refused = run_script("scripts/check_graphed_step.py", "--device", "cuda", check=False)
    assert refused.returncode == 2 and "needs a CUDA GPU and this machine has none" in refused.stderr


def test_a_compiled_model_with_its_schedule_on_the_device_compiles_once():
    """In the compiled mode the ramped DropBlock's rate is a device tensor filled in place: torch.compile traces the
    model once, in one graph, however the rate moves (as a host number each new value would recompile)."""
    compilations = []

    def counting_backend(graph_module, example_inputs):
        compilations.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    model = build_model("plain_cnn", drop_prob=0.2, drop_schedule="linear")
    model.hold_schedules_on_device(CPU)
    net = torch.compile(model, backend=counting_backend, fullgraph=True)
    x = torch.rand(2, 3, 32, 32)
    for step in range(3):
        model.follow_training(step, 3)
        net(x)
    assert len(compilations) == 1
