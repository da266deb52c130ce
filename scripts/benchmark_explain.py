"""How long the explanation pages compute, on this machine's CPU (the targets are for a 2-core CPU).

    python scripts/benchmark_explain.py --checkpoints checkpoints --data ../shared/datasets/cifar10-jpeg.tar.gz

Two figures, each the median of --repeats runs after one warm-up run, on a real test image:

* feature maps: one image through one model, keeping the Feature maps page's default layer, and its grid of the
  top 16 channels coloured (target: at most 0.3 s), for each model;
* attribution panel: the Attribution page's Explain button with its defaults: the three models, Integrated Gradients
  with 32 steps, Grad-CAM and Saliency, each with its faithfulness score (target: at most 3 s).

Timing does not depend on the weights: without checkpoints, untrained models of the same architectures are timed.
Run it on a quiet machine: while another process keeps one of the two cores busy, this small single-image work runs
10-50x slower (each operation's two threads wait for each other), e.g. 0.75 s instead of 0.016 s for SENet's maps.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import torch

from cifar_models import MODELS, build_model
from cifar_models.attribution import AttributionOptions, explain_image, explainable_copy
from cifar_models.checkpoint import DEFAULT_CHECKPOINT_DIR, find_checkpoints, load_checkpoint
from cifar_models.data import DataError, load_cifar10
from cifar_models.explain import deepest_block, feature_maps, map_tiles, top_channels
from cifar_models.explain import flush_denormals

FEATURE_MAPS_TARGET_S = 0.3
PANEL_TARGET_S = 3.0
PANEL_METHODS = ["integrated_gradients", "grad_cam", "saliency"]
GRID_CHANNELS = 16


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()  # warm-up: first-call allocations and lazy initialisation are not what a reader waits for
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def feature_map_grid(model, image) -> None:
    """What the Feature maps page computes for its grid: the forward pass with the layer kept, then the tiles."""
    layer = deepest_block(model, 8)
    maps = feature_maps(model, image, [layer]).maps[layer]
    map_tiles(maps, top_channels(maps, GRID_CHANNELS), "map")


def verdict(seconds: float, target: float) -> str:
    return "within target" if seconds <= target else "OVER TARGET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR), help="default: checkpoints/")
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image", type=int, default=0, help="index of the test image")
    args = parser.parse_args(argv)
    flush_denormals()  # as the dashboard does

    try:
        data = load_cifar10(args.data, progress=False)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    image = data.test.images[args.image]
    found = find_checkpoints(args.checkpoints)
    names = list(MODELS)  # the registry's display order
    models = {name: load_checkpoint(found[name]).model if name in found else build_model(name).eval()
              for name in names}
    untrained = [name for name in names if name not in found]
    print(f"CPU threads: {torch.get_num_threads()} · torch {torch.__version__} · test image #{args.image} · "
          f"median of {args.repeats} runs")
    if untrained:
        print(f"untrained (no checkpoint in {args.checkpoints}): {', '.join(untrained)}")

    print(f"\nFeature maps, one image and one model (target {FEATURE_MAPS_TARGET_S} s):")
    for name, model in models.items():
        seconds = median_seconds(lambda: feature_map_grid(model, image), args.repeats)
        print(f"  {name:<10} {deepest_block(model, 8):<16} {seconds:6.3f} s  "
              f"{verdict(seconds, FEATURE_MAPS_TARGET_S)}")

    explainable = {name: explainable_copy(model) for name, model in models.items()}
    options = AttributionOptions(ig_steps=32)
    results = {}

    def panel():
        results.update(explain_image(explainable, image, PANEL_METHODS, options=options))

    seconds = median_seconds(panel, args.repeats)
    print(f"\nAttribution panel: {len(explainable)} models x Integrated Gradients (32 steps), Grad-CAM, Saliency, "
          f"with faithfulness (target {PANEL_TARGET_S} s):")
    print(f"  total      {seconds:6.3f} s  {verdict(seconds, PANEL_TARGET_S)}")
    for name, explanation in results.items():  # the last run's own timing of each method
        parts = " · ".join(f"{method} {result.seconds:.3f} s" for method, result in explanation.attributions.items())
        print(f"  {name:<10} {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
