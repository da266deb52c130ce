"""One parser for every typed record the project reads from JSON: recipes, run records, robustness results and
resume states.

A record is a frozen dataclass. The parser follows its annotated field types (``int``, ``float``, ``bool``, ``str``,
``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` and nested dataclasses) and each field's ``spec(...)`` metadata:
the values it takes (:class:`Limits`, ``choices``), whether JSON's null stands for an unmeasured NaN, and the label,
help and UI group a dashboard control is built from. Limits on a list field apply to each of its numbers.

- A missing field with a default gets that default: a field added later never orphans the files written before it.
  A missing field without a default, an unknown field and a value of the wrong type or range are refused naming the
  source, the dotted field and what it takes.
- A record class may define ``inconsistencies(self)``, yielding ``(field, problem)`` for rules across its fields
  (lengths that must match, sums, orders); the parser refuses the first one the same way.
- Whole numbers written as floats are taken as the integers they equal (``2.0`` -> ``2``).

Entry points: ``parse(kind, data, source)`` (data already loaded), ``read_json(path, kind, source)`` (a file; a
duplicate key, invalid JSON or nesting too deep to read is refused too; ``load_json`` reads it untyped), ``to_json(record)`` (the JSON layout),
``validate(record)`` (for ``__post_init__`` of a record built in code), ``parse_field(kind, name, value, source)``
and ``field_spec(kind, name)``. Every refusal
is a :class:`SchemaError`.
"""
from __future__ import annotations

import json
import math
import types
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from numbers import Real
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

Record = TypeVar("Record")


class SchemaError(ValueError):
    """A file or object that does not fit its record type; the message names the source and the dotted field."""


@dataclass(frozen=True)
class Limits:
    """The values a numeric field takes: from ``low`` to ``high`` (None: unbounded), each included unless open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '≥'} {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


UNIT = Limits(0, 1)  # accuracies, probabilities, confidences
COUNT = Limits(0)  # image counts and sizes


@dataclass(frozen=True)
class FieldSpec:
    """What a field takes beyond its type, and how a control for it is labelled (``group``: where a page puts it)."""

    limits: Limits | None = None
    choices: tuple[str, ...] | None = None
    null_is_nan: bool = False  # JSON's null reads as NaN: a figure that could not be measured (JSON has no NaN)
    label: str = ""
    help: str = ""
    group: str = ""


_NO_SPEC = FieldSpec()


def spec(**options) -> dict[str, FieldSpec]:
    """``field(metadata=spec(limits=Limits(0, 1), label=..., help=...))``: a field's :class:`FieldSpec`."""
    return {"schema": FieldSpec(**options)}


def field_spec(kind: type, name: str) -> FieldSpec:
    (chosen,) = [f for f in fields(kind) if f.name == name]
    return chosen.metadata.get("schema", _NO_SPEC)


# ----------------------------------------------------------------------------------------------------------------
# Entry points


def parse(kind: type[Record], data: Any, source: object) -> Record:
    """``data`` (as ``json.loads`` gives it) as a ``kind`` instance, or SchemaError naming ``source`` and the field."""
    try:
        return _parse(data, kind, "", _NO_SPEC)
    except _Refused as refused:
        raise SchemaError(f"{source}: {refused}") from None


def read_json(path: str | Path, kind: type[Record], source: object = None) -> Record:
    """The file at ``path`` as a ``kind`` instance; SchemaError names ``source`` (default: the path) and the field."""
    source = source if source is not None else path
    return parse(kind, load_json(path, source), source)


def load_json(path: str | Path, source: object = None) -> Any:
    """The JSON in the file at ``path``, not yet typed; SchemaError where it cannot be read, is not JSON, repeats a
    key within an object (which one would count?) or is nested too deeply to be any record."""
    source = source if source is not None else path
    try:
        return json.loads(Path(path).read_text(), object_pairs_hook=_refuse_duplicate_keys)
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, not JSON, or a duplicate key
        raise SchemaError(f"cannot read {source}: {error}") from None
    except RecursionError:
        raise SchemaError(f"cannot read {source}: it is nested too deeply to be a record") from None


def parse_field(kind: type, name: str, value: Any, source: object) -> Any:
    """One field of ``kind`` from JSON (a control's value, an operation's argument), checked as ``parse`` checks it."""
    try:
        return _parse(value, get_type_hints(kind)[name], name, field_spec(kind, name))
    except _Refused as refused:
        raise SchemaError(f"{source}: {refused}") from None


def to_json(value: Any) -> Any:
    """A record (or any value holding records) in its JSON layout: objects, lists, numbers, text (NaN stays NaN)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def validate(record: Any) -> None:
    """Check and normalise, in place, a frozen record built in code (call it from ``__post_init__``): the same
    rules as ``parse``, so ``Recipe(epochs=0)`` is refused as ``{"epochs": 0}`` is."""
    kind = type(record)
    hints = get_type_hints(kind)
    try:
        for item in fields(kind):
            value = _parse(to_json(getattr(record, item.name)), hints[item.name], item.name, _spec_of(item))
            object.__setattr__(record, item.name, value)
        _check_consistency(record, "")
    except _Refused as refused:
        raise SchemaError(f"{kind.__name__}: {refused}") from None


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {json.dumps(key)} appears twice in one object; keep the one you mean")
        found[key] = value
    return found


# ----------------------------------------------------------------------------------------------------------------
# Parsing by the annotated types


class _Refused(Exception):
    """A value that does not fit; the message starts with its dotted field, ``where`` (None: a rule across fields)."""

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.where = where


def _spec_of(item) -> FieldSpec:
    return item.metadata.get("schema", _NO_SPEC)


def _shown(value: Any) -> str:
    """A value as JSON writes it, with its JSON type where that is the problem."""
    kind = {str: "a string", list: "a list", dict: "an object"}.get(type(value))
    text = json.dumps(value, default=repr)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text}{f' ({kind})' if kind else ''}"


def _joined(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def takes(kind: Any, field: FieldSpec = _NO_SPEC) -> str:
    """What a field of this type and spec takes, in words: 'a whole number ≥ 1', 'true or false', ..."""
    if get_origin(kind) is types.UnionType:
        (inner,) = [option for option in get_args(kind) if option is not type(None)]
        return f"{takes(inner, field)} or null"
    if get_origin(kind) is tuple:
        return "a list"
    if kind is bool:
        return "true or false"
    if kind in (int, float):
        words = "a whole number" if kind is int else "a number"
        words = f"{words} {field.limits.describe()}" if field.limits else words
        return f"{words} or null" if field.null_is_nan else words
    if kind is str:
        return f"one of {', '.join(map(repr, field.choices))}" if field.choices else "text"
    return "an object"


def _wrong(value: Any, where: str, kind: Any, field: FieldSpec) -> _Refused:
    return _Refused(f"{where or 'the file'} must be {takes(kind, field)}, got {_shown(value)}", where)


def _parse(value: Any, kind: Any, where: str, field: FieldSpec) -> Any:
    """``value`` from JSON as ``kind``; ``where`` is its dotted field in the messages, ``field`` its spec."""
    if is_dataclass(kind):
        return _record(value, kind, where)
    origin = get_origin(kind)
    if origin is types.UnionType:  # X | None
        (inner,) = [option for option in get_args(kind) if option is not type(None)]
        try:
            return None if value is None else _parse(value, inner, where, field)
        except _Refused as refused:
            if refused.where == where:  # this value itself, not a field inside it: it may be null, too
                raise _wrong(value, where, kind, field) from None
            raise
    if origin is tuple:
        if not isinstance(value, list):
            raise _wrong(value, where, kind, field)
        item = get_args(kind)[0]
        return tuple(_parse(element, item, f"{where}[{index}]", field) for index, element in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise _wrong(value, where, kind, field)
        item = get_args(kind)[1] if get_args(kind) else Any
        return {key: value[key] if item is Any else _parse(value[key], item, _joined(where, key), field)
                for key in value}
    return _scalar(value, kind, where, field)


def _scalar(value: Any, kind: type, where: str, field: FieldSpec) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise _wrong(value, where, kind, field)
        return value
    if kind is str:
        if not isinstance(value, str) or (field.choices and value not in field.choices):
            raise _wrong(value, where, kind, field)
        return value
    if kind is float and field.null_is_nan and (value is None or (isinstance(value, float) and math.isnan(value))):
        return math.nan
    if (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
            or (kind is int and not float(value).is_integer())
            or (field.limits is not None and not field.limits.admits(value))):
        raise _wrong(value, where, kind, field)
    return int(value) if kind is int else float(value)


def _record(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise _Refused(f"{where} must be an object, got {_shown(value)}" if where
                       else f"the file must hold a JSON object, not {_shown(value)}", where)
    known = {item.name for item in fields(kind)}
    unknown = sorted(set(value) - known)
    if unknown:
        named = [_joined(where, name) for name in unknown]
        raise _Refused(f"unknown field(s) {named}; known fields{f' of {where}' if where else ''}: {sorted(known)}")
    hints = get_type_hints(kind)
    parsed = {}
    for item in fields(kind):
        name = _joined(where, item.name)
        if item.name in value:
            parsed[item.name] = _parse(value[item.name], hints[item.name], name, _spec_of(item))
        elif not _has_default(item):
            raise _Refused(f"{name} is missing; it must be {takes(hints[item.name], _spec_of(item))}")
    record = kind(**parsed)
    _check_consistency(record, where)
    return record


def _has_default(item) -> bool:
    return item.default is not item.default_factory  # both are MISSING when the field has neither


def _check_consistency(record: Any, where: str) -> None:
    problems: Iterator[tuple[str, str]] = getattr(record, "inconsistencies", lambda: iter(()))()
    for name, problem in problems:
        raise _Refused(f"{_joined(where, name)} {problem}")
