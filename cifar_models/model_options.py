"""A model's options (Plain CNN's DropBlock: ``drop_prob``, ``drop_block_sizes``, ``drop_schedule``) from the command
line and from a recipe file, checked by the one schema parser against the dataclass the model registers
(``ModelSpec.options``), so a value out of range or an option the model does not take is refused naming it.

A run records all of its model's options (run.json's ``model_options``, in their JSON layout): ``resolved_options``
gives the options type's defaults for those not chosen, so a later change of a default does not change what an
earlier record rebuilds. Records written before held only the options given (the committed ones: none); reading
one, ``recorded_options`` fills each option it does not state with the value the builder had then, which the model
registers as its ``unstated_options`` (Plain CNN's: the seed's fixed 0.3 DropBlock).
"""
from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, get_args, get_origin, get_type_hints

from . import schema
from .models import MODELS
from .schema import SchemaError

RECIPE_FIELD = "model_options"  # where a recipe file holds them: {"model_options": {"plain_cnn": {"drop_prob": 0.1}}}


class ModelOptionError(SchemaError):
    """An option a model does not take, or a value its options dataclass refuses; the message names where it was."""


def checked_options(model: str, given: dict[str, Any], source: object) -> dict[str, Any]:
    """``given`` (JSON values) checked by ``model``'s options dataclass: those options in their JSON layout (a
    tuple as a list), as ``build_model(model, **options)`` takes them and run.json records them."""
    if model not in MODELS:
        raise ModelOptionError(f"{source}: unknown model {model!r}; choose from {', '.join(MODELS)}")
    kind = MODELS[model].options
    if kind is None:
        if given:
            raise ModelOptionError(f"{source}: {model} takes no options, got {', '.join(given)}")
        return {}
    try:
        parsed = schema.parse(kind, given, source)
    except SchemaError as error:
        raise ModelOptionError(str(error)) from None
    return {name: schema.to_json(getattr(parsed, name)) for name in given}


def resolved_options(model: str, given: dict[str, Any], source: object) -> dict[str, Any]:
    """Every option of ``model`` (JSON layout), ``given`` checked and over the options type's defaults: what a run
    trains with and records in full."""
    kind = MODELS[model].options if model in MODELS else None
    if kind is None:
        return checked_options(model, given, source)
    return {**schema.to_json(vars(kind())), **checked_options(model, given, source)}


def recorded_options(model: str, stated: dict[str, Any]) -> dict[str, Any]:
    """The options a run whose record states ``stated`` trained with: each one not stated is the model's registered
    ``unstated_options`` value (what the builder did before records held all options). A model this code does not
    register keeps what its record states."""
    unstated = MODELS[model].unstated_options if model in MODELS else {}
    return {**schema.to_json(dict(unstated)), **stated}


def options_of_models(data: Any, source: object) -> dict[str, dict[str, Any]]:
    """A recipe file's ``model_options`` (model name -> its options), each model's checked by its dataclass."""
    where = f"{source}: {RECIPE_FIELD}"
    if not isinstance(data, dict) or not all(isinstance(options, dict) for options in data.values()):
        raise ModelOptionError(f"{where} must be an object of objects, e.g. {{\"plain_cnn\": {{\"drop_prob\": 0.1}}}}")
    return {model: checked_options(model, options, f"{where}.{model}") for model, options in data.items()}


def options_from_assignments(assignments: list[str], source: str) -> dict[str, dict[str, Any]]:
    """``MODEL.OPTION=VALUE`` texts (``plain_cnn.drop_prob=0.1``, ``plain_cnn.drop_block_sizes=8,4``) as model name
    -> its options; each is refused on its own, ``source`` (e.g. the flag) and the text named, so the message points
    at the one to fix. VALUE is read by the option's type: a list field takes comma-separated items, and each value
    is JSON where it reads as JSON and text otherwise (``linear``)."""
    chosen: dict[str, dict[str, Any]] = {}
    for text in assignments:
        where = f"{source} {text}"
        target, equals, value = text.partition("=")
        model, dot, name = target.partition(".")
        if not (equals and dot and model and name):
            raise ModelOptionError(f"{where}: write MODEL.OPTION=VALUE, e.g. plain_cnn.drop_prob=0.1")
        if name in chosen.get(model, {}):
            raise ModelOptionError(f"{where}: {model}.{name} is given twice; keep the one you mean")
        option = checked_options(model, {name: _typed_value(value, _option_type(model, name))}, where)
        chosen.setdefault(model, {}).update(option)
    return chosen


def combined(first: dict[str, dict[str, Any]], then: dict[str, dict[str, Any]], source: object
             ) -> dict[str, dict[str, Any]]:
    """``first`` (a recipe file's) with ``then`` (the command line's) over it, option by option, checked together."""
    models = dict.fromkeys([*first, *then])
    return {model: checked_options(model, {**first.get(model, {}), **then.get(model, {})}, f"{source} ({model})")
            for model in models}


def _option_type(model: str, name: str) -> Any:
    """The annotated type of ``model``'s option ``name``; None where there is none (the parser then refuses it)."""
    kind = MODELS[model].options if model in MODELS else None
    return get_type_hints(kind).get(name) if kind is not None else None


def _typed_value(text: str, kind: Any) -> Any:
    if get_origin(kind) is tuple:
        (item,) = get_args(kind)[:1]
        return [_typed_value(part.strip(), item) for part in text.split(",")] if text.strip() else []
    try:
        return json.loads(text)
    except ValueError:
        return text  # a word such as linear: the parser takes it where the option takes text, and names it if not


def described_options() -> list[str]:
    """One line per option of every model, from its dataclass: ``MODEL.OPTION (what it takes): help``."""
    lines = []
    for model, registered in MODELS.items():
        kind = registered.options
        for item in fields(kind) if kind is not None else ():
            field_spec = schema.field_spec(kind, item.name)
            lines.append(f"{model}.{item.name} ({schema.takes(get_type_hints(kind)[item.name], field_spec)}, default "
                         f"{json.dumps(schema.to_json(item.default))}): {field_spec.help}")
    return lines
