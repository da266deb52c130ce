"""torchrun with two CPU processes (gloo): the replicas stay identical, only rank 0 writes, and every rank exits
cleanly."""
import json

import pytest

from conftest import SMOKE_SUBSET


def test_two_ranks_train_in_step_and_write_once(run_script, trained_checkpoints, tmp_path):
    """Against the single-process run of the same command, `trained_checkpoints`' plain_cnn."""
    result = run_script("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "scripts/train_all.py",
                        "--models", "plain_cnn", "--subset", str(SMOKE_SUBSET), "--epochs", "2", "--device", "cpu",
                        "--out", str(tmp_path / "ddp"), "--quiet")
    assert "terminate called" not in result.stderr  # no rank aborted at exit (it once did while rank 0 still wrote)
    assert result.stdout.count("plain_cnn ") == 1  # one closing table: rank 0 alone prints
    written = sorted(p.relative_to(tmp_path / "ddp").as_posix() for p in (tmp_path / "ddp").rglob("*"))
    assert written == ["plain_cnn", "plain_cnn/model.safetensors", "plain_cnn/run.json"]
    ddp = json.loads((tmp_path / "ddp" / "plain_cnn" / "run.json").read_text())
    assert ddp["world_size"] == 2
    first, second = ddp["rank_weight_checksums"]
    assert first == second  # gradients were all-reduced: both replicas hold the same weights

    single = json.loads((trained_checkpoints / "plain_cnn" / "run.json").read_text())
    assert single["world_size"] == 1 and single["data"]["subset"] == SMOKE_SUBSET
    assert single["recipe"] == ddp["recipe"]  # the same recipe, so the same global batch and epochs
    assert single["data"]["train"] == ddp["data"]["train"]
    # Each rank shuffles and augments its own shard and has its own BatchNorm statistics, so the runs are not
    # bit-identical, but they follow the same course.
    for ours, theirs in zip(ddp["history"], single["history"], strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=0.05)
    assert ddp["rank_weight_checksums"][0] == pytest.approx(single["rank_weight_checksums"][0], rel=0.02)
    assert ddp["test"]["accuracy"] == pytest.approx(single["test"]["accuracy"], abs=0.05)
