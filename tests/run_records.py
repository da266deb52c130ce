"""Run records with every field the engine writes, for tests of what reads them."""
import numpy as np

from cifar_models.budgets import budget_folder
from cifar_models.checkpoint import RECORD_FILE, seed_folder, write_json
from cifar_models.data import CLASSES
from cifar_models.recipe import DEFAULT_RECIPE
from cifar_models.run_record import RunRecord


def run_record(name, accuracy, *, n=10_000, macs=100_000_000, seconds=100.0, epochs=3, recipe=None, tta=None,
               **fields):
    """A run record read from run.json's layout, as the dashboard gets it; ``fields`` replace top-level fields."""
    return RunRecord.from_json({**run_record_json(name, accuracy, n=n, macs=macs, seconds=seconds, epochs=epochs,
                                                  recipe=recipe, tta=tta), **fields}, f"the test record of {name}")


def run_record_json(name, accuracy, *, n=10_000, macs=100_000_000, seconds=100.0, epochs=3, recipe=None, tta=None):
    """A run record in run.json's layout."""
    recipe = recipe or DEFAULT_RECIPE.updated(epochs=epochs).to_dict()
    confusion = np.zeros((10, 10), dtype=int)  # n images, as many per class as n allows, ``accuracy`` of them right
    for label in range(10):
        images = n // 10 + (label < n % 10)
        confusion[label, label] = round(accuracy * images)
        confusion[label, (label + 1) % 10] = images - confusion[label, label]
    return {
        "model": name, "model_options": {}, "params": 1_000_000, "macs": macs, "classes": list(CLASSES),
        "recipe": recipe, "recipe_overrides": {}, "data_fingerprint": "same",
        "data": {"source": "cifar10-jpeg.tar.gz", "train": 45_000, "val": 5_000, "test": n, "subset": None},
        "git_commit": None, "device": "cpu", "precision": "bf16", "world_size": 1, "rank_weight_checksums": [1.0],
        "torch_version": "2.14.1", "train_seconds": seconds, "wall_seconds": seconds + 10,
        "created": "2026-11-27T12:00:00+00:00",
        # accuracies rise by 0.1 an epoch and level off below 1, so that a record of any number of epochs reads
        "history": [{"epoch": e + 1, "train_loss": 2.0 / (e + 1), "train_acc": min(0.3 + 0.1 * e, 0.95),
                     "val_loss": 2.2 / (e + 1), "val_acc": min(0.25 + 0.1 * e, 0.9), "lr": 0.1,
                     "epoch_seconds": seconds / epochs, "images_per_s": 1000.0 + e}
                    for e in range(epochs)],
        "test": {"n": n, "accuracy": accuracy, "accuracy_tta": accuracy + 0.004 if tta is None else tta,
                 "per_class_accuracy": [accuracy] * 10, "confusion_matrix": confusion.tolist(), "ece": 0.05,
                 "latency_ms": 3.0, "throughput_images_per_s": 5000.0, "predictions": [], "confidence": [],
                 "reliability": [{"low": 0.9, "high": 1.0, "confidence": 0.95, "accuracy": accuracy, "count": n},
                                 {"low": 0.0, "high": 0.1, "confidence": None, "accuracy": None, "count": 0}]},
    }


def three(senet, plain=0.90, inception=0.91, **options):
    return {"plain_cnn": run_record("plain_cnn", plain, macs=40_000_000, seconds=50, **options),
            "senet": run_record("senet", senet, macs=550_000_000, seconds=300, **options),
            "inception": run_record("inception", inception, macs=360_000_000, seconds=200, **options)}


def write_runs(root, accuracies, *, epochs=3, device="NVIDIA H200", seconds_per_epoch=None):
    """Run records written as training writes them into the checkpoints folder ``root``: ``accuracies[model]`` holds
    one test accuracy per seed (``<model>/`` for the first, ``seed-<k>/<model>/`` for seed k); each run takes
    ``seconds_per_epoch[model]`` (default 1 s) an epoch, 1% more for each later seed."""
    for name, per_seed in accuracies.items():
        for seed, accuracy in enumerate(per_seed):
            seconds = (seconds_per_epoch or {}).get(name, 1.0) * epochs * (1 + 0.01 * seed)
            record = run_record_json(name, accuracy, seconds=seconds, epochs=epochs,
                                     recipe=DEFAULT_RECIPE.updated(epochs=epochs, seed=seed).to_dict())
            write_json(seed_folder(root, seed) / name / RECORD_FILE, {**record, "device": device})


def write_budgets(root, accuracies, **options):
    """The run records of training budgets, as ``train_all.py --budgets`` lays them out: ``accuracies[epochs]`` as
    :func:`write_runs` takes them, written into ``root/budgets/<epochs>``."""
    for epochs, by_model in accuracies.items():
        write_runs(budget_folder(root, epochs), by_model, epochs=epochs, **options)


def budget_tree(root):
    """Top-level records at 40 epochs, and budgets at 10, 20, 40 and 80 epochs (two seeds at 40 and 80) where SENet's
    gap to Inception narrows from 3 to 0.5 points; the second seed of Plain CNN at 40 epochs is damaged."""
    write_runs(root, {"plain_cnn": [0.84], "senet": [0.89], "inception": [0.90]}, epochs=40)
    write_budgets(root, {10: {"plain_cnn": [0.78], "senet": [0.80], "inception": [0.83]},
                         20: {"plain_cnn": [0.82], "senet": [0.86], "inception": [0.875]},
                         40: {"plain_cnn": [0.84, 0.845], "senet": [0.885, 0.895], "inception": [0.90, 0.90]},
                         80: {"plain_cnn": [0.87, 0.875], "senet": [0.905, 0.905], "inception": [0.91, 0.91]}},
                  seconds_per_epoch={"plain_cnn": 0.5, "senet": 1.5, "inception": 2.2})
    damaged = budget_folder(root, 40) / "seed-1" / "plain_cnn"
    (damaged / RECORD_FILE).write_text("{ damaged")
    return damaged
