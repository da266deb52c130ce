"""The Home page's model cards."""
from __future__ import annotations

from cifar_models.run_record import RunRecord

from .common import format_count, format_percent, format_seconds
from .compare import cost_table


def model_card(record: RunRecord) -> dict[str, str]:
    """The figures of a model's card on the home page, formatted."""
    row = cost_table({record.model: record}).iloc[0]
    return {
        "test accuracy": format_percent(row["test accuracy"]),
        "parameters": format_count(row["parameters"]),
        "multiply-accumulates": format_count(row["MACs per image"]) + " per image",
        "training time": f"{format_seconds(row['training seconds'])} for {row['epochs']} epochs",
        "device": row["device"],
        "precision": row["precision"],
    }
