"""What several views share: run records in the lab's order, a record's numbers, and number formatting."""
from __future__ import annotations

import math
from typing import Any, Callable, TypeVar

import pandas as pd

from cifar_models.models import display_order
from cifar_models.run_record import RunRecord

Records = dict[str, RunRecord]  # model name -> run record
PerModel = TypeVar("PerModel")


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(count: int) -> str:
    """A count as prose writes it: 3 -> 'three', 12 -> '12'. Texts take the number of models from the registry
    (``len(MODELS)``) or from what is loaded, never as a word typed in."""
    return NUMBER_WORDS[count] if 0 <= count < len(NUMBER_WORDS) else f"{count:,}"


def ordered(by_model: dict[str, PerModel]) -> dict[str, PerModel]:
    """The models' records (or anything else by model name) in the registry's display order, then any unregistered
    model."""
    return {name: by_model[name] for name in display_order(by_model)}


def format_count(value: float) -> str:
    """2_784_250 -> '2.78 M', 555_500_000 -> '555.5 M', 1.2e9 -> '1.20 G'."""
    if not math.isfinite(value):
        return "—"
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.2f} {unit}" if scaled < 100 else f"{scaled:.1f} {unit}"
    return f"{value:.0f}"


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_percent(fraction: float) -> str:
    return "—" if not math.isfinite(fraction) else f"{100 * fraction:.2f}%"


def provenance(record: RunRecord) -> str:
    """How a model was made, beside every figure of it: device, precision, epochs and training time."""
    epochs = record.epochs_run
    return (f"{record.device} · {record.precision} · {epochs} epoch{'s' * (epochs != 1)} "
            f"· {format_seconds(record.train_seconds)} training")


MISSING = "–"


def format_points(fraction: float) -> str:
    """A difference of accuracies in percentage points: 0.0123 -> '1.23 points'."""
    return MISSING if not math.isfinite(fraction) else f"{100 * fraction:.2f} points"


def written(frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]]) -> pd.DataFrame:
    """``frame`` as text to read: each column in ``formats`` written by its function, the others with ``str``, and a
    missing value (None, NaN) as '–' in every column, never 'None'."""
    def cell(value: Any, write: Callable[[Any], str]) -> str:
        missing = value is None or (isinstance(value, float) and not math.isfinite(value))
        return MISSING if missing else write(value)
    return frame.apply(lambda column: column.map(lambda value: cell(value, formats.get(column.name, str))))
