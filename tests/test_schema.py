"""The one parser of typed files (cifar_models.schema), on records made up for the test: the field types and metadata
drive it, a field with a default may be missing, everything else is refused naming the source and the dotted field."""
import json
import math
from dataclasses import dataclass, field, fields

import pytest

from cifar_models import schema
from cifar_models.augment import AUGMENTATIONS, AugmentConfig
from cifar_models.schema import UNIT, Limits, SchemaError, spec


@dataclass(frozen=True)
class Bin:
    count: int = field(metadata=spec(limits=Limits(0)))
    accuracy: float = field(default=math.nan, metadata=spec(limits=UNIT, null_is_nan=True))


@dataclass(frozen=True)
class Measured:
    name: str
    bins: tuple[Bin, ...]
    total: int = field(metadata=spec(limits=Limits(1), label="Images", help="how many", group="size"))
    cells: dict[str, tuple[float, ...]] = field(default_factory=dict, metadata=spec(limits=UNIT))
    note: str | None = None
    mode: str = field(default="fast", metadata=spec(choices=("fast", "slow")))
    exact: bool = False

    def inconsistencies(self):
        if sum(row.count for row in self.bins) != self.total:
            yield "bins", f"must count the {self.total} images"


GOOD = {"name": "m", "bins": [{"count": 3, "accuracy": 0.5}, {"count": 1, "accuracy": None}], "total": 4}


def refusal(data) -> str:
    with pytest.raises(SchemaError) as refused:
        schema.parse(Measured, data, "the file m.json")
    return str(refused.value)


def test_a_record_reads_with_its_defaults_and_writes_back():
    record = schema.parse(Measured, GOOD, "m.json")
    assert record.bins[0] == Bin(3, 0.5) and math.isnan(record.bins[1].accuracy)  # null: not measured
    assert (record.cells, record.note, record.mode, record.exact) == ({}, None, "fast", False)  # the defaults
    assert schema.parse(Measured, {**GOOD, "total": 4.0}, "m.json").total == 4  # 4.0 is the whole number 4
    assert type(schema.parse(Measured, {**GOOD, "total": 4.0}, "m.json").total) is int
    written = schema.to_json(record)
    assert written["bins"][0] == {"count": 3, "accuracy": 0.5} and written["note"] is None
    assert schema.parse(Measured, written, "m.json") == schema.parse(Measured, written, "m.json")


@pytest.mark.parametrize("change, message", [
    ({"total": None}, "total must be a whole number ≥ 1, got null"),
    ({"total": 0}, "total must be a whole number ≥ 1, got 0"),
    ({"total": True}, "total must be a whole number ≥ 1, got true"),
    ({"total": 2.5}, "total must be a whole number ≥ 1, got 2.5"),
    ({"name": 3}, "name must be text, got 3"),
    ({"exact": "yes"}, 'exact must be true or false, got "yes" (a string)'),
    ({"mode": "quick"}, "mode must be one of 'fast', 'slow', got \"quick\" (a string)"),
    ({"note": 1}, "note must be text or null, got 1"),
    ({"bins": {}}, "bins must be a list, got {} (an object)"),
    ({"bins": [{"count": 4, "accuracy": 1.5}]}, "bins[0].accuracy must be a number in [0, 1] or null, got 1.5"),
    ({"bins": [{"count": -4}]}, "bins[0].count must be a whole number ≥ 0, got -4"),
    ({"bins": [{"accuracy": 0.5}]}, "bins[0].count is missing; it must be a whole number ≥ 0"),
    ({"bins": [{"count": 4, "acc": 0.5}]}, "unknown field(s) ['bins[0].acc']; known fields of bins[0]: "),
    ({"cells": {"fog": [0.5, 2]}}, "cells.fog[1] must be a number in [0, 1], got 2"),
    ({"cells": {"fog": "high"}}, 'cells.fog must be a list, got "high" (a string)'),
    ({"total": 5}, "bins must count the 5 images"),
    ({"extra": 1}, "unknown field(s) ['extra']; known fields: "),
])
def test_a_value_that_does_not_fit_is_refused_naming_the_source_and_the_field(change, message):
    assert refusal({**GOOD, **change}).startswith(f"the file m.json: {message}")


def test_a_missing_field_without_a_default_and_a_file_that_is_no_object_are_refused():
    assert refusal({"name": "m", "bins": []}) == "the file m.json: total is missing; it must be a whole number ≥ 1"
    assert refusal([1]) == "the file m.json: the file must hold a JSON object, not [1] (a list)"


def test_files_with_a_duplicate_key_or_nested_too_deeply_are_refused(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(GOOD))
    assert schema.read_json(path, Measured).total == 4
    path.write_text('{"name": "m", "name": "n", "bins": [], "total": 1}')
    with pytest.raises(SchemaError, match=f'cannot read {path}: the key "name" appears twice'):
        schema.read_json(path, Measured)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SchemaError, match="nested too deeply"):
        schema.read_json(path, Measured, "m")
    with pytest.raises(SchemaError, match="cannot read m: "):
        schema.read_json(tmp_path / "absent.json", Measured, "m")


def test_field_metadata_and_single_fields():
    total = schema.field_spec(Measured, "total")
    assert (total.label, total.help, total.group, total.limits) == ("Images", "how many", "size", Limits(1))
    assert schema.parse_field(Measured, "total", 3.0, "a control") == 3
    with pytest.raises(SchemaError, match="a control: total must be a whole number ≥ 1, got 0"):
        schema.parse_field(Measured, "total", 0, "a control")


def test_a_record_built_in_code_is_checked_by_the_same_rules():
    assert AugmentConfig(cutout_size=4.0).cutout_size == 4 and type(AugmentConfig(cutout_size=4.0).cutout_size) is int
    with pytest.raises(SchemaError, match=r"AugmentConfig: flip_p must be a number in \[0.0, 1.0\], got 3"):
        AugmentConfig(flip_p=3)


def test_every_augmentation_parameter_belongs_to_one_augmentation_with_its_control():
    owned = [parameter.name for augmentation in AUGMENTATIONS for parameter in augmentation.parameters]
    assert owned == [item.name for item in fields(AugmentConfig)]  # each once, in the page's order
    for augmentation in AUGMENTATIONS:
        for parameter in augmentation.parameters:
            assert parameter.spec.label and parameter.spec.help and parameter.spec.group in {"geometry", "colour",
                                                                                             "mixing"}
            assert parameter.spec.limits or parameter.spec.choices
