"""Following a training run: a real train_all.py subprocess is watched while its curve gains epochs."""
import json
import subprocess
import sys
import time

import pytest

from cifar_models.output_lock import OutputLock, running_holder
from conftest import REPO
from dashboard.views.live import read_live_run, status_line

pytestmark = pytest.mark.slow  # every test here starts a real training run in a subprocess


def _wait_for(condition, process, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        assert process.poll() is None or condition(), process.stderr.read()[-2000:] if process.stderr else ""
        time.sleep(0.2)
    raise AssertionError("the run did not get there in time")


def _start_training(out, epochs=3):
    """A real train_all.py run of plain_cnn on 1,000 images, writing into ``out``."""
    return subprocess.Popen(
        [sys.executable, "scripts/train_all.py", "--models", "plain_cnn", "--subset", "1000", "--epochs", str(epochs),
         "--device", "cpu", "--precision", "fp32", "--out", str(out), "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _training_at(out, epoch):
    """The model in training in ``out`` once it has finished ``epoch`` epochs, else None."""
    model = read_live_run(out).training
    return model if model is not None and model.epoch >= epoch else None


def test_a_running_training_is_followed_epoch_by_epoch(tmp_path):
    out = tmp_path / "run"
    process = _start_training(out)
    try:
        first = _wait_for(lambda: _training_at(out, 1), process)
        assert read_live_run(out).holder.startswith(f"PID {process.pid}")
        assert first.epochs == 3 and len(first.history) == first.epoch and first.eta_seconds >= 0
        assert "of 3 done" in status_line(first)
        later = _wait_for(lambda: _training_at(out, first.epoch + 1), process)  # the curve gained an epoch
        assert [row.epoch for row in later.history] == list(range(1, later.epoch + 1))
        assert process.wait(timeout=600) == 0
    finally:
        process.kill()
    done = read_live_run(out)
    assert done.holder is None and done.training is None  # the lock is gone with the run
    assert done.models["plain_cnn"].status == "finished" and done.models["plain_cnn"].epoch == 3


def test_an_interrupted_run_and_half_written_files(tmp_path):
    run = tmp_path / "run"
    (run / "senet").mkdir(parents=True)
    (run / "senet" / "resume.json").write_text('{"model": "senet", "hist')  # as if cut off: skipped, no error
    assert read_live_run(run).models == {}
    history = [{"epoch": epoch, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1, "val_acc": 0.4, "lr": 0.1,
                "epoch_seconds": seconds, "images_per_s": 1000 / seconds} for epoch, seconds in ((1, 10.0), (2, 12.0))]
    # a resume.json as the engine writes it (tests/fixtures/resume_v0.json), after epoch 2 of 5
    saved = json.loads((REPO / "tests" / "fixtures" / "resume_v0.json").read_text())
    saved |= {"model": "senet", "recipe": {**saved["recipe"], "epochs": 5}, "epoch": 2, "step": 2,
              "weights": "state-epoch0002.safetensors"}
    (run / "senet" / "resume.json").write_text(json.dumps({**saved, "history": history[:1] + [{}]}))
    assert read_live_run(run).models == {}  # an epoch without its figures: skipped, never an error
    for damage in ({"recipe": {"epochs": "five"}}, {"epoch": 99}, {"history": "x"}):  # hand-written: no error
        (run / "senet" / "resume.json").write_text(json.dumps({**saved, "history": history, **damage}))
        assert read_live_run(run).models == {}
    (run / "senet" / "resume.json").write_text(json.dumps({**saved, "history": history}))
    interrupted = read_live_run(run).models["senet"]
    assert (interrupted.status, interrupted.epoch, interrupted.epochs) == ("interrupted", 2, 5)
    assert "rerun the same command" in status_line(interrupted) and interrupted.resume_command is None  # not kept then
    assert read_live_run(run).interrupted == {"senet": interrupted}

    with OutputLock(run):  # a live run holds the folder: the same files now read as training, with an ETA
        assert running_holder(run).startswith("PID ")
        written = (run / "senet" / "resume.json").stat().st_mtime
        training = read_live_run(run, now=written + 4).models["senet"]
        assert training.status == "training"
        assert training.eta_seconds == pytest.approx(11.0 * 3 - 4)  # mean epoch x epochs left - time since
    assert running_holder(run) is None
    assert read_live_run(tmp_path / "nothing-here").models == {}


@pytest.mark.slow
def test_compare_page_shows_the_run_in_progress(tmp_path, open_app):
    from apptest_helpers import chart_frames

    out = tmp_path / "checkpoints"
    process = _start_training(out, epochs=8)  # long enough for the page to see it part way
    try:
        def epochs_shown() -> int:
            counts = {len(frame[frame["split"] == "validation"]) for frame in chart_frames(app)}
            assert len(counts) == 1, counts
            return counts.pop()

        first = _wait_for(lambda: _training_at(out, 1), process).epoch
        app = open_app("app_pages/compare.py", out)  # no finished checkpoint yet: the live part still shows
        assert "Training now" in [header.value for header in app.subheader]
        shown = epochs_shown()  # the epochs finished when the page read them: the run goes on meanwhile
        assert first <= shown <= read_live_run(out).models["plain_cnn"].epoch
        assert shown < 8, "the run had finished before the page first read it"
        _wait_for(lambda: _training_at(out, shown + 1), process)
        app.run()
        assert epochs_shown() > shown  # the curve gained an epoch
        assert process.wait(timeout=600) == 0
    finally:
        process.kill()
    app.run()  # finished: the live part is gone, the record is shown as usual
    assert "Training now" not in [header.value for header in app.subheader]
