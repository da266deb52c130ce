"""What several views share: run records in the lab's order, a record's numbers, and number formatting."""
from __future__ import annotations

import math
from typing import Any

from cifar_models.models import display_order

Records = dict[str, dict[str, Any]]  # model name -> run record


def ordered(records: Records) -> Records:
    """The records in the registry's display order, then any unregistered model."""
    return {name: records[name] for name in display_order(records)}


def test_metrics(record: dict) -> dict:
    return record.get("test") or {}


def number(value) -> float:
    """A record's number, or NaN where the record has none (JSON writes NaN as null)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


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


def provenance(record: dict) -> str:
    """How a model was made, beside every figure of it: device, precision, epochs and training time."""
    epochs = len(record.get("history") or [])
    return (f"{record.get('device') or '—'} · {record.get('precision') or '—'} · {epochs} epoch{'s' * (epochs != 1)} "
            f"· {format_seconds(number(record.get('train_seconds')))} training")
