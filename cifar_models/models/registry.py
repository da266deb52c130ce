"""One registry of architectures, as torchvision's ``register_model``: a name maps to a builder."""
from __future__ import annotations

from typing import Callable

from torch import nn

MODELS: dict[str, Callable[..., nn.Module]] = {}


class UnknownModelError(ValueError):
    """A model name that no builder is registered under."""


def register_model(name: str) -> Callable:
    """Register ``builder`` under ``name``; a second builder for the same name is an error."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS:
            raise ValueError(f"a model named {name!r} is already registered ({MODELS[name].__module__})")
        MODELS[name] = builder
        return builder

    return decorate


def build_model(name: str, **options) -> nn.Module:
    """Build the model registered as ``name`` with keyword ``options`` for its builder."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}") from None
    return builder(**options)
