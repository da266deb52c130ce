"""Training throughput: the seed's DataLoader pipeline against the lab's engine, on the same device in one run.

    python scripts/benchmark_training.py --data ../shared/datasets/cifar10-jpeg.tar.gz          # on a GPU
    python scripts/benchmark_training.py --device cpu --images 2048 --epochs 1 --models plain_cnn  # a CPU smoke run

The seed's pipeline: a map-style dataset of PIL images through RandomCrop, RandomHorizontalFlip, ToTensor and
Normalize, a DataLoader with workers, fp32, batch 128, Adam. Ours: the engine (data resident on the device, batched
augmentation) with the default recipe, in each precision asked for (``--precision both``, the default: fp32 and bf16
autocast + channels_last, and their ratio per model), then in each step mode of ``--modes`` (eager, compiled, graphed:
``cifar_models.step_modes``) in the default precision; a mode this device cannot run (compiled and graphed need CUDA)
is skipped with the reason. Prints a table, the fastest mode per model as the ``FASTEST_STEP_MODE`` table that
``train_all.py --step-mode auto`` reads, and writes JSON.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cifar_models import MODELS, build_model
from cifar_models import distributed
from cifar_models.arguments import ScriptParser
from cifar_models.normalization import MEAN, STD
from cifar_models.data import load_cifar10
from cifar_models.engine import train_model
from cifar_models.precision import PRECISIONS, resolve_precision
from cifar_models.recipe import DEFAULT_RECIPE
from cifar_models.step_modes import STEP_MODES, missing_for

# Dense bf16 tensor-core peaks from NVIDIA's data sheets (SXM parts), to put achieved FLOP/s in proportion.
BF16_PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


class SeedDataset(Dataset):
    """The seed's map-style dataset: one PIL image at a time through torchvision transforms."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize(MEAN, STD)])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_pipeline_images_per_s(split, device: torch.device, epochs: int, workers: int) -> float:
    torch.manual_seed(0)
    model = build_model("plain_cnn").to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(SeedDataset(split.images, split.labels), batch_size=128, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    seconds, seen = 0.0, 0
    for epoch in range(epochs + 1):  # the first epoch warms up (worker start, cuDNN autotuning) and is not counted
        _synchronise(device)
        started = time.perf_counter()
        for images, labels in loader:
            loss = F.cross_entropy(model(images.to(device, non_blocking=True)), labels.to(device, non_blocking=True))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _synchronise(device)
        if epoch:
            seconds += time.perf_counter() - started
            seen += len(split)
    return seen / seconds


def engine_epochs(name: str, data, device: torch.device, epochs: int, subset: int | None, precision: str,
                  step_mode: str = "eager") -> dict:
    """Train with the engine and return its per-epoch figures, the first (warm-up, compilation, capture) epoch left
    out, and the step mode that ran (a graphed run whose capture failed runs eager)."""
    with tempfile.TemporaryDirectory() as out:
        record = train_model(name, data, DEFAULT_RECIPE.updated(epochs=epochs + 1), out, device=device,
                             subset=subset, progress=False, precision=precision, step_mode=step_mode)
    timed = record.history[1:]
    return {"epoch_seconds": sum(h.epoch_seconds for h in timed) / len(timed),
            "images_per_s": sum(h.images_per_s for h in timed) / len(timed),
            "macs": record.macs, "params": record.params, "ran_as": record.step_mode,
            "wall_seconds": record.wall_seconds}


@dataclass(frozen=True)
class Bench:
    """What every measurement of one benchmark run shares."""

    data: object  # CIFAR10
    device: torch.device
    epochs: int
    images: int | None
    precisions: list[str]
    mode_precision: str  # of the step-mode measurements
    modes: list[str]  # the step modes this device can run
    seed_images_per_s: float
    peak: float | None  # the GPU's bf16 FLOP/s


def measure_model(name: str, bench: Bench, figures: dict, save) -> None:
    """Fill ``figures`` with ``name``'s measurements, each precision then each step mode (eager reused from the
    precision pass when it measured the same precision), calling ``save`` after each so a time-out keeps what was
    measured. A mode that raises is recorded with its error, and the others still run."""
    for precision in bench.precisions:
        measured = engine_epochs(name, bench.data, bench.device, bench.epochs, bench.images, precision)
        # forward + backward is about three forward passes; one MAC is two FLOPs
        measured["achieved_flops"] = 3 * 2 * measured["macs"] * measured["images_per_s"]
        measured["fraction_of_bf16_peak"] = measured["achieved_flops"] / bench.peak if bench.peak else None
        figures[precision] = measured
        save()
    if len(bench.precisions) == 2:
        figures["bf16_over_fp32"] = figures["bf16"]["images_per_s"] / figures["fp32"]["images_per_s"]
    figures["modes"] = {}
    for mode in bench.modes:
        try:
            measured = (dict(figures[bench.mode_precision]) if mode == "eager" and bench.mode_precision in figures
                        else engine_epochs(name, bench.data, bench.device, bench.epochs, bench.images,
                                           bench.mode_precision, mode))
        except Exception as error:  # one mode's failure (e.g. a compiler error) must not cost the others
            figures["modes"][mode] = {"error": f"{type(error).__name__}: {error}"}
        else:
            measured["over_seed_pipeline"] = measured["images_per_s"] / bench.seed_images_per_s
            figures["modes"][mode] = measured
        save()


def fastest_mode(modes: dict) -> str | None:
    """The mode with the most images/s among those that ran as asked (a failed capture's eager run does not count);
    None where none did."""
    ran = {mode: figures for mode, figures in modes.items() if figures.get("ran_as") == mode}
    return max(ran, key=lambda mode: ran[mode]["images_per_s"], default=None)


def print_modes(results: dict) -> None:
    skipped = "".join(f"; {mode} skipped: it {reason}" for mode, reason in results["skipped_modes"].items())
    print(f"step modes in {results['mode_precision']}{skipped}")
    print(f"{'model':<10} {'mode':<9} {'img/s':>10} {'x seed':>7} {'ran as':>8}")
    for name, by_precision in results["models"].items():
        for mode, f in by_precision["modes"].items():
            if "error" in f:
                print(f"{name:<10} {mode:<9} failed: {f['error']}")
            else:
                print(f"{name:<10} {mode:<9} {f['images_per_s']:>10,.0f} {f['over_seed_pipeline']:>7.1f} "
                      f"{f['ran_as']:>8}")
    print(f"FASTEST_STEP_MODE = {json.dumps(results['fastest_step_mode'])}  # measured on {results['device']}: "
          "cifar_models/step_modes.py, read by train_all.py --step-mode auto")


def write_results(path: str, results: dict) -> None:
    Path(path).write_text(json.dumps(results, indent=2) + "\n")


def print_precisions(results: dict, precisions: list[str]) -> None:
    """Each model's figures in each precision measured, beside the seed's pipeline."""
    print(f"device: {results['device']}")
    print(f"seed pipeline (PlainCNN, DataLoader, fp32, batch 128, Adam): {results['seed_pipeline_images_per_s']:,.0f} "
          "img/s")
    print(f"{'model':<10} {'precision':<9} {'epoch s':>8} {'img/s':>10} {'TFLOP/s':>8} {'of bf16 peak':>12}")
    for name, by_precision in results["models"].items():
        for precision in precisions:
            f = by_precision[precision]
            share = f"{f['fraction_of_bf16_peak']:.1%}" if f["fraction_of_bf16_peak"] is not None else "n/a"
            print(f"{name:<10} {precision:<9} {f['epoch_seconds']:>8.2f} {f['images_per_s']:>10,.0f} "
                  f"{f['achieved_flops'] / 1e12:>8.2f} {share:>12}")
        if "bf16_over_fp32" in by_precision:
            print(f"{name:<10} bf16 / fp32 images/s: {by_precision['bf16_over_fp32']:.2f}x")
    if "plain_cnn_speedup" in results:
        print(f"PlainCNN speed-up, ours ({results['default_precision']}) / seed's: {results['plain_cnn_speedup']:.1f}x "
              "(target at least 15x on a GPU)")


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement (after one warm-up)")
    parser.add_argument("--images", type=int, help="train on the first N images only (smoke runs)")
    parser.add_argument("--workers", type=int, default=8, help="DataLoader workers of the seed's pipeline")
    parser.add_argument("--precision", choices=[*PRECISIONS, "both"], default="both",
                        help="the engine's precision; both (the default): fp32 and bf16, and their ratio")
    parser.add_argument("--modes", default=",".join(STEP_MODES),
                        help="the step modes to measure in the default precision (default: all; those this device "
                             "cannot run are skipped)")
    parser.add_argument("--json", default="benchmark_training.json", help="where to write the results")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modes.split(",")) - set(STEP_MODES))
    if unknown:
        parser.error(f"--modes takes {', '.join(STEP_MODES)}, not {', '.join(unknown)}")

    try:
        _, device = distributed.setup(args.device)
    except distributed.DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    data = load_cifar10(args.data, progress=False)
    split = data.train if args.images is None else data.train.subset(torch.arange(args.images).numpy())
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = next((flops for key, flops in BF16_PEAK_FLOPS.items() if key in device_name), None)

    precisions = ["fp32", "bf16"] if args.precision == "both" else [resolve_precision(args.precision, device)]
    default_precision = resolve_precision("auto", device)  # what train_all.py uses here
    seed = seed_pipeline_images_per_s(split, device, args.epochs, args.workers)
    mode_precision = precisions[-1] if len(precisions) == 1 else default_precision
    results = {"device": device_name, "seed_pipeline_images_per_s": seed, "default_precision": default_precision,
               "mode_precision": mode_precision, "models": {}, "fastest_step_mode": {},
               "skipped_modes": {mode: f"needs {missing_for(mode, device)}" for mode in args.modes.split(",")
                                 if missing_for(mode, device)}}
    bench = Bench(data, device, args.epochs, args.images, precisions, mode_precision,
                  [mode for mode in args.modes.split(",") if mode not in results["skipped_modes"]], seed, peak)
    for name in args.models.split(","):
        figures = results["models"][name] = {}
        measure_model(name, bench, figures, lambda: write_results(args.json, results))
        if fastest_mode(figures["modes"]):
            results["fastest_step_mode"][name] = fastest_mode(figures["modes"])
    engine_plain = results["models"].get("plain_cnn", {}).get(default_precision)
    if engine_plain:
        results["plain_cnn_speedup"] = engine_plain["images_per_s"] / seed

    print_precisions(results, precisions)
    print_modes(results)
    write_results(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
