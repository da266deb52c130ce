"""Bad input, as a careless or hostile user gives it, through the real entry points: a message that names the
problem and exit code 2 for a user error, refused before any expensive work where it can be; never a traceback."""
from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cifar_models.data import CLASSES, DataError, load_cifar10
from cifar_models.output_lock import LOCK_FILE, OutputLock
from cifar_models.recipe import load_recipe_file
from cifar_models.uploads import prepare_upload
from conftest import REPO

NOWHERE = "/nonexistent/cifar10"  # as --data: reaching the data would fail, so a refusal before it proves "up front"


def script(name: str):
    """scripts/<name>.py as a module, so its ``main(argv)`` runs in this process."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(capsys, *argv: str) -> tuple[int, str]:
    """train_all.py's exit code and stderr for ``argv`` (argparse's refusals exit through SystemExit)."""
    try:
        code = script("train_all").main(["--models", "plain_cnn", "--device", "cpu", "--quiet", *argv])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def image_tree(root: Path, train_per_class: int, splits=("train", "test")) -> Path:
    """An image-folder tree of 32x32 PNGs, ``train_per_class`` training images of each class, one test image each."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(buffer, "PNG")
    for split in splits:
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(train_per_class if split == "train" else 1):
                (folder / f"{index:04d}.png").write_bytes(buffer.getvalue())
    return root


# ------------------------------------------------------------------------------------------------------------------
# 1, 12: counts that must be at least 1


def test_zero_epochs_is_refused_not_ignored(capsys, tmp_path):
    code, err = train(capsys, "--epochs", "0", "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2 and "argument --epochs: must be a whole number ≥ 1, got 0" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("limit", ["-5", "0"])
def test_evaluate_limit_must_be_positive(capsys, limit):
    with pytest.raises(SystemExit) as exit_:
        script("evaluate").main(["--checkpoints", NOWHERE, "--limit", limit])
    assert exit_.value.code == 2
    assert f"argument --limit: must be a whole number ≥ 1, got {int(limit)}" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------------
# 2-4: recipes: every type and range error names the field and what it takes


@pytest.mark.parametrize("text, message", [
    ('{"epochs": 1.5}', "epochs must be a whole number ≥ 1, got 1.5"),
    ('{"epochs": Infinity}', "epochs must be a whole number ≥ 1, got Infinity"),
    ('{"lr": NaN}', "lr must be a number > 0, got NaN"),
    ('{"seed": 1.5}', "seed must be a whole number in [0, 4294967295], got 1.5"),
    ('{"seed": -1}', "seed must be a whole number in [0, 4294967295], got -1"),
    ('{"nesterov": "no"}', 'nesterov must be true or false, got "no" (a string)'),
    ('{"compile": 1}', "compile must be true or false, got 1"),
    ('{"lr": "0.1"}', 'lr must be a number > 0, got "0.1" (a string)'),
    ('{"batch_size": 64.5}', "batch_size must be a whole number ≥ 1, got 64.5"),
    ('{"epochs": true}', "epochs must be a whole number ≥ 1, got true"),
    ('{"momentum": 1}', "momentum must be a number in [0, 1), got 1"),
    ('{"augment": ["flip"]}', 'augment must be an object, got ["flip"] (a list)'),
    ('{"augment": {"flip_p": "0.5"}}', 'augment.flip_p must be a number in [0.0, 1.0], got "0.5" (a string)'),
    ('{"augment": {"flip_p": 3}}', "augment.flip_p must be a number in [0.0, 1.0], got 3"),
    ('{"augment": {"mix": "blend"}}', "augment.mix must be one of 'none', 'mixup', 'cutmix', got \"blend\" (a string)"),
    ('{"augment": {"flip": 0.5}}', "unknown field(s) ['augment.flip']; known fields of augment: "),
    ('{"epoch": 3}', "unknown field(s) ['epoch']"),
    ('[1, 2]', "the file must hold a JSON object, not [1, 2] (a list)"),
])
def test_a_bad_recipe_is_refused_naming_the_field(capsys, tmp_path, text, message):
    recipe, err = refused_recipe(capsys, tmp_path, text)
    assert err.startswith(f"error: recipe {recipe}: {message}")


def refused_recipe(capsys, tmp_path, text: str) -> tuple:
    """train_all.py on a recipe file holding ``text``: refused in one line with exit 2, nothing written; the file and
    the message."""
    recipe = tmp_path / "recipe.json"
    recipe.write_text(text)
    code, err = train(capsys, "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2 and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    return recipe, err


def test_integral_floats_are_the_integers_they_equal(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text('{"epochs": 2.0, "batch_size": 64.0, "lr": 1, "augment": {"cutout_size": 4.0}}')
    loaded = load_recipe_file(recipe)
    assert (loaded.epochs, loaded.batch_size, loaded.lr) == (2, 64, 1.0)
    assert type(loaded.epochs) is int and type(loaded.lr) is float  # run.json records 2, not 2.0
    assert json.loads(json.dumps(loaded.to_dict()))["epochs"] == 2


# ------------------------------------------------------------------------------------------------------------------
# 5, 10: the output folder


def test_out_that_is_a_file_is_refused_before_loading_data(capsys, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    code, err = train(capsys, "--out", str(a_file), "--data", NOWHERE)
    assert code == 2 and err == f"error: --out {a_file} is a file, not a folder; choose a folder for the checkpoints.\n"
    assert a_file.read_text() == "not a folder"
    code, err = train(capsys, "--out", str(a_file / "inside"), "--data", NOWHERE)
    assert code == 2 and f"--out {a_file / 'inside'} cannot be created: Not a directory" in err


def test_out_that_cannot_be_written_is_refused_before_loading_data(capsys, tmp_path):
    if os.geteuid() == 0:  # root writes into a read-only folder, but not into sysfs (there on every Linux machine)
        folder = Path("/sys/kernel")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
    code, err = train(capsys, "--out", str(folder), "--data", NOWHERE)
    assert code == 2 and f"--out {folder} cannot be written: Permission denied" in err


def _train_all_process(out: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/train_all.py", "--models", "plain_cnn", "--device", "cpu",
                           "--quiet", "--out", str(out), *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # a script in a subprocess
def test_a_second_run_into_the_same_out_is_refused_while_the_first_holds_it(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out):  # this test process is the first run: it holds the folder through the same lock code
        second = _train_all_process(out, "--epochs", "1", "--subset", "600")
        assert (out / LOCK_FILE).read_text().split()[0] == str(os.getpid())  # the refused run left it alone
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"--out {out} is in use by another training run (PID {os.getpid()} on " in second.stderr
    assert "Wait for it to finish, or choose another --out" in second.stderr
    assert not (out / LOCK_FILE).exists()  # removed when the holder let go


@pytest.mark.slow  # a script in a subprocess
def test_a_stale_lock_of_a_dead_run_is_taken_over_and_removed_at_exit(tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(f"{ended.pid} otherhost\n")  # as left by a run killed with -9
    # the data is not there: the run takes the folder over, then stops at once with exit 2
    result = _train_all_process(out, "--data", NOWHERE)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"was locked by a run that has ended (PID {ended.pid} on otherhost); taking it over" in result.stderr
    assert "CIFAR-10 was not found" in result.stderr
    assert not (out / LOCK_FILE).exists()


# ------------------------------------------------------------------------------------------------------------------
# 6, 13, 14, 15: the data


def test_cache_variable_pointing_at_a_file_is_refused_up_front(capsys, tmp_path, monkeypatch):
    a_file = tmp_path / "cache.npz"
    a_file.write_bytes(b"not a folder")
    monkeypatch.setenv("CIFAR10_CACHE", str(a_file))
    code, err = train(capsys, "--data", str(image_tree(tmp_path / "tree", 2)), "--out", str(tmp_path / "out"))
    assert code == 2
    assert f"error: $CIFAR10_CACHE ({a_file}) is a file, not a folder. Point $CIFAR10_CACHE at a folder" in err


@pytest.mark.parametrize("subset", ["0", "5", "-3"])
def test_a_subset_below_one_batch_is_refused_before_loading_data(capsys, tmp_path, subset):
    code, err = train(capsys, "--subset", subset, "--out", str(tmp_path / "out"), "--data", NOWHERE)
    assert code == 2
    assert (f"error: --subset {subset} is too small: a run needs at least one batch of training images, 520 with "
            "batch_size 512 (52 of each of the 10 classes); the valid range is 520 to the number of training "
            "images (45,000 in CIFAR-10).") in err


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")  # the shared data, decoded once for the session
def test_a_subset_beyond_the_data_names_the_valid_range(capsys, tmp_path):
    code, err = train(capsys, "--subset", "100000", "--out", str(tmp_path / "out"))
    assert code == 2
    assert ("--subset 100000 is too large: the training split has 4,500 images of its smallest class, so at most "
            "45,000 (10 classes x 4,500); the valid range is 520 to 45,000, or leave --subset out to train on all "
            "45,000.") in err
    assert not (tmp_path / "out" / "plain_cnn").exists()


def test_too_few_images_per_class_for_the_validation_split(capsys, tmp_path):
    tree = image_tree(tmp_path / "tree", 60)
    with pytest.raises(DataError) as caught:
        load_cifar10(tree, cache_dir=tmp_path / "cache", progress=False)
    message = (f"{tree} has 60 training images of class 'airplane'; 500 of each class are kept for validation, so "
               "every class needs more than 500 (CIFAR-10 has 5,000 of each).")
    assert message in str(caught.value)
    code, err = train(capsys, "--data", str(tree), "--out", str(tmp_path / "out"))
    assert code == 2 and message in err


def test_a_tree_without_test_says_what_is_missing(capsys, tmp_path):
    tree = image_tree(tmp_path / "tree", 2, splits=("train",))
    code, err = train(capsys, "--data", str(tree), "--out", str(tmp_path / "out"))
    assert code == 2 and f"{tree} (--data): it has a train/ folder but no test/ folder beside it" in err


def test_a_text_file_as_data_says_what_it_is(capsys, tmp_path):
    text = tmp_path / "cifar.txt"
    text.write_text("airplane automobile bird")
    code, err = train(capsys, "--data", str(text), "--out", str(tmp_path / "out"))
    assert code == 2 and f"{text} (--data): it is a file, but not a .tar.gz, .tgz or .tar archive, nor a folder" in err


def test_an_empty_test_split_is_named(tmp_path):
    tree = image_tree(tmp_path / "tree", 2)
    for image in (tree / "test").rglob("*.png"):
        image.unlink()
    with pytest.raises(DataError, match=r"has no images under test/<class>/ \(the image files must be named"):
        load_cifar10(tree, cache_dir=tmp_path / "cache", val_per_class=0, progress=False)


@pytest.mark.parametrize("batch", [
    {b"labels": [0, 1]},  # no data
    {b"data": np.zeros((2, 3072), np.uint8)},  # no labels
    {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},  # not 32x32x3 images
    {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},  # a label beyond the ten classes
    [np.zeros((2, 3072), np.uint8)],  # not a dict at all
])
def test_a_pickle_that_is_not_a_cifar_batch_is_named(tmp_path, batch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(good))
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError) as caught:
        load_cifar10(folder, cache_dir=tmp_path / "cache", val_per_class=0, progress=False)
    assert str(caught.value).startswith(f"not a CIFAR-10 batch file: {folder / 'data_batch_3'} (expected a 'data'")


# ------------------------------------------------------------------------------------------------------------------
# 11: a diverging run says what it really kept


def _diverging_run(capsys, tmp_path: Path, subset: int, epochs: int, lr: float = 1e38) -> tuple[int, str, Path]:
    """A plain_cnn run that diverges on its second step (at lr 1e38 its loss overflows; at 1e3 its outputs become NaN):
    batches of 16, so 20 images take one step an epoch and 40 take two. Its exit code, stderr and output folder."""
    recipe = tmp_path / "explode.json"
    recipe.write_text(json.dumps({"lr": lr, "warmup": 0.0, "batch_size": 16}))
    out = tmp_path / "out"
    code, err = train(capsys, "--recipe", str(recipe), "--subset", str(subset), "--epochs", str(epochs),
                      "--precision", "fp32", "--out", str(out))
    return code, err, out


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")
def test_divergence_in_the_first_epoch_says_nothing_was_kept(capsys, tmp_path):
    code, err, out = _diverging_run(capsys, tmp_path, subset=40, epochs=1)
    assert code == 2
    assert "plain_cnn: the training loss became nan in epoch 1. No epoch had finished, so no state was kept" in err
    assert not list(out.rglob("*.safetensors")) and not list(out.rglob("*.json"))


@pytest.mark.slow
@pytest.mark.usefixtures("cifar")
def test_divergence_later_names_the_state_it_kept(capsys, tmp_path):
    # at 1e38 the first step's weights give NaN outputs already, which is refused as a divergence of epoch 1
    code, err, out = _diverging_run(capsys, tmp_path, subset=20, epochs=2, lr=1e3)
    kept = out / "plain_cnn" / "resume.json"
    assert code == 2 and f"in epoch 2. The last good state (epoch 1) is kept in {kept} for inspection" in err
    assert json.loads(kept.read_text())["epoch"] == 1


# ------------------------------------------------------------------------------------------------------------------
# 16: 16-bit uploads, decoded in bands (the memory figure is scripts/benchmark_uploads.py's)


def test_a_large_sixteen_bit_png_gives_the_exact_eight_bit_values():
    values = np.random.default_rng(0).integers(0, 65536, (1300, 1100), dtype=np.uint16)  # several bands of rows
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")
    prepared = prepare_upload(buffer.getvalue(), "deep.png")
    eight_bit = Image.fromarray(((values.astype(np.uint32) + 128) // 257).astype(np.uint8))  # round(v * 255 / 65535)
    expected = eight_bit.resize((32, 32), Image.Resampling.LANCZOS, box=(0, 100, 1100, 1200), reducing_gap=3.0)
    assert prepared.mode == "I;16" and prepared.crop_box == (0, 100, 1100, 1200)
    for channel in range(3):
        np.testing.assert_array_equal(prepared.pixels[..., channel], np.asarray(expected))


# ------------------------------------------------------------------------------------------------------------------
# Issue 22, 4 and 16: a recipe with a duplicate key or nested too deeply is refused in one line, before any work


@pytest.mark.parametrize("text, message", [
    ('{"lr": 0.1, "lr": 1e9}', 'the key "lr" appears twice in one object; keep the one you mean'),
    ('{"augment": {"flip_p": 0.5, "flip_p": 0.0}}', 'the key "flip_p" appears twice in one object'),
    ("[" * 100_000 + "]" * 100_000, "it is nested too deeply to be a record"),
])
def test_a_recipe_with_a_duplicate_key_or_deep_nesting_is_refused(capsys, tmp_path, text, message):
    recipe, err = refused_recipe(capsys, tmp_path, text)
    assert err.startswith(f"error: cannot read recipe {recipe}: {message}")


# ------------------------------------------------------------------------------------------------------------------
# Issue 22, 10: a robustness result for these very weights, with a value of the wrong type: named on the pages


def test_a_robustness_result_of_the_wrong_type_is_named_on_the_pages(open_app, untrained_checkpoints, tmp_path):
    from apptest_helpers import assert_rendered
    from cifar_models.checkpoint import CheckpointError, weights_digest
    from cifar_models.robustness import ROBUSTNESS_FILE, read_robustness

    root = tmp_path / "checkpoints"
    shutil.copytree(untrained_checkpoints, root)
    result = json.loads((REPO / "checkpoints" / "senet" / ROBUSTNESS_FILE).read_text())
    result["weights_sha256"] = weights_digest(root / "senet")  # measured on these weights, so it is read
    assert read_robustness(root / "senet") is None  # none yet
    (root / "senet" / ROBUSTNESS_FILE).write_text(json.dumps(result))
    assert read_robustness(root / "senet")["clean_accuracy"] == result["clean_accuracy"]
    result["accuracy"]["fog"][2] = "high"
    (root / "senet" / ROBUSTNESS_FILE).write_text(json.dumps(result))
    problem = (f"Robustness result {root / 'senet' / ROBUSTNESS_FILE}: accuracy.fog[2] must be a number in [0, 1], "
               'got "high" (a string)')
    with pytest.raises(CheckpointError) as refused:
        read_robustness(root / "senet")
    assert str(refused.value) == problem
    # Compare reads it through the same loader (sources.load_robustness), only when it has the data to pair models
    app = open_app("app_pages/robustness.py", root, data=tmp_path / "no-data")
    assert_rendered(app, "app_pages/robustness.py")  # no exception: SENet's result is named and left out
    assert problem in [warning.value for warning in app.warning]
    assert "No current robustness result for Plain CNN, SENet, Inception" in " ".join(info.value for info in app.info)


# ------------------------------------------------------------------------------------------------------------------
# Issue 22, 1 and 10: a run record with a number it cannot hold is refused naming the file and the field, on the pages


@pytest.mark.parametrize("field, value, problem", [
    ("accuracy", 5.0, "test.accuracy must be a number in [0, 1], got 5.0"),
    ("predictions", [0] * 5_000, "test.predictions must hold one value per test image (n = 10000) or none, got 5000"),
])
def test_a_record_with_an_impossible_number_leaves_that_model_out_with_the_reason(open_app, untrained_checkpoints,
                                                                                 tmp_path, field, value, problem):
    from apptest_helpers import HOME, assert_rendered
    from cifar_models.checkpoint import RECORD_FILE

    root = tmp_path / "checkpoints"
    shutil.copytree(untrained_checkpoints, root)
    record_json = json.loads((root / "senet" / RECORD_FILE).read_text())
    record_json["test"][field] = value
    (root / "senet" / RECORD_FILE).write_text(json.dumps(record_json))
    app = open_app(HOME, root, data=tmp_path / "no-data")
    assert_rendered(app, HOME)  # no math domain error, no "500.00%"
    [warning] = [warning.value for warning in app.warning]
    assert f"Run record {root / 'senet' / RECORD_FILE}: {problem}" in warning
    assert len(app.metric) == 2  # the cards of the two readable records
