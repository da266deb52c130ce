"""The order of Predict's gallery of misclassified test images."""
from __future__ import annotations

from typing import Sequence

import numpy as np

BY_INDEX, MOST_CONFIDENT, LEAST_CONFIDENT = "test index", "most confident first", "least confident first"
ORDERS = (MOST_CONFIDENT, LEAST_CONFIDENT, BY_INDEX)


def gallery_order(indices: np.ndarray, confidence: Sequence[float | None], order: str) -> np.ndarray:
    """``indices`` (test images) in ``order``: by the model's confidence in its wrong answer (the confident mistakes
    are the telling ones), or by index. Images without a recorded confidence go last."""
    if order not in ORDERS:
        raise ValueError(f"unknown gallery order {order!r}; choose from {', '.join(ORDERS)}")
    indices = np.asarray(indices)
    if order == BY_INDEX:
        return np.sort(indices)
    known = np.array([confidence[i] if confidence[i] is not None else np.nan for i in indices], dtype=float)
    keys = -known if order == MOST_CONFIDENT else known
    return indices[np.argsort(np.where(np.isnan(keys), np.inf, keys), kind="stable")]
