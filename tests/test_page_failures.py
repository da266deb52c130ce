"""Pages in AppTest on real (untrained) checkpoints when something is wrong: a damaged data archive, a run record
naming another architecture than its weights; and how each model was made, shown beside its figures."""
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from apptest_helpers import ATTRIBUTION, FEATURE_MAPS, HOME, PREDICT, assert_rendered, chart_frames, page_text, png, \
    sidebar_note
from cifar_models.checkpoint import RECORD_FILE, read_record, write_json
from cifar_models.data import DataError, load_cifar10
from cifar_models.models import model_title
from dashboard.settings import data_advice
from dashboard.views.common import provenance

DATASET, COMPARE = "app_pages/dataset.py", "app_pages/compare.py"


def upload(app, pixels: np.ndarray):
    app.sidebar.file_uploader[0].set_value(("photo.png", png(pixels, 64), "image/png")).run()


def test_predict_with_a_damaged_archive_gives_the_data_message_and_uploads_keep_working(open_app,
                                                                                      untrained_checkpoints, tmp_path):
    damaged = tmp_path / "cifar10-jpeg.tar.gz"
    damaged.write_bytes(b"\x1f\x8b" + b"not an archive" * 100)
    with pytest.raises(DataError) as raised:
        load_cifar10(damaged, progress=False)
    message = f"{raised.value}{data_advice(raised.value)}"  # the library's words, then the command the pages add
    assert "scripts/prepare_data.py --download" in message
    dataset = open_app(DATASET, untrained_checkpoints, data=damaged)
    assert [error.value for error in dataset.error] == [message]  # what the data pages say

    app = open_app(PREDICT, untrained_checkpoints, data=damaged)
    assert_rendered(app, PREDICT)
    assert message.replace("\n", "  \n") in page_text(app)
    upload(app, np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert_rendered(app, PREDICT)
    assert len([frame for frame in chart_frames(app) if "rank" in frame]) == 3  # each model's top 5
    assert "**photo.png** · PNG · 64x64" in page_text(app)


@pytest.fixture
def one_mismatched(untrained_checkpoints, tmp_path):
    """The untrained checkpoints with senet's run.json naming inception: the weights are SENet's."""
    root = tmp_path / "checkpoints"
    shutil.copytree(untrained_checkpoints, root)
    record = read_record(root / "senet")
    write_json(root / "senet" / RECORD_FILE, replace(record, model="inception").to_json())
    return root


@pytest.mark.parametrize("page", [PREDICT, FEATURE_MAPS, ATTRIBUTION])
def test_a_record_naming_another_architecture_leaves_out_that_model_only(open_app, one_mismatched, tmp_path, page):
    app = open_app(page, one_mismatched, data=tmp_path / "no-data")
    upload(app, np.full((32, 32, 3), 128, dtype=np.uint8))
    assert_rendered(app, page)
    [error] = [error.value for error in app.error]
    assert error.startswith("SENet is left out: Weights ") and "do not match the architecture 'inception'" in error
    if page == PREDICT:
        assert len([frame for frame in chart_frames(app) if "rank" in frame]) == 2  # the two healthy models
        assert "Test images Plain CNN gets wrong" in [h.value for h in app.subheader]  # the gallery stays
    elif page == FEATURE_MAPS:  # the side-by-side: a column per healthy model
        assert "**Plain CNN**" in page_text(app) and "**Inception**" in page_text(app)
        assert "**SENet**" not in page_text(app)
    else:  # the page goes on with the two others, to the Explain button
        assert "Press **Explain**" in page_text(app)


def test_every_page_with_metrics_says_how_each_model_was_made(open_app, untrained_checkpoints, tmp_path):
    records = {name: read_record(untrained_checkpoints / name) for name in ("plain_cnn", "senet", "inception")}
    made = {name: provenance(record) for name, record in records.items()}
    assert made["senet"] == "AMD EPYC (2 threads) · bf16 · 3 epochs · 1 min 40 s training"

    home = open_app(HOME, untrained_checkpoints, data=tmp_path / "no-data")
    assert_rendered(home, HOME)
    text = page_text(home)
    assert text.count("**device**: AMD EPYC (2 threads)") == 3 and text.count("**precision**: bf16") == 3
    assert text.count("**training time**: 1 min 40 s for 3 epochs") == 3
    assert all(f"{model_title(name)} ({made[name]}, 2026-11-27)" in sidebar_note(home) for name in records)  # on every page

    compare = open_app(COMPARE, untrained_checkpoints, data=tmp_path / "no-data")
    assert all(f"{model_title(name)}: {made[name]}" in page_text(compare) for name in records)
    costs = compare.table[0].value
    assert list(costs.loc["precision"]) == ["bf16"] * 3 and list(costs.loc["epochs"]) == ["3"] * 3  # a column each


def test_a_record_missing_a_field_is_named_on_home_and_the_other_models_show(open_app, untrained_checkpoints,
                                                                               tmp_path):
    root = tmp_path / "checkpoints"
    shutil.copytree(untrained_checkpoints, root)
    record_json = json.loads((root / "senet" / RECORD_FILE).read_text())
    del record_json["test"]["accuracy"]  # as if written by a version that did not record it: refused, not guessed
    (root / "senet" / RECORD_FILE).write_text(json.dumps(record_json))
    app = open_app(HOME, root, data=tmp_path / "no-data")
    assert_rendered(app, HOME)
    [warning] = [warning.value for warning in app.warning if "test.accuracy" in warning.value]
    assert f"{root / 'senet' / RECORD_FILE}: test.accuracy is missing" in warning
    assert f"--out {root} --models senet" in page_text(app)  # the command that retrains it, under the warning
    assert len(app.metric) == 2  # the cards of the two readable records
    assert "Cannot say: there is no SENet run and rival with complete test results" in page_text(app)
