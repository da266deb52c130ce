"""The typed run record: every field is read by one parser that refuses a missing or wrongly typed one by name, the
committed records load, a record survives writing and reading, and the derived figures are computed once."""
import json
import math
import re
from dataclasses import replace

import pytest

from cifar_models.checkpoint import RECORD_FILE, CheckpointError, find_checkpoints, read_record, write_json
from cifar_models.run_record import EpochRecord
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


@pytest.mark.parametrize("path, named", [
    (("test",), "'test'"),
    (("created",), "'created'"),
    (("test", "accuracy"), "'test.accuracy'"),
    (("history", 1, "val_acc"), "'history[1].val_acc'"),
    (("test", "reliability", 0, "count"), "'test.reliability[0].count'"),
    (("data", "subset"), "'data.subset'"),  # None is a value: a smoke run's absence is written, never guessed
    (("recipe", "seed"), "'recipe.seed'"),
])
def test_a_record_missing_a_field_is_refused_by_its_name(tmp_path, path, named):
    folder = written(tmp_path, without(run_record_json("senet", 0.9), path))
    with pytest.raises(CheckpointError) as refused:
        read_record(folder)
    message = str(refused.value)
    assert f"{folder / RECORD_FILE} has no {named} field" in message
    assert "python scripts/train_all.py" in message  # and the command that writes a complete one


@pytest.mark.parametrize("field, value, named, expected", [
    (("params",), "1M", "'params'", "a whole number"),
    (("params",), 1.5, "'params'", "a whole number"),
    (("precision",), None, "'precision'", "text"),
    (("history",), {"epoch": 1}, "'history'", "a list"),
    (("test", "predictions"), [3, "cat"], "'test.predictions[1]'", "a whole number"),
    (("test", "accuracy"), True, "'test.accuracy'", "a number"),
    (("data",), [], "'data'", "an object"),
])
def test_a_field_of_the_wrong_type_is_refused_by_its_name(tmp_path, field, value, named, expected):
    record_json = run_record_json("senet", 0.9)
    *parents, last = field
    inner = record_json
    for key in parents:
        inner = inner[key]
    inner[last] = value
    folder = written(tmp_path, record_json)
    with pytest.raises(CheckpointError, match=re.escape(f"as its {named} field, not {expected};")):
        read_record(folder)


def test_a_recipe_the_code_refuses_and_a_record_that_is_no_object_are_refused(tmp_path):
    record_json = run_record_json("senet", 0.9)
    record_json["recipe"]["epochs"] = 0
    with pytest.raises(CheckpointError, match=r"has a 'recipe' field this code refuses \(.*epochs"):
        read_record(written(tmp_path, record_json))
    (tmp_path / "senet" / RECORD_FILE).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"senet/run\.json is not a JSON object"):
        read_record(tmp_path / "senet")


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
