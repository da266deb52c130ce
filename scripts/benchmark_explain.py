"""How long the explanation pages compute, on this machine's CPU (the targets are for a 2-core CPU).

    python scripts/benchmark_explain.py --checkpoints checkpoints --data ../shared/datasets/cifar10-jpeg.tar.gz

Two figures, each the median of --repeats runs after one warm-up run, on a real test image:

* feature maps: one image through one model, keeping the Feature maps page's default layer, and its grid of the
  top 16 channels coloured (target: at most 0.3 s), for each model;
* attribution panel: the Attribution page's Explain button with its defaults: the three models, Integrated Gradients
  with its default steps, Grad-CAM and Saliency, each with its faithfulness score (target: at most 3 s).

Each is measured twice in one run: as the machine is, then while a busy loop the script starts (a second Python
process pinned to one core) keeps one core busy, the way a user's laptop usually is; the script stops the loop before
it ends. Small single-image work suffers most there: an operation split over two threads waits for the half on the
busy core. Timing does not depend on the weights: without checkpoints, untrained models of the same architectures are
timed.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import torch

from cifar_models import MODELS, build_model
from cifar_models.arguments import ScriptParser
from cifar_models.attribution import AttributionOptions, explain_image, explainable_copy
from cifar_models.benchmarking import CONDITIONS, median_seconds
from cifar_models.checkpoint import DEFAULT_CHECKPOINT_DIR, find_checkpoints, load_checkpoint
from cifar_models.data import DataError, load_cifar10
from cifar_models.explain import deepest_block, feature_maps, map_tiles, top_channels
from cifar_models.explain import flush_denormals
from dashboard.settings import data_advice

FEATURE_MAPS_TARGET_S = 0.3
PANEL_TARGET_S = 3.0
PANEL_METHODS = ["integrated_gradients", "grad_cam", "saliency"]
GRID_CHANNELS = 16


def feature_map_grid(model, image) -> None:
    """What the Feature maps page computes for its grid: the forward pass with the layer kept, then the tiles."""
    layer = deepest_block(model, 8)
    maps = feature_maps(model, image, [layer]).maps[layer]
    map_tiles(maps, top_channels(maps, GRID_CHANNELS), "map")


def verdict(seconds: float, target: float) -> str:
    return "within target" if seconds <= target else "OVER TARGET"


def seconds_cell(seconds: float, target: float) -> str:
    return f"{seconds:.3f} s" + ("" if seconds <= target else " OVER")




@dataclass
class Timings:
    feature_maps: dict[str, float] = field(default_factory=dict)  # model -> median seconds
    panel: float = 0.0  # median seconds
    methods: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> method -> seconds, the last run


def measure(models: dict, explainable: dict, image, repeats: int) -> Timings:
    timings = Timings()
    for name, model in models.items():
        timings.feature_maps[name] = median_seconds(lambda: feature_map_grid(model, image), repeats)
    results = {}

    def panel():
        results.update(explain_image(explainable, image, PANEL_METHODS, options=AttributionOptions()))

    timings.panel = median_seconds(panel, repeats)
    timings.methods = {name: {method: found.seconds for method, found in explanation.attributions.items()}
                       for name, explanation in results.items()}
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR), help="default: checkpoints/")
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image", type=int, default=0, help="index of the test image")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, not {args.repeats}")
    flush_denormals()  # as the dashboard does

    try:
        data = load_cifar10(args.data, progress=False)
    except DataError as error:
        print(f"error: {error}{data_advice(error)}", file=sys.stderr)
        return 2
    if not 0 <= args.image < len(data.test.images):
        print(f"error: --image must be a test image index from 0 to {len(data.test.images) - 1}, not {args.image}",
              file=sys.stderr)
        return 2
    image = data.test.images[args.image]
    found = find_checkpoints(args.checkpoints)
    names = list(MODELS)  # the registry's display order
    models = {name: load_checkpoint(found[name]).model if name in found else build_model(name).eval()
              for name in names}
    explainable = {name: explainable_copy(model) for name, model in models.items()}
    untrained = [name for name in names if name not in found]
    print(f"{os.cpu_count()} CPU cores · torch {torch.__version__} with {torch.get_num_threads()} threads · "
          f"test image #{args.image} · median of {args.repeats} runs · load average before: {os.getloadavg()[0]:.2f}")
    if untrained:
        print(f"untrained (no checkpoint in {args.checkpoints}): {', '.join(untrained)}")

    timings = {}
    for condition, making in CONDITIONS.items():
        with making():
            timings[condition] = measure(models, explainable, image, args.repeats)

    columns = "".join(f"{condition:>16}" for condition in CONDITIONS)
    print(f"\nFeature maps, one image and one model (target {FEATURE_MAPS_TARGET_S} s):")
    print(f"  {'':<10} {'layer':<16}{columns}")
    for name, model in models.items():
        cells = "".join(f"{seconds_cell(measured.feature_maps[name], FEATURE_MAPS_TARGET_S):>16}"
                        for measured in timings.values())
        print(f"  {name:<10} {deepest_block(model, 8):<16}{cells}")

    print(f"\nAttribution panel: {len(explainable)} models x Integrated Gradients ({AttributionOptions().ig_steps} "
          "steps), Grad-CAM, Saliency, "
          f"with faithfulness (target {PANEL_TARGET_S} s):")
    for condition, measured in timings.items():
        print(f"  {condition:<14} {measured.panel:6.3f} s  {verdict(measured.panel, PANEL_TARGET_S)}")
        for name, seconds in measured.methods.items():  # the last run's own timing of each method
            print(f"    {name:<10} " + " · ".join(f"{method} {value:.3f} s" for method, value in seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
