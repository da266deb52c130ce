"""Which attribution map to trust over many images: measured on real checkpoints, stored beside them keyed by the
weights, shown on the Attribution page with a 95% interval."""
import json
import shutil

import numpy as np
import pytest

from apptest_helpers import ATTRIBUTION, assert_rendered, page_text
from cifar_models.attribution import METHODS, AttributionOptions, explainable_copy
from cifar_models.checkpoint import CheckpointError, load_checkpoint
from cifar_models.trust import TRUST_FILE, MethodTrust, TrustRecord, measure_trust, read_trust, save_trust
from conftest import REPO, run_script
from dashboard.views.attribution import trust_over_images_summary, trust_over_images_table

COMMITTED = REPO / "checkpoints"


def synthetic_test_split(per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class + 1)
    return rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8), labels


def record_with(scores: dict[str, list[float]], name: str = "senet") -> TrustRecord:
    count = len(next(iter(scores.values())))
    return TrustRecord(name, "0" * 64, "f" * 16, 1, AttributionOptions(), tuple(range(count)), (0,) * count,
                       {method: tuple(values) for method, values in scores.items()}, 1.0)


def test_the_interval_is_students_t_over_the_images():
    found = MethodTrust.of("saliency", np.array([0.1, 0.2, 0.3, 0.4]))
    # mean 0.25, sample std 0.1291, t(0.975, 3) = 3.1824: half-width 0.2054
    assert found.mean == pytest.approx(0.25)
    assert (found.low, found.high) == pytest.approx((0.25 - 0.20543, 0.25 + 0.20543), abs=1e-4)
    assert found.images == 4


def test_measured_on_a_real_checkpoint_stored_and_read_back(tmp_path):
    folder = tmp_path / "plain_cnn"
    shutil.copytree(COMMITTED / "plain_cnn", folder)
    (folder / TRUST_FILE).unlink(missing_ok=True)
    images, labels = synthetic_test_split(per_class=1)
    model = explainable_copy(load_checkpoint(folder).model)
    record = measure_trust("plain_cnn", model, folder, images, labels, data_fingerprint="synthetic", per_class=1,
                           progress=False)
    assert len(record.indices) == 10 and sorted(labels[list(record.indices)]) == list(range(10))
    assert list(record.scores) == list(METHODS) and all(len(s) == 10 for s in record.scores.values())
    assert all(-1 <= score <= 1 for scores in record.scores.values() for score in scores)
    assert len(set(record.scores["occlusion"])) > 1  # real, image-dependent scores
    save_trust(folder, record)
    assert read_trust(folder) == record
    for found in record.summary().values():
        assert found.low <= found.mean <= found.high and found.images == 10


def test_a_result_of_other_weights_is_stale_and_a_damaged_one_is_refused_by_name(tmp_path):
    folder = tmp_path / "plain_cnn"
    shutil.copytree(COMMITTED / "plain_cnn", folder)
    record = record_with({"saliency": [0.1, 0.2]}, "plain_cnn")  # weights_sha256 of no real weights
    save_trust(folder, record)
    assert read_trust(folder) is None  # measured on other weights: not shown as current
    assert read_trust(tmp_path / "nowhere") is None
    stored = json.loads((folder / TRUST_FILE).read_text())
    from cifar_models.checkpoint import weights_digest

    stored["weights_sha256"] = weights_digest(folder)
    stored["scores"]["saliency"] = [0.1]  # one score for two images
    (folder / TRUST_FILE).write_text(json.dumps(stored))
    with pytest.raises(CheckpointError, match=f"{TRUST_FILE}.*one entry per image"):
        read_trust(folder)
    (folder / TRUST_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=TRUST_FILE):
        read_trust(folder)


def test_the_table_stars_each_models_best_mean_and_the_summary_says_when_the_lead_is_noise():
    clear = record_with({"saliency": [0.30, 0.32, 0.31, 0.29], "grad_cam": [0.01, 0.02, 0.0, 0.01]}, "senet")
    noisy = record_with({"saliency": [0.3, -0.2, 0.4, -0.1], "grad_cam": [0.1, 0.0, 0.05, 0.0]}, "inception")
    hopeless = record_with({"saliency": [-0.2, -0.3, -0.25, -0.2]}, "plain_cnn")
    table = trust_over_images_table({"senet": clear, "inception": noisy})
    assert list(table.index) == ["Saliency", "Grad-CAM"] and list(table.columns) == ["SENet", "Inception"]
    assert table.loc["Saliency", "SENet"].startswith("+30.5% (") and table.loc["Saliency", "SENet"].endswith("★")
    assert not table.loc["Grad-CAM", "SENet"].endswith("★")
    summary = trust_over_images_summary({"senet": clear, "inception": noisy, "plain_cnn": hopeless})
    assert "over 4 test images" in summary
    assert "SENet: **Saliency** (+30.5%, clearly ahead)" in summary
    assert "Inception: **Saliency** (+10.0%, within the noise of Grad-CAM (+3.8%))" in summary
    assert "Plain CNN: no method beats random pixels" in summary


def test_evaluate_faithfulness_writes_it_and_the_attribution_page_shows_it(tmp_path, open_app, cifar):
    for name in ("plain_cnn", "senet", "inception"):
        shutil.copytree(COMMITTED / name, tmp_path / name, ignore=shutil.ignore_patterns(TRUST_FILE))
    shutil.rmtree(tmp_path / "senet")  # leave one model out so the page names what is missing
    result = run_script("scripts/evaluate.py", "--checkpoints", str(tmp_path), "--faithfulness", "--per-class", "1",
                        "--device", "cpu")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["model"] for line in lines) == ["inception", "plain_cnn"]
    assert all(line["images"] == 10 and set(line["mean_faithfulness"]) == set(METHODS) for line in lines)
    assert read_trust(tmp_path / "inception").indices == tuple(
        int(i) for i in np.sort(np.concatenate([np.flatnonzero(cifar.test.labels == c)[:1] for c in range(10)])))

    app = open_app(ATTRIBUTION, tmp_path)
    app.sidebar.button[0].click().run()
    assert_rendered(app, ATTRIBUTION)
    over_images = app.table[1].value  # after this image's table
    assert list(over_images.columns) == ["Plain CNN", "Inception"]
    assert list(over_images.index) == [METHODS[m].title for m in METHODS]
    assert all(" to " in cell for cell in over_images.to_numpy().ravel())
    assert "Most faithful map per model over 10 test images" in page_text(app)


def test_evaluate_faithfulness_refuses_more_images_per_class_than_the_test_split_has(tmp_path, cifar):
    shutil.copytree(COMMITTED / "plain_cnn", tmp_path / "plain_cnn")
    result = run_script("scripts/evaluate.py", "--checkpoints", str(tmp_path), "--faithfulness", "--per-class",
                        "1001", "--device", "cpu", check=False)
    assert result.returncode == 2 and "--per-class 1001" in result.stderr and "Traceback" not in result.stderr


def test_a_damaged_result_is_named_on_the_attribution_page_and_the_models_still_explain(tmp_path, open_app):
    for name in ("plain_cnn", "inception"):
        shutil.copytree(COMMITTED / name, tmp_path / name, ignore=shutil.ignore_patterns(TRUST_FILE))
    (tmp_path / "inception" / TRUST_FILE).write_text("{not json")
    app = open_app(ATTRIBUTION, tmp_path)
    app.sidebar.button[0].click().run()
    assert_rendered(app, ATTRIBUTION)
    assert any(TRUST_FILE in warning.value and "evaluate.py --faithfulness" in warning.value for warning in app.warning)
    assert "Most faithful map per model — Plain CNN: **" in page_text(app)  # this image's maps, both models
