"""Training's faults (issue 22), through the real entry point: train_all.py in a subprocess or its main(). A run that
goes wrong says what happened and what was kept, exits non-zero, and never leaves broken weights or a traceback."""
from __future__ import annotations

import hashlib
import json
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from cifar_models.resume import RESUME_SCHEMA_VERSION, RunIdentity, read_resume_state
from conftest import REPO
from dashboard.views.live import read_live_run, status_line
from test_bad_input import NOWHERE, train

EPOCHS = 4  # of the interrupted run: one step each on 520 images, so Ctrl-C lands with epochs still to go
SMALLEST_SUBSET = "520"  # one batch of 512


def _command(out: Path, *extra: str, epochs: int = EPOCHS) -> list[str]:
    return [sys.executable, "scripts/train_all.py", "--models", "plain_cnn", "--subset", SMALLEST_SUBSET,
            "--epochs", str(epochs), "--device", "cpu", "--precision", "fp32", "--out", str(out), "--quiet", *extra]


def _run(out: Path, *extra: str, epochs: int = EPOCHS, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(_command(out, *extra, epochs=epochs), cwd=REPO, capture_output=True, text=True,
                          timeout=900, **popen)


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def _an_earlier_checkpoint(out: Path) -> Path:
    """``out/plain_cnn`` holding the committed Plain CNN checkpoint, as an earlier run leaves it."""
    return Path(shutil.copytree(REPO / "checkpoints" / "plain_cnn", out / "plain_cnn"))


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and "Error:" not in stderr.replace("error:", ""), stderr[-3000:]


# ------------------------------------------------------------------------------------------------------------------
# 12: Ctrl-C keeps the finished epochs, says so in two lines, and the rerun resumes exactly


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, data_environment) -> tuple[Path, subprocess.CompletedProcess]:
    """A real run stopped by SIGINT (as Ctrl-C sends it) once its first epoch is kept: its folder and its result."""
    out = tmp_path_factory.mktemp("interrupted") / "checkpoints"
    process = subprocess.Popen(_command(out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    resume_record = out / "plain_cnn" / "resume.json"
    deadline = time.time() + 600
    while not resume_record.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=600)
    return out, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_ctrl_c_says_what_it_kept_and_the_rerun_resumes_exactly(interrupted, tmp_path):
    out, result = interrupted
    assert result.returncode == 130, result.stderr[-3000:]
    _no_traceback(result.stderr)
    lines = result.stderr.strip().splitlines()
    state = read_resume_state(out / "plain_cnn")
    assert 1 <= state.epoch < EPOCHS and len(lines) == 2, lines
    assert lines[0].startswith(f"interrupted: plain_cnn kept epoch {state.epoch} of {EPOCHS} in {out / 'plain_cnn'}")
    command = lines[1].removeprefix("To resume, rerun the same command: ")
    assert command.startswith("python scripts/train_all.py --models plain_cnn") and state.resume_command == command
    assert not (out / ".train.lock").exists()  # the lock went with the run

    resumed_out = shutil.copytree(out, tmp_path / "resumed")
    resumed = _run(resumed_out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = _run(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    ours, theirs = (json.loads((folder / "plain_cnn" / "run.json").read_text())["history"]
                    for folder in (resumed_out, tmp_path / "straight"))
    assert [row["epoch"] for row in ours] == list(range(1, EPOCHS + 1))
    assert [(row["train_loss"], row["val_loss"]) for row in ours] == \
        [(row["train_loss"], row["val_loss"]) for row in theirs]


@pytest.mark.slow
def test_compare_shows_an_interrupted_run_and_the_command_that_resumes_it(interrupted, open_app):
    out, _ = interrupted
    model = read_live_run(out).interrupted["plain_cnn"]
    assert model.epoch == read_resume_state(out / "plain_cnn").epoch and "interrupted" in status_line(model)
    assert model.resume_command.startswith("python scripts/train_all.py --models plain_cnn")
    app = open_app("app_pages/compare.py", out)
    assert any("interrupted (rerun the same command to resume)" in warning.value for warning in app.warning)
    assert model.resume_command in [block.value for block in app.code]


# ------------------------------------------------------------------------------------------------------------------
# 5, 15: a resume state that does not fit its recipe, or is damaged, is refused by name, never resumed


def _tampered(interrupted, tmp_path: Path, change) -> Path:
    """A copy of the interrupted run whose resume.json ``change`` has altered (a function of the parsed JSON)."""
    out = shutil.copytree(interrupted[0], tmp_path / "out")
    path = out / "plain_cnn" / "resume.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return out


def _wrong_shapes(saved: dict, folder: Path) -> dict:
    tensors = load_file(folder / saved["weights"])
    key = next(key for key in tensors if key.endswith("weight") and tensors[key].ndim == 4)
    tensors[key] = tensors[key][:1].clone()  # one filter where the model has many
    save_file(tensors, folder / saved["weights"])
    return saved


DAMAGE = {  # what is done to resume.json -> what the message says about it
    "epoch beyond the recipe": (lambda s: {**s, "epoch": 99}, "epoch is 99, but the recipe has epochs 1 to 4"),
    "negative step": (lambda s: {**s, "step": -1}, "step must be a whole number ≥ 0, got -1"),
    "step off the schedule": (lambda s: {**s, "step": s["step"] + 7}, "but an epoch takes 1 steps"),
    "epoch of the wrong type": (lambda s: {**s, "epoch": "two"}, 'epoch must be a whole number ≥ 0, got "two"'),
    "missing key": (lambda s: {k: v for k, v in s.items() if k != "history"}, "history is missing; it must be a list"),
    "history of the wrong type": (lambda s: {**s, "history": "all good"}, 'history must be a list, got "all good"'),
    "weights outside the folder": (lambda s: {**s, "weights": "../../model.safetensors"},
                                   "weights must name a state-epochNNNN.safetensors beside it"),
    "not an object": (lambda s: [s], "the file must hold a JSON object"),
    "other tensor shapes": (None, "whose tensor model."),
}


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")  # the shared data, decoded once for the session
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_or_misfit_resume_state_is_refused_by_name(interrupted, tmp_path, capsys, damage):
    change, problem = DAMAGE[damage]
    if change is None:
        change = lambda saved: _wrong_shapes(saved, tmp_path / "out" / "plain_cnn")  # noqa: E731
    out = _tampered(interrupted, tmp_path, change)
    before = _digests(out / "plain_cnn")
    code, err = train(capsys, "--subset", SMALLEST_SUBSET, "--epochs", str(EPOCHS), "--precision", "fp32",
                      "--out", str(out))
    assert code == 2, err
    assert f"The interrupted run in {out / 'plain_cnn'} is damaged: {out / 'plain_cnn' / 'resume.json'}" in err
    assert problem in err and "Add --fresh to discard it and start again." in err
    assert _digests(out / "plain_cnn") == before  # refused, so nothing trained or written


def test_a_resume_state_from_before_schema_version_still_reads():
    """tests/fixtures/resume_v0.json: resume.json as main wrote it before ResumeState (killed after epoch 1)."""
    state = read_resume_state(REPO / "tests" / "fixtures" / "resume_v0.json")
    assert state.schema_version == RESUME_SCHEMA_VERSION == 1 and state.resume_command is None
    assert (state.model, state.epoch, state.step, state.epochs) == ("plain_cnn", 1, 1, 3)
    assert [row.epoch for row in state.history] == [1] and state.weights == "state-epoch0001.safetensors"


def test_a_resume_state_that_states_fewer_options_resumes_as_the_run_that_gives_them_all():
    """A run saved before runs held all their options (resume_v0.json says ``model_options: {}``) resumes under the
    same command now that train_all.py gives every option: its options are the builder's own, the seed's DropBlock."""
    saved = json.loads((REPO / "tests" / "fixtures" / "resume_v0.json").read_text())
    state = read_resume_state(REPO / "tests" / "fixtures" / "resume_v0.json")
    fields_of_identity = {item.name: getattr(state, item.name) for item in fields(RunIdentity)}
    seeds = {"drop_prob": 0.3, "drop_block_sizes": [8, 4, 2], "drop_schedule": "fixed"}
    assert RunIdentity(**{**fields_of_identity, "model_options": seeds}).differences(saved) == []
    assert RunIdentity(**{**fields_of_identity, "model_options": {}}).differences(saved) == []
    linear = RunIdentity(**{**fields_of_identity, "model_options": {**seeds, "drop_schedule": "linear"}})
    assert linear.differences(saved) == ["model_options"]


# ------------------------------------------------------------------------------------------------------------------
# 3: NaN weights are never saved; the earlier checkpoint stays as it was


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")
def test_a_learning_rate_that_breaks_the_weights_saves_nothing(tmp_path):
    out = tmp_path / "out"
    earlier = _an_earlier_checkpoint(out)
    before = _digests(earlier)
    recipe = tmp_path / "huge.json"
    recipe.write_text(json.dumps({"lr": 1e9}))
    result = _run(out, "--recipe", str(recipe), epochs=1)  # the loss of its one step is finite: the weights are not
    assert result.returncode == 2, result.stderr[-3000:]
    _no_traceback(result.stderr)
    assert "error: plain_cnn: " in result.stderr and "No epoch had finished, so no state was kept; lower the " \
        "learning rate with --recipe and train again." in result.stderr
    assert _digests(earlier) == before


# ------------------------------------------------------------------------------------------------------------------
# 13: a full disk (here: a file-size limit, EFBIG) while the run writes its files


def _file_size_limit(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes fail with EFBIG

    return apply


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")  # decoded before: the limited run writes no cache
def test_a_full_disk_is_one_message_and_the_earlier_checkpoint_is_untouched(tmp_path):
    out = tmp_path / "out"
    earlier = _an_earlier_checkpoint(out)
    before = _digests(earlier)
    result = _run(out, "--fresh", epochs=1, preexec_fn=_file_size_limit(2**20))  # fp32 state: 22 MB
    assert result.returncode == 1, result.stderr[-3000:]
    _no_traceback(result.stderr)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: Cannot write {earlier / 'state-epoch0001.safetensors'} (")
    assert "bytes): File too large. What was there before is kept; free space in" in line
    assert _digests(earlier) == before  # no temporary file left behind either


# ------------------------------------------------------------------------------------------------------------------
# 14, 7: what can be seen before loading any data is refused then, exit 2


def test_a_file_where_the_model_folder_goes_is_refused_before_loading_data(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plain_cnn").write_text("not a folder")
    code, err = train(capsys, "--out", str(out), "--data", NOWHERE)
    assert code == 2 and f"error: {out / 'plain_cnn'} is a file, where the run writes its folder; move it away or " \
        "choose another --out." in err


def test_a_folder_where_the_weights_go_is_refused_before_loading_data(capsys, tmp_path):
    out = tmp_path / "out"
    (out / "seed-1" / "plain_cnn" / "model.safetensors").mkdir(parents=True)
    code, err = train(capsys, "--out", str(out), "--seeds", "2", "--data", NOWHERE)
    assert code == 2 and f"error: {out / 'seed-1' / 'plain_cnn' / 'model.safetensors'} is a folder, where the run " \
        "writes a file" in err


def test_seeds_have_an_upper_limit(capsys, tmp_path):
    code, err = train(capsys, "--seeds", "11", "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2 and "argument --seeds: at most 10" in err


def test_a_recipe_seed_that_overflows_with_seeds_is_refused_before_seed_0_trains(capsys, tmp_path):
    recipe = tmp_path / "last-seed.json"
    recipe.write_text(json.dumps({"seed": 2**32 - 1}))
    code, err = train(capsys, "--recipe", str(recipe), "--seeds", "2", "--out", str(tmp_path / "out"),
                      "--data", NOWHERE)
    assert code == 2 and f"error: --seeds 2 from the recipe's seed {2**32 - 1} needs seed {2**32}, beyond its " \
        "range" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")
def test_a_disk_that_fills_while_the_checkpoint_is_written_keeps_the_earlier_one(tmp_path):
    """A real ENOSPC: a tmpfs with room for the earlier checkpoint and the epoch's state, not for the new weights."""
    from cifar_models import build_model

    model = build_model("plain_cnn")
    state_bytes = sum(t.numel() * 4 for t in model.state_dict().values()) + model.num_parameters() * 4  # + momentum
    earlier_bytes = sum(p.stat().st_size for p in (REPO / "checkpoints" / "plain_cnn").iterdir())
    disk = tmp_path / "disk"
    disk.mkdir()
    size = earlier_bytes + state_bytes + 2**20  # the new fp16 weights need 5.6 MB more
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    # The suite runs as root here and in CI (setup_test_env.sh installs Chromium with apt-get as root): a real full
    # disk is always within reach, so a failed mount is a failure, not a reason to skip.
    assert mounted.returncode == 0, f"mounting a {size}-byte tmpfs failed (it needs root): {mounted.stderr}"
    try:
        earlier = _an_earlier_checkpoint(disk)
        before = _digests(earlier)
        result = _run(disk, "--fresh", epochs=1)
        assert result.returncode == 1, result.stderr[-3000:]
        _no_traceback(result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: Cannot write the checkpoint (") and \
            f"bytes) into {earlier}: No space left on device. The earlier checkpoint there is kept" in line
        kept = {name: digest for name, digest in _digests(earlier).items() if name in before}
        assert kept == before and (earlier / "resume.json").is_file()  # the state to resume from is kept too
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# ------------------------------------------------------------------------------------------------------------------
# issue 19 item 5: the library's messages name its arguments; train_all.py's name its flags


def test_the_library_names_its_arguments_and_the_script_its_flags(capsys, tmp_path):
    from cifar_models.engine import SubsetError, check_subset
    from cifar_models.resume import ResumeStateError

    with pytest.raises(SubsetError) as caught:
        check_subset(5, 512)
    assert str(caught.value).startswith("subset=5 is too small: a run needs at least one batch") and \
        "--" not in str(caught.value)
    code, err = train(capsys, "--subset", "5", "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2 and err.startswith("error: --subset 5 is too small: a run needs at least one batch")

    damaged = tmp_path / "resume.json"
    damaged.write_text('{"model": "plain_cn')
    with pytest.raises(ResumeStateError) as caught:
        read_resume_state(damaged)
    assert str(caught.value).startswith(f"The interrupted run in {tmp_path} is damaged: cannot read {damaged}")
    assert str(caught.value).endswith("Add fresh=True to discard it and start again.")
    assert caught.value.worded({"fresh": "--fresh"}).endswith("Add --fresh to discard it and start again.")
