"""The typed run record: every field is read by one parser that refuses a missing (without a default), wrongly typed,
out-of-range or inconsistent one by name, gives a field added later its default, reads today's format and every
committed record, a record survives writing and reading, and the derived figures are computed once."""
import json
import math
import re
from dataclasses import replace

import pytest
import torch

from cifar_models.checkpoint import (RECORD_FILE, CheckpointError, find_checkpoints, load_checkpoint, read_record,
                                     write_json)
from cifar_models.models import build_model
from cifar_models.augment import AugmentConfig
from cifar_models.recipe import DEFAULT_RECIPE, load_recipe_file
from cifar_models.run_record import RUN_RECORD_VERSION, EpochRecord, RunRecord, parse_history
from conftest import REPO
from run_records import run_record, run_record_json


def written(tmp_path, record_json) -> str:
    """The folder of a run.json holding ``record_json``, written as the engine writes records."""
    folder = tmp_path / "senet"
    write_json(folder / RECORD_FILE, record_json)
    return folder


def without(record_json, path):
    """``record_json`` with the field at ``path`` (keys and list indices) taken out."""
    *parents, last = path
    inner = record_json
    for key in parents:
        inner = inner[key]
    del inner[last]
    return record_json


@pytest.mark.parametrize("path, named, takes", [
    (("test",), "test", "an object"),
    (("created",), "created", "text"),
    (("test", "accuracy"), "test.accuracy", "a number in [0, 1]"),
    (("history", 1, "val_acc"), "history[1].val_acc", "a number in [0, 1] or null"),
    (("test", "reliability", 0, "count"), "test.reliability[0].count", "a whole number ≥ 0"),
    (("data", "subset"), "data.subset", "a whole number ≥ 1 or null"),  # a smoke run's absence is written
])
def test_a_record_missing_a_field_without_a_default_is_refused_by_its_name(tmp_path, path, named, takes):
    folder = written(tmp_path, without(run_record_json("senet", 0.9), path))
    with pytest.raises(CheckpointError) as refused:
        read_record(folder)
    message = str(refused.value)
    assert f"Run record {folder / RECORD_FILE}: {named} is missing; it must be {takes}" in message
    assert "scripts/" not in message  # the library names no script: the pages and scripts add their command


@pytest.mark.parametrize("path, default", [
    (("schema_version",), RUN_RECORD_VERSION),
    (("step_mode",), "eager"),
    (("recipe", "seed"), DEFAULT_RECIPE.seed),
    (("recipe", "eval_batch_size"), DEFAULT_RECIPE.eval_batch_size),
    (("recipe", "augment", "mix_alpha"), AugmentConfig().mix_alpha),
    (("recipe", "augment"), DEFAULT_RECIPE.augment),
])
def test_a_record_missing_a_field_added_later_gets_its_default(tmp_path, path, default):
    """A field with a default is one a later version may add: records written before it read with the default."""
    record_json = run_record_json("senet", 0.9, recipe=DEFAULT_RECIPE.updated(
        seed=7, eval_batch_size=256, epochs=3, augment={"mix_alpha": 2.0}).to_dict()) | {"schema_version": 1, "step_mode": "graphed"}
    record = read_record(written(tmp_path, without(record_json, path)))
    value = record
    for key in path:
        value = getattr(value, key)
    assert value == default and record.accuracy == 0.9


@pytest.mark.parametrize("field, value, named, expected", [
    (("params",), "1M", "params", "a whole number ≥ 0"),
    (("params",), 1.5, "params", "a whole number ≥ 0"),
    (("precision",), None, "precision", "text"),
    (("history",), {"epoch": 1}, "history", "a list"),
    (("test", "predictions"), [3, "cat"], "test.predictions[1]", "a whole number ≥ 0"),
    (("test", "accuracy"), True, "test.accuracy", "a number in [0, 1]"),
    (("data",), [], "data", "an object"),
])
def test_a_field_of_the_wrong_type_is_refused_by_its_name(tmp_path, field, value, named, expected):
    record_json = run_record_json("senet", 0.9)
    set_field(record_json, field, value)
    with pytest.raises(CheckpointError, match=re.escape(f"{named} must be {expected}, got")):
        read_record(written(tmp_path, record_json))


def set_field(record_json, path, value):
    *parents, last = path
    inner = record_json
    for key in parents:
        inner = inner[key]
    inner[last] = value
    return record_json


def with_predictions(n=100, accuracy=0.9):
    """A record of ``n`` test images whose predictions and confidences are recorded, every figure consistent."""
    record_json = run_record_json("senet", accuracy, n=n)
    record_json["test"]["predictions"] = [i % 10 for i in range(n)]
    record_json["test"]["confidence"] = [0.95] * n
    return record_json


# issue 22: one rule for every number read from a file; anything else is refused naming the file and the field
@pytest.mark.parametrize("field, value, problem", [
    (("test", "accuracy"), 5.0, "test.accuracy must be a number in [0, 1], got 5.0"),
    (("test", "accuracy_tta"), -0.1, "test.accuracy_tta must be a number in [0, 1], got -0.1"),
    (("test", "per_class_accuracy", 3), 1.5, "test.per_class_accuracy[3] must be a number in [0, 1], got 1.5"),
    (("test", "confidence", 7), 1.01, "test.confidence[7] must be a number in [0, 1], got 1.01"),
    (("test", "predictions", 4), -1, "test.predictions[4] must be a whole number ≥ 0, got -1"),
    (("test", "predictions", 4), 10, "test.predictions[4] must be a class in [0, 10), got 10"),
    (("test", "predictions"), [1] * 50, "test.predictions must hold one value per test image (n = 100) or none, got 50"),
    (("test", "confidence"), [0.5] * 99, "test.confidence must hold one value per test image (n = 100) or none, "
                                         "got 99"),
    (("test", "per_class_accuracy"), [0.9] * 9, "test.per_class_accuracy must hold one accuracy per class (10), got 9"),
    (("test", "confusion_matrix", 2), [0, 0, 9, 1, 0, 0, 0, 0, 0], "test.confusion_matrix must be 10 x 10"),
    (("test", "confusion_matrix", 0, 0), 1000, "test.confusion_matrix must count the 100 test images, got 1091"),
    (("test", "reliability", 0, "count"), 99, "test.reliability counts must sum to the 100 test images, got 99"),
    (("test", "n"), 0, "test.n must be a whole number ≥ 1, got 0"),
    (("history", 1, "epoch"), 3, "history[1].epoch must be 2 (epochs 1, 2, ... in order), got 3"),
    (("recipe", "epochs"), 2, "history holds 3 epochs, more than the recipe's 2"),
    (("world_size",), 2, "rank_weight_checksums must hold one checksum per rank (2)"),
    (("schema_version",), RUN_RECORD_VERSION + 1, f"schema_version must be a whole number in [1, {RUN_RECORD_VERSION}]"),
    (("model_name",), "senet", "unknown field(s) ['model_name']"),
])
def test_a_number_that_cannot_be_is_refused_naming_the_file_and_the_field(tmp_path, field, value, problem):
    folder = written(tmp_path, set_field(with_predictions(), field, value))
    with pytest.raises(CheckpointError) as refused:
        read_record(folder)
    assert str(refused.value).startswith(f"Run record {folder / RECORD_FILE}: {problem}")


def test_a_record_with_recorded_predictions_and_one_without_read():
    assert len(RunRecord.from_json(with_predictions(), "the test").test.predictions) == 100
    assert RunRecord.from_json(run_record_json("senet", 0.9), "the test").test.predictions == ()  # none recorded


def test_a_record_with_a_duplicate_key_or_nested_too_deeply_is_refused(tmp_path):
    folder = written(tmp_path, run_record_json("senet", 0.9))
    text = (folder / RECORD_FILE).read_text()
    (folder / RECORD_FILE).write_text(text.replace('"model": "senet",', '"model": "senet", "model": "inception",'))
    with pytest.raises(CheckpointError, match='the key "model" appears twice'):
        read_record(folder)
    (folder / RECORD_FILE).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_record(folder)


def test_a_recipe_the_code_refuses_and_a_record_that_is_no_object_are_refused(tmp_path):
    record_json = run_record_json("senet", 0.9)
    record_json["recipe"]["epochs"] = 0
    with pytest.raises(CheckpointError, match=r"recipe\.epochs must be a whole number ≥ 1, got 0"):
        read_record(written(tmp_path, record_json))
    (tmp_path / "senet" / RECORD_FILE).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"senet/run\.json: the file must hold a JSON object"):
        read_record(tmp_path / "senet")


def test_a_history_is_parsed_by_the_same_rules():
    rows = run_record_json("senet", 0.9)["history"]
    assert [row.epoch for row in parse_history(rows, "resume.json")] == [1, 2, 3]
    with pytest.raises(CheckpointError, match=re.escape("resume.json: history[0].epoch must be 1")):
        parse_history(rows[1:], "resume.json")
    with pytest.raises(CheckpointError, match=re.escape("resume.json: history[2].train_acc must be a number in [0, 1]")):
        parse_history([*rows[:2], {**rows[2], "train_acc": 3}], "resume.json")


FIXTURE = REPO / "tests" / "fixtures" / "run_record_v0.json"


def test_todays_record_format_still_reads(tmp_path):
    """A verbatim copy of a record as the engine wrote it before ``schema_version`` (checkpoints/seed-1/plain_cnn):
    every later change must keep it readable, with the defaults of the fields added since."""
    raw = json.loads(FIXTURE.read_text())
    assert "schema_version" not in raw
    record = RunRecord.from_json(raw, FIXTURE)
    assert (record.model, record.accuracy, record.seed, record.schema_version) == ("plain_cnn", 0.8376, 1, 1)
    assert len(record.test.predictions) == record.test.n == 10_000 and record.epochs_run == record.recipe.epochs == 40
    assert record.recipe.augment.cutout_size == raw["recipe"]["augment"]["cutout_size"] == 8
    write_json(tmp_path / RECORD_FILE, record.to_json())  # written back as the engine writes: the same, versioned
    assert json.loads((tmp_path / RECORD_FILE).read_text()) == {**raw, "step_mode": "eager",
                                                                 "schema_version": RUN_RECORD_VERSION,
                                                                 "model_options": SEED_DROPBLOCK}


SEED_DROPBLOCK = {"drop_prob": 0.3, "drop_block_sizes": [8, 4, 2], "drop_schedule": "fixed"}  # pinned, not a default


@pytest.mark.parametrize("stated, trained", [
    ({}, SEED_DROPBLOCK),  # every committed record
    ({"drop_prob": 0.1}, {**SEED_DROPBLOCK, "drop_prob": 0.1}),  # a --model-option run before records held all
    ({"drop_prob": 0.0, "drop_block_sizes": [4], "drop_schedule": "linear"},
     {"drop_prob": 0.0, "drop_block_sizes": [4], "drop_schedule": "linear"}),  # a record that holds all of them
])
def test_a_record_that_states_fewer_options_rebuilds_what_the_builder_did_then(tmp_path, stated, trained):
    """Records held only the options given until they held all of them: each option a record does not state is the
    seed's fixed 0.3 DropBlock that the builder had then, whatever PlainCNNOptions's defaults become; it is read,
    written back and rebuilt so."""
    raw = {**run_record_json("plain_cnn", 0.9), "model_options": stated}
    folder = tmp_path / "plain_cnn"
    write_json(folder / RECORD_FILE, raw)
    record = read_record(folder)
    assert record.model_options == trained
    write_json(folder / RECORD_FILE, record.to_json())
    assert json.loads((folder / RECORD_FILE).read_text())["model_options"] == trained
    assert read_record(folder) == record
    drops = [block.drop for block in build_model("plain_cnn", **record.model_options).features[:3]]
    assert [(drop.target_prob, drop.ramp) for drop in drops[:len(trained["drop_block_sizes"])]] == [
        (trained["drop_prob"], trained["drop_schedule"] == "linear")] * len(trained["drop_block_sizes"])


def test_the_committed_records_rebuild_the_seeds_dropblock():
    """The committed runs say ``model_options: {}``: read and loaded, they are the seed's fixed 0.3 DropBlock."""
    for seed_root in (REPO / "checkpoints", REPO / "checkpoints" / "seed-1"):
        assert read_record(seed_root / "plain_cnn").model_options == SEED_DROPBLOCK
        assert read_record(seed_root / "senet").model_options == {}  # a model without options states none
    model = load_checkpoint(REPO / "checkpoints" / "plain_cnn").model
    drops = [block.drop for block in model.features]
    assert [(drop.target_prob, drop.block_size, drop.ramp) for drop in drops[:3]] == [
        (0.3, 8, False), (0.3, 4, False), (0.3, 2, False)]
    assert all(isinstance(drop, torch.nn.Identity) for drop in drops[3:])


def test_every_committed_record_reads():
    committed = sorted((REPO / "checkpoints").glob("**/run.json"))
    assert len(committed) == 6  # three models, two seeds
    for path in committed:
        record = read_record(path.parent)
        assert record.model == path.parent.name and len(record.test.predictions) == record.test.n


def test_a_recipe_written_into_a_record_is_a_recipe_file_training_reads(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(json.loads(FIXTURE.read_text())["recipe"]))
    assert load_recipe_file(recipe) == RunRecord.from_json(json.loads(FIXTURE.read_text()), FIXTURE).recipe


def test_the_committed_records_load_with_their_figures():
    committed = find_checkpoints(REPO / "checkpoints")
    assert set(committed) == {"plain_cnn", "senet", "inception"}
    for name, folder in committed.items():
        record = read_record(folder)
        raw = json.loads((folder / RECORD_FILE).read_text())
        assert record.model == name and record.accuracy == raw["test"]["accuracy"]
        assert record.epochs_run == len(raw["history"]) == record.recipe.epochs
        assert record.seed == raw["recipe"]["seed"] and record.is_smoke_run is (raw["data"]["subset"] is not None)
        assert len(record.test.predictions) == record.test.n and record.classes[0] == "airplane"


def test_a_record_survives_writing_and_reading(tmp_path):
    record = run_record("senet", 0.9312)  # its empty reliability bins hold NaN, written as null
    assert any(math.isnan(row.confidence) for row in record.test.reliability)
    folder = written(tmp_path, record.to_json())
    again = read_record(folder)
    assert again == record
    write_json(tmp_path / "again.json", again.to_json())
    assert (tmp_path / "again.json").read_text() == (folder / RECORD_FILE).read_text()


def test_the_derived_figures():
    record = run_record("senet", 0.93, tta=0.94, epochs=3)
    # a slow first epoch (warm-up) moves the mean, not the median the dashboard and train_all.py report
    history = (replace(record.history[0], images_per_s=10.0),) + record.history[1:]
    slow_start = replace(record, history=history)
    assert [row.images_per_s for row in slow_start.history] == [10.0, 1001.0, 1002.0]
    assert slow_start.training_images_per_s == 1001.0
    nan_epoch = replace(record, history=record.history[:2] + (replace(record.history[2], images_per_s=math.nan),))
    assert nan_epoch.training_images_per_s == 1000.5  # an epoch without a measurement is left out
    assert math.isnan(replace(record, history=()).training_images_per_s)
    assert (record.accuracy, record.tta_accuracy, record.epochs_run, record.seed) == (0.93, 0.94, 3, 0)
    assert not record.is_smoke_run and replace(record, data=replace(record.data, subset=600)).is_smoke_run
    assert isinstance(record.history[0], EpochRecord)
