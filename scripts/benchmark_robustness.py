"""How long ``evaluate.py --robustness`` takes for the three models, measured in parts and projected (target: 15 min).

    python scripts/benchmark_robustness.py --data ../shared/datasets/cifar10-jpeg.tar.gz --checkpoints checkpoints

Two parts, each timed in wall-clock and in this process's CPU seconds:

* generating the 75 corrupted sets (15 corruptions x 5 severities) of ``--images`` test images;
* each model's inference on those images (the precision its record names, as ``evaluate.py`` uses it).

The projection for a per-class subset k is generation(10k) + 76 x 10k / (images per second of each model), summed
(the clean set plus 75 corrupted ones). Timing does not depend on the weights: without checkpoints, untrained
models of the same architectures are timed in ``auto`` precision. On a busy machine wall time is inflated; CPU
seconds over two cores is then the better guide to a quiet machine's time.
"""
from __future__ import annotations

import json
import sys
import time

import torch

from cifar_models import MODELS, build_model
from cifar_models.arguments import ScriptParser, whole_number
from cifar_models.checkpoint import find_checkpoints, load_checkpoint
from cifar_models.corruptions import CORRUPTIONS, SEVERITIES
from cifar_models.data import DataError, load_cifar10
from cifar_models.evaluation import predict_logits
from cifar_models.robustness import DEFAULT_PER_CLASS, stratified_subset
from dashboard.settings import data_advice

TARGET_S = 15 * 60
CELLS = len(CORRUPTIONS) * len(SEVERITIES)


def timed(work) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``work()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--checkpoints", help="folder of <model>/ checkpoints (default: untrained models)")
    parser.add_argument("--images", type=whole_number(10), default=500, help="test images per timing (default 500)")
    args = parser.parse_args(argv)
    try:
        test = load_cifar10(args.data, progress=False).test
    except DataError as error:
        print(f"error: {error}{data_advice(error)}", file=sys.stderr)
        return 2
    images = test.images[stratified_subset(test.labels, max(args.images // 10, 1))]
    found = find_checkpoints(args.checkpoints) if args.checkpoints else {}
    models = {}
    for name in MODELS:
        if name in found:
            loaded = load_checkpoint(found[name])
            models[name] = (loaded.model, loaded.record.precision)
        else:
            models[name] = (build_model(name).eval(), "auto")

    generation = timed(lambda: [corruption(images, severity) for corruption in CORRUPTIONS.values()
                                for severity in SEVERITIES])
    print(f"corruptions: {CELLS} sets of {len(images)} images in {generation[0]:.1f} s wall, "
          f"{generation[1]:.1f} s CPU")
    inference = {}
    for name, (model, precision) in models.items():
        predict_logits(model, images[:64], device="cpu", batch_size=500, precision=precision)  # warm-up
        inference[name] = timed(lambda: predict_logits(model, images, device="cpu", batch_size=500,
                                                       precision=precision))
        print(f"{name:<10} {precision:<5} {len(images) / inference[name][0]:8.1f} images/s wall, "
              f"{inference[name][1] / len(images) * 1000:6.1f} ms CPU per image")
    projections = {}
    for per_class in (25, DEFAULT_PER_CLASS, 100):
        scale = 10 * per_class / len(images)
        wall = generation[0] * scale + (CELLS + 1) * scale * sum(seconds for seconds, _ in inference.values())
        cpu = generation[1] * scale + (CELLS + 1) * scale * sum(seconds for _, seconds in inference.values())
        projections[per_class] = {"wall_s": round(wall), "cpu_s": round(cpu), "within_target_wall": wall <= TARGET_S}
        print(f"per class {per_class:>3} ({10 * per_class:>5} images): {wall / 60:5.1f} min wall, "
              f"{cpu / 60:5.1f} min CPU (target {TARGET_S // 60} min)")
    print(json.dumps({"images": len(images), "threads": torch.get_num_threads(), "projection": projections}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
