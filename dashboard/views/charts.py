"""Altair pieces the pages share: each model in its one colour, the registry's."""
from __future__ import annotations

from typing import Iterable

import altair as alt

from cifar_models.models import model_colour, model_title


def model_colours(names: Iterable[str], *, by_title: bool = False, title: str | None = "model") -> alt.Color:
    """A colour encoding of the ``model`` field, each model in its registered colour; ``by_title`` where the field
    holds the models' titles rather than their names."""
    names = list(names)
    domain = [model_title(name) for name in names] if by_title else names
    return alt.Color("model:N", scale=alt.Scale(domain=domain, range=[model_colour(name) for name in names]),
                     title=title)
