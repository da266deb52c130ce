"""One registry of architectures, as torchvision's ``register_model``: a name maps to a builder and to how the lab
shows the model (title, one-line summary, display order, colour), so a new architecture is one decorated function."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Mapping

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder and the one look every chart, table and widget gives it."""

    name: str
    builder: Callable[..., nn.Module]
    title: str  # e.g. "SENet"
    summary: str  # one line: what the architecture is
    order: int  # where it stands in lists, tables and charts (smaller first)
    colour: str  # "#rrggbb": its colour on every chart
    # a frozen dataclass of the keyword options its builder takes, with schema metadata, so the command line and a
    # recipe file set them through the one parser (cifar_models.model_options); None: it takes none
    options: type | None = None
    # every option's value for a run whose record does not state it: records held only the options given until
    # they held all of them, so these are what the builder did then, pinned (the options type's defaults, the lab's
    # current choice, may change; these never do). One per field of ``options``; empty where it takes none
    unstated_options: Mapping[str, Any] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {}  # name -> spec, in display order
UNKNOWN_COLOUR = "#9d9d9d"  # a record naming a model this code does not register


class UnknownModelError(ValueError):
    """A model name that no builder is registered under."""


def register_model(name: str, *, title: str, summary: str, order: int, colour: str, options: type | None = None,
                   unstated_options: Mapping[str, Any] | None = None) -> Callable:
    """Register the decorated builder under ``name`` with how the lab shows it, the dataclass of the options it
    takes and the value of each that a record without it trained with; a second one for a name is an error, and so
    is an option without its unstated value (a record from before the option would have none to rebuild with)."""
    unstated = dict(unstated_options or {})
    if sorted(unstated) != sorted(item.name for item in (fields(options) if options is not None else ())):
        raise ValueError(f"{name}: unstated_options must give a value for each option of {options}, got "
                         f"{sorted(unstated)}")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS:
            raise ValueError(f"a model named {name!r} is already registered ({MODELS[name].builder.__module__})")
        specs = [*MODELS.values(), ModelSpec(name, builder, title, summary, order, colour, options, unstated)]
        MODELS.clear()
        MODELS.update((spec.name, spec) for spec in sorted(specs, key=lambda spec: (spec.order, spec.name)))
        return builder

    return decorate


def build_model(name: str, **options) -> nn.Module:
    """Build the model registered as ``name`` with keyword ``options`` for its builder."""
    try:
        spec = MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}") from None
    return spec.builder(**options)


def model_title(name: str) -> str:
    """The registered title, or the name itself for a model this code does not know."""
    return MODELS[name].title if name in MODELS else name


def model_colour(name: str) -> str:
    return MODELS[name].colour if name in MODELS else UNKNOWN_COLOUR


def display_order(names: Iterable[str]) -> list[str]:
    """``names`` in the registry's display order, then any unregistered ones alphabetically."""
    rank = {name: position for position, name in enumerate(MODELS)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))
