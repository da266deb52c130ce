"""torchrun with two CPU processes (gloo): the replicas stay identical and only rank 0 writes."""
import json

import pytest

from conftest import SMOKE_SUBSET, run_script


def _train(*launcher, out):
    return run_script(*launcher, "scripts/train_all.py", "--models", "plain_cnn", "--subset", str(SMOKE_SUBSET),
                      "--epochs", "2", "--device", "cpu", "--out", str(out), "--quiet")


def test_two_ranks_train_in_step_and_write_once(tmp_path):
    result = _train("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", out=tmp_path / "ddp")
    assert result.stdout.count("plain_cnn ") == 1  # one closing table: rank 0 alone prints
    written = sorted(p.relative_to(tmp_path / "ddp").as_posix() for p in (tmp_path / "ddp").rglob("*"))
    assert written == ["plain_cnn", "plain_cnn/model.safetensors", "plain_cnn/run.json"]
    ddp = json.loads((tmp_path / "ddp" / "plain_cnn" / "run.json").read_text())
    assert ddp["world_size"] == 2
    first, second = ddp["rank_weight_checksums"]
    assert first == second  # gradients were all-reduced: both replicas hold the same weights

    _train(out=tmp_path / "single")
    single = json.loads((tmp_path / "single" / "plain_cnn" / "run.json").read_text())
    assert single["recipe"]["batch_size"] == ddp["recipe"]["batch_size"]  # the same global batch
    assert single["data"]["train"] == ddp["data"]["train"]
    # Each rank shuffles and augments its own shard and has its own BatchNorm statistics, so the runs are not
    # bit-identical, but they follow the same course.
    for ours, theirs in zip(ddp["history"], single["history"]):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=0.05)
    assert ddp["rank_weight_checksums"][0] == pytest.approx(single["rank_weight_checksums"][0], rel=0.02)
    assert ddp["test"]["accuracy"] == pytest.approx(single["test"]["accuracy"], abs=0.05)
