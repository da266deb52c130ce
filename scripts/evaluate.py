"""Re-evaluate saved checkpoints on the test split; one JSON object per line per model.

    python scripts/evaluate.py --checkpoints checkpoints/ --data ../shared/datasets/cifar10-jpeg.tar.gz
    python scripts/evaluate.py --checkpoints /tmp/ckpt --limit 2000     # the images a --subset 2000 run used
    python scripts/evaluate.py --robustness                              # CIFAR-10-C, written to <model>/robustness.json
    python scripts/evaluate.py --exemplars                               # each channel's top test images
    python scripts/evaluate.py --faithfulness                            # which attribution map to trust
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cifar_models import trust
from cifar_models.arguments import ScriptParser, whole_number
from cifar_models.checkpoint import (DEFAULT_CHECKPOINT_DIR, CheckpointError, FolderNotWritable, LoadedCheckpoint,
                                     find_checkpoints, load_checkpoint, require_writable)
from cifar_models.data import DataError, load_cifar10
from cifar_models.distributed import DeviceError, device_here
from cifar_models.evaluation import plain_and_tta_logits
from cifar_models.exemplars import EXEMPLARS_FILE, cached_exemplars
from cifar_models.precision import PRECISIONS
from cifar_models.robustness import DEFAULT_PER_CLASS, DEFAULT_SEED, evaluate_checkpoints, stratified_subset
from dashboard.settings import TRAIN_SCRIPT, data_advice, retrain_advice


def build_parser() -> ScriptParser:
    parser = ScriptParser(__doc__)
    parser.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR), help="folder of <model>/ checkpoints")
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--limit", type=whole_number(1), help="only the first N test images")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--precision", choices=[*PRECISIONS, "recorded"], default="recorded",
                        help="recorded (the precision each model's test metrics were measured in; the default), "
                             "auto, bf16 or fp32")
    parser.add_argument("--robustness", action="store_true",
                        help="the CIFAR-10-C corruptions (15 x 5 severities) on a stratified test subset; writes "
                             "<model>/robustness.json")
    parser.add_argument("--per-class", type=whole_number(1),
                        help=f"with --robustness (default {DEFAULT_PER_CLASS}) or --faithfulness (default "
                             f"{trust.DEFAULT_PER_CLASS}): test images per class")
    parser.add_argument("--seed", type=whole_number(0), default=DEFAULT_SEED,
                        help="with --robustness: the corruptions' random seed")
    parser.add_argument("--exemplars", action="store_true",
                        help="each channel's 9 most activating test images and class profile, for every inspectable "
                             "layer; writes <model>/exemplars.safetensors (the Feature maps page reads it)")
    parser.add_argument("--faithfulness", action="store_true",
                        help="every attribution method's faithfulness on a stratified test subset, for each image "
                             f"the model's prediction; writes <model>/{trust.TRUST_FILE} (the Attribution page's "
                             "'which map to trust' over many images)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        device = device_here(args.device)
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    found = find_checkpoints(args.checkpoints)
    if not found:
        print(f"error: no checkpoints under {Path(args.checkpoints).resolve()}; create them with "
              f"`{TRAIN_SCRIPT}`", file=sys.stderr)
        return 2
    try:
        data = load_cifar10(args.data, progress=False)
    except DataError as error:
        print(f"error: {error}{data_advice(error)}", file=sys.stderr)
        return 2
    mode = next((measure for option, measure in MODES.items() if getattr(args, option)), reevaluate)
    return mode(args, found, data, device)


def reevaluate(args: argparse.Namespace, found: dict[str, Path], data, device) -> int:
    """Without a mode: each checkpoint's test accuracy again, beside the recorded one; one JSON line per model."""
    test = data.test
    count = len(test) if args.limit is None else min(args.limit, len(test))
    images, labels = test.images[:count], test.labels[:count]
    checkpoints, failures = load_all(found, device, args.precision)
    for name, (loaded, precision) in checkpoints.items():
        plain, flipped = plain_and_tta_logits(loaded.model, images, device=device, batch_size=512,
                                              precision=precision)
        print(json.dumps({
            "model": name,
            "n": count,
            "precision": precision,
            "accuracy": float((plain.argmax(1).numpy() == labels).mean()),
            "accuracy_tta": float((flipped.argmax(1).numpy() == labels).mean()),
            "recorded_accuracy": loaded.record.accuracy,
            "recorded_n": loaded.record.test.n,
        }))
    return 1 if failures else 0


def load_all(found: dict[str, Path], device, precision: str) -> tuple[dict[str, tuple[LoadedCheckpoint, str]], int]:
    """Each loadable checkpoint with the precision to run it in (``recorded``: its record's), and how many failed to
    load; a damaged one gets its own JSON line naming the problem, the others go on."""
    loaded, failures = {}, 0
    for name, folder in found.items():
        try:
            checkpoint = load_checkpoint(folder, device)
        except CheckpointError as error:
            print(json.dumps({"model": name, "error": f"{error} {retrain_advice(name, folder.parent)}"}))
            failures += 1
            continue
        loaded[name] = (checkpoint, checkpoint.record.precision if precision == "recorded" else precision)
    return loaded, failures


def compute_exemplars(args: argparse.Namespace, found: dict[str, Path], data, device) -> int:
    """--exemplars: every checkpoint's channel exemplars, computed once and cached beside it."""
    checkpoints, failures = load_all(found, device, args.precision)
    for name, (checkpoint, precision) in checkpoints.items():
        folder = found[name]
        started = time.perf_counter()
        try:
            layers = cached_exemplars(folder, checkpoint.model, data.test.images, data.test.labels,
                                      num_classes=data.num_classes, data_fingerprint=data.fingerprint,
                                      precision=precision)
        except FolderNotWritable as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(json.dumps({"model": name, "layers": len(layers), "channels": sum(len(e.top_indices) for e in layers.values()),
                          "seconds": round(time.perf_counter() - started, 2), "written": str(folder / EXEMPLARS_FILE)}))
    return 1 if failures else 0


def measure_faithfulness(args: argparse.Namespace, found: dict[str, Path], data, device) -> int:
    """--faithfulness: every checkpoint's attribution methods scored on the stratified subset, stored beside it."""
    from cifar_models.attribution import explainable_copy  # imports captum: only this mode needs it

    per_class = args.per_class or trust.DEFAULT_PER_CLASS
    if not per_class_fits(data.test.labels, per_class):
        return 2
    try:  # every folder before any work: minutes of attribution must not end in a refused write
        for folder in found.values():
            require_writable(folder, trust.TRUST_FILE)
    except FolderNotWritable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    checkpoints, failures = load_all(found, device, args.precision)
    for name, (checkpoint, _precision) in checkpoints.items():
        record = trust.measure_trust(name, explainable_copy(checkpoint.model), found[name], data.test.images,
                                     data.test.labels, data_fingerprint=data.fingerprint, per_class=per_class)
        written = trust.save_trust(found[name], record)
        print(json.dumps({"model": name, "images": len(record.indices), "seconds": record.seconds,
                          "mean_faithfulness": {method: round(found.mean, 4)
                                                for method, found in record.summary().items()},
                          "written": str(written)}))
    return 1 if failures else 0


def per_class_fits(labels, per_class: int) -> bool:
    """Whether every class has ``per_class`` test images; says why not on stderr."""
    try:
        stratified_subset(labels, per_class)
    except ValueError as error:
        print(f"error: --per-class {per_class}: {error}", file=sys.stderr)
        return False
    return True


def measure_robustness(args: argparse.Namespace, found: dict[str, Path], data, device) -> int:
    """--robustness: every checkpoint on the corrupted subset; one JSON summary line per model."""
    test = data.test
    per_class = args.per_class or DEFAULT_PER_CLASS
    if not per_class_fits(test.labels, per_class):
        return 2
    checkpoints, failures = load_all(found, device, args.precision)
    loaded = {name: (checkpoint.model, precision) for name, (checkpoint, precision) in checkpoints.items()}
    try:
        records = evaluate_checkpoints(found, loaded, test.images, test.labels, device=device,
                                       per_class=per_class, seed=args.seed) if loaded else {}
    except FolderNotWritable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name, record in records.items():
        print(json.dumps({"model": name, "images": len(record["indices"]), "precision": record["precision"],
                          "clean_accuracy": record["clean_accuracy"],
                          "mean_corruption_accuracy": record["mean_corruption_accuracy"],
                          "mean_corruption_error": record["mean_corruption_error"],
                          "seconds_all_models": record["seconds_all_models"],
                          "written": str(found[name] / "robustness.json")}))
    return 1 if failures else 0


# option -> what it computes instead of re-evaluating (each takes the arguments, the checkpoints, the data, the device)
MODES = {"exemplars": compute_exemplars, "robustness": measure_robustness, "faithfulness": measure_faithfulness}

if __name__ == "__main__":
    raise SystemExit(main())
