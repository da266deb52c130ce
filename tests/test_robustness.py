"""Robustness (CIFAR-10-C on a stratified subset) and several seeds per model, through the real scripts."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cifar_models.checkpoint import find_checkpoints, find_seed_checkpoints, read_record, seed_folder
from cifar_models.corruptions import CORRUPTION_NAMES
from cifar_models.robustness import (ROBUSTNESS_FILE, corruption_errors, mean_corruption_accuracy, read_robustness,
                                     stratified_subset, summarise)
from dashboard.views.common import format_percent


def test_stratified_subset_takes_the_first_images_of_each_class_in_order():
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 1, 2, 2])
    assert stratified_subset(labels, 2).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="class 0 has 3 test images, fewer than the 4 asked for"):
        stratified_subset(labels, 4)


def test_corruption_error_is_the_error_ratio_summed_over_severities():
    baseline = {"fog": [0.9, 0.8, 0.7, 0.6, 0.5], "snow": [0.5] * 5}
    model = {"fog": [0.95, 0.9, 0.85, 0.8, 0.75], "snow": [0.75] * 5}
    errors = corruption_errors(model, baseline)
    assert errors["fog"] == pytest.approx((0.05 + 0.1 + 0.15 + 0.2 + 0.25) / (0.1 + 0.2 + 0.3 + 0.4 + 0.5))
    assert errors["snow"] == pytest.approx(0.5)
    summary = summarise({"accuracy": model}, {"accuracy": baseline})
    assert summary["mean_corruption_error"] == pytest.approx((errors["fog"] + 0.5) / 2)
    assert summary["mean_corruption_accuracy"] == pytest.approx(mean_corruption_accuracy(model)) == 0.8
    assert summarise({"accuracy": model}, None)["corruption_error"] is None


@pytest.fixture(scope="module")
def two_seeds(run_script, tmp_path_factory):
    """plain_cnn trained for real, one epoch on 600 images, with --seeds 2."""
    out = tmp_path_factory.mktemp("seeds")
    result = run_script("scripts/train_all.py", "--models", "plain_cnn", "--subset", "600", "--epochs", "1",
                        "--seeds", "2", "--device", "cpu", "--out", str(out), "--quiet")
    return out, result


@pytest.mark.slow
def test_seeds_keep_the_single_seed_layout_first_and_the_others_beside_it(two_seeds):
    out, result = two_seeds
    assert json.loads(result.stdout.strip().splitlines()[-1])["seeds"] == [0, 1]
    assert set(find_checkpoints(out)) == {"plain_cnn"}  # what every single-seed reader sees
    assert set(find_checkpoints(seed_folder(out, 1))) == {"plain_cnn"}
    seeds = find_seed_checkpoints(out)
    assert seeds["plain_cnn"] == [out / "plain_cnn", out / "seed-1" / "plain_cnn"]
    first, second = (read_record(folder) for folder in seeds["plain_cnn"])
    assert (first.seed, second.seed) == (0, 1)
    assert first.test.predictions != second.test.predictions  # really another training run


@pytest.fixture(scope="module")
def measured(run_script, two_seeds, tmp_path_factory):
    """Two trained plain_cnn runs (the second seed standing in for a rival) measured by evaluate.py --robustness on
    one test image per class; (the checkpoint folder, the script's result)."""
    out = two_seeds[0]
    checkpoints = tmp_path_factory.mktemp("measured")
    shutil.copytree(out / "plain_cnn", checkpoints / "plain_cnn")
    shutil.copytree(out / "seed-1" / "plain_cnn", checkpoints / "rival")
    return checkpoints, run_script("scripts/evaluate.py", "--checkpoints", str(checkpoints), "--robustness",
                                   "--per-class", "1", "--device", "cpu")


@pytest.mark.slow
def test_evaluate_robustness_writes_a_grid_keyed_by_the_weights(measured, tmp_path):
    checkpoints, result = measured
    lines = {json.loads(line)["model"]: json.loads(line) for line in result.stdout.strip().splitlines()}
    assert set(lines) == {"plain_cnn", "rival"} and lines["rival"]["images"] == 10
    assert "robustness" in result.stderr  # the progress bar
    record = read_robustness(checkpoints / "rival")
    assert record is not None and list(record["accuracy"]) == list(CORRUPTION_NAMES)
    assert all(len(cells) == 5 and all(0 <= cell <= 1 for cell in cells) for cells in record["accuracy"].values())
    assert len(record["predictions"]["fog"][4]) == 10 and record["protocol"]["per_class"] == 1
    assert record["mean_corruption_accuracy"] == pytest.approx(mean_corruption_accuracy(record["accuracy"]))
    baseline = read_robustness(checkpoints / "plain_cnn")
    assert baseline["mean_corruption_error"] == pytest.approx(1.0)  # plain_cnn is the baseline
    assert record["corruption_error"] == pytest.approx(corruption_errors(record["accuracy"], baseline["accuracy"]))
    # other weights: the result is stale and no longer read as current
    retrained = shutil.copytree(checkpoints / "rival", tmp_path / "rival")
    (retrained / "model.safetensors").write_bytes((checkpoints / "plain_cnn" / "model.safetensors").read_bytes())
    assert (retrained / ROBUSTNESS_FILE).is_file() and read_robustness(retrained) is None


@pytest.mark.slow
def test_robustness_subset_larger_than_the_test_split_is_refused_before_any_work(run_script, two_seeds):
    result = run_script("scripts/evaluate.py", "--checkpoints", str(two_seeds[0]), "--robustness",
                        "--per-class", "1001", "--device", "cpu", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--per-class 1001: class 0 has 1000 test images, fewer than the 1001 asked for" in result.stderr


ROBUSTNESS_PAGE = "app_pages/robustness.py"


@pytest.mark.slow
def test_robustness_page_degrades_the_same_images_and_maps_each_models_grid(open_app, measured, cifar):
    from apptest_helpers import assert_rendered, chart_frames, page_text

    checkpoints, _ = measured
    app = open_app(ROBUSTNESS_PAGE, checkpoints)
    assert_rendered(app, ROBUSTNESS_PAGE)
    app.sidebar.selectbox[0].set_value("fog")
    app.sidebar.slider[0].set_value(5)
    app.run()
    assert_rendered(app, ROBUSTNESS_PAGE)
    pairs = app.get("image")[:10]  # one test image per class, each an st.image of the original and its degraded one
    assert len(pairs) == 10 and all(len(pair.proto.imgs) == 2 for pair in pairs)
    predictions = app.table[0].value  # a row per image, a column per model
    assert list(predictions.columns) == ["true class", "Plain CNN", "rival"]  # by title (an unregistered name as is)
    assert len(predictions) == 10 and all(cell[0] in "✓✗" for cell in predictions["rival"])
    summary = app.table[1].value
    record = read_robustness(checkpoints / "rival")
    assert summary.loc["rival", "mean corruption accuracy"] == format_percent(record["mean_corruption_accuracy"])
    grids = [frame for frame in chart_frames(app) if "severity" in frame]
    assert len(grids) == 2 and all(len(frame) == 75 for frame in grids)  # 15 corruptions x 5 severities each
    fog_5 = grids[1].set_index(["corruption", "severity"]).loc[("Fog (weather)", 5), "accuracy"]
    assert fog_5 == pytest.approx(record["accuracy"]["fog"][4])
    assert "Under corruption" in page_text(app) and "holds up best" in page_text(app)


@pytest.mark.slow
def test_robustness_page_says_how_to_measure_when_there_is_no_result(open_app, two_seeds):
    from apptest_helpers import assert_rendered, page_text

    app = open_app(ROBUSTNESS_PAGE, two_seeds[0])
    assert_rendered(app, ROBUSTNESS_PAGE)
    assert "No current robustness result for Plain CNN" in page_text(app)  # the model by title
    assert f"python scripts/evaluate.py --robustness --checkpoints {two_seeds[0]}" in page_text(app)
    assert app.table  # the degraded examples work without a stored result
