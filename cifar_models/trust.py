"""Which attribution map to trust, over many images: each method's faithfulness score on a stratified set of test
images, per checkpoint, with a 95% interval of its mean.

One image says little: the most faithful method changes from image to image, and on some images every method scores
below zero. So, like the channel exemplars, this is precomputed once per checkpoint (``evaluate.py
--faithfulness``) and stored beside it in ``<model>/faithfulness.json``, keyed by the sha256 of the weights and the
data's fingerprint: a retrained model's old result reads as stale, not as current.

Each image is explained for the class the model predicts (as the Attribution page does by default), and each map is
scored by :func:`cifar_models.attribution.faithfulness`: the probability lost when the 10% of pixels it ranks highest
are removed, minus the loss for as many random pixels.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import stats
from tqdm.auto import tqdm

from .attribution_options import AttributionOptions
from .checkpoint import WEIGHTS_FILE, CheckpointError, weights_digest, write_json
from .models.base import CifarNet
from .precision import resolve_precision
from .robustness import stratified_subset
from .schema import Limits, SchemaError, read_json, spec

TRUST_FILE = "faithfulness.json"
DEFAULT_PER_CLASS = 10  # 100 test images: about 1-3 minutes a model on a 2-core CPU with every method
CONFIDENCE = 0.95


@dataclass(frozen=True)
class MethodTrust:
    """One method's faithfulness over the images: the mean score and its 95% interval (Student's t over images)."""

    method: str
    mean: float
    low: float
    high: float
    images: int

    @classmethod
    def of(cls, method: str, scores: np.ndarray) -> MethodTrust:
        scores = np.asarray(scores, dtype=float)
        mean = float(scores.mean())
        if len(scores) < 2:
            return cls(method, mean, math.nan, math.nan, len(scores))
        half = float(stats.t.ppf((1 + CONFIDENCE) / 2, len(scores) - 1) * scores.std(ddof=1) / math.sqrt(len(scores)))
        return cls(method, mean, mean - half, mean + half, len(scores))


@dataclass(frozen=True)
class TrustRecord:
    """What ``faithfulness.json`` holds: each image's score per method, and what they were measured on."""

    model: str
    weights_sha256: str
    data_fingerprint: str
    per_class: int = field(metadata=spec(limits=Limits(1)))
    options: AttributionOptions
    indices: tuple[int, ...] = field(metadata=spec(limits=Limits(0)))  # test images, in test-split order
    # the class each image was explained for (the model's prediction)
    targets: tuple[int, ...] = field(metadata=spec(limits=Limits(0)))
    # method -> one faithfulness score per image: a probability lost minus another, so within [-1, 1]
    scores: dict[str, tuple[float, ...]] = field(metadata=spec(limits=Limits(-1, 1)))
    seconds: float = field(metadata=spec(limits=Limits(0)))

    def inconsistencies(self):
        lengths = {len(self.indices), len(self.targets), *(len(scores) for scores in self.scores.values())}
        if len(lengths) != 1:
            yield "scores", (f"must hold one entry per image in indices, targets and every method's scores, got "
                             f"lengths {sorted(lengths)}")

    def summary(self) -> dict[str, MethodTrust]:
        """Each method's mean score with its 95% interval, in the order measured (that of ``attribution.METHODS``)."""
        return {name: MethodTrust.of(name, np.asarray(scores)) for name, scores in self.scores.items()}


def measure_trust(name: str, model: CifarNet, checkpoint_dir: str | Path, test_images: np.ndarray,
                  test_labels: np.ndarray, *, data_fingerprint: str, per_class: int = DEFAULT_PER_CLASS,
                  options: AttributionOptions = AttributionOptions(), progress: bool = True) -> TrustRecord:
    """Every attribution method's faithfulness on the first ``per_class`` test images of each class."""
    from .attribution import METHODS, explain_model  # captum: imported only where maps are computed

    device = next(model.parameters()).device  # the record says what "auto" meant here
    options = replace(options, ig_precision=resolve_precision(options.ig_precision, device))
    indices = stratified_subset(test_labels, per_class)
    scores: dict[str, list[float]] = {method: [] for method in METHODS}
    targets = []
    started = time.perf_counter()
    for index in tqdm(indices, desc=f"faithfulness {name}", unit="image", disable=not progress):
        explanation = explain_model(model, test_images[index], list(METHODS), options=options)
        targets.append(explanation.target)
        for method, found in explanation.faithfulness.items():
            scores[method].append(found.score)
    return TrustRecord(name, weights_digest(checkpoint_dir), data_fingerprint, per_class, options,
                       tuple(int(i) for i in indices), tuple(targets),
                       {method: tuple(values) for method, values in scores.items()},
                       round(time.perf_counter() - started, 1))


def save_trust(checkpoint_dir: str | Path, record: TrustRecord) -> Path:
    path = Path(checkpoint_dir) / TRUST_FILE
    write_json(path, asdict(record))
    return path


def read_trust(checkpoint_dir: str | Path) -> TrustRecord | None:
    """The record beside a checkpoint if it was measured on these very weights; None if there is none or it is stale
    (other weights); CheckpointError naming the file and the field if it is damaged."""
    path = Path(checkpoint_dir) / TRUST_FILE
    if not path.is_file() or not (Path(checkpoint_dir) / WEIGHTS_FILE).is_file():
        return None
    try:
        record = read_json(path, TrustRecord, path)
    except SchemaError as error:
        raise CheckpointError(f"{error}; `evaluate.py --faithfulness` writes it anew") from None
    return record if record.weights_sha256 == weights_digest(checkpoint_dir) else None
