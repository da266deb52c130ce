"""Train the lab's three models (or those named with --models) and write checkpoints/<model>/.

    python scripts/train_all.py --data ../shared/datasets/cifar10-jpeg.tar.gz
    python scripts/train_all.py --subset 2000 --epochs 2 --device cpu          # a smoke run
    python scripts/train_all.py --seeds 3      # three seeds each: checkpoints/<model>/, checkpoints/seed-1/<model>/, ...
    python scripts/train_all.py --budgets 10,20,40,80   # each model at each number of epochs: checkpoints/budgets/<epochs>/
    python scripts/train_all.py --model-option plain_cnn.drop_prob=0.1 --model-option plain_cnn.drop_schedule=linear
    torchrun --nproc_per_node=8 scripts/train_all.py --data ...                 # DistributedDataParallel

Rerunning the same command after an interruption resumes each model from its last finished epoch; in a --budgets
sweep a run already finished with the same recipe, options and data is kept, not trained again (unless --fresh).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

from cifar_models import MODELS
from cifar_models import distributed
from cifar_models.advice import AdvisedError
from cifar_models.arguments import ScriptParser, library_type, whole_number
from cifar_models.budgets import budget_folder, budget_recipe, finished_record, parse_budgets
from cifar_models.checkpoint import DEFAULT_CHECKPOINT_DIR, read_seed_records, seed_folder
from cifar_models.data import DataError, load_cifar10
from cifar_models.precision import PRECISIONS, resolve_precision
from cifar_models.engine import TrainingInterrupted, check_run_folder, check_subset, train_model
from cifar_models.model_options import combined, described_options, options_from_assignments, resolved_options
from cifar_models.output_lock import OutputFolderError, OutputLock
from cifar_models.recipe import DEFAULT_RECIPE, Recipe, RecipeError, RecipeFile, read_recipe_file, recipe_for
from cifar_models.resume import OutputWriteError
from cifar_models.run_record import RunRecord
from cifar_models.step_modes import STEP_MODE_CHOICES, sync_check_mode
from cifar_models.verdict import GroundTruth, judge
from dashboard.settings import data_advice

# the library's arguments as this script's flags, for the advice in its errors (cifar_models.advice)
FLAGS = {"subset": "--subset ", "subset_name": "--subset", "fresh": "--fresh", "recipe": "--recipe", "out": "--out"}
# Each seed is a full run of every model: the three take about 3 minutes of an H200 at the default 40 epochs, so ten
# seeds are half an hour of GPU, two lent sessions; the lab's statistics use two to five.
MAX_SEEDS = 10
INTERRUPTED = 130  # the shell's exit status for a process ended by SIGINT (128 + 2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ScriptParser(__doc__)
    parser.add_argument("--data", help="CIFAR-10 location (default: $CIFAR10_DATA, else ./data)")
    parser.add_argument("--download", action="store_true", help="download the original CIFAR-10 if none is found")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--epochs", type=whole_number(1), help="override the recipe's epochs")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--subset", type=int, help="smoke run: N training images (stratified), the first N test images")
    parser.add_argument("--out", default=str(DEFAULT_CHECKPOINT_DIR), help="checkpoint folder (default: checkpoints/)")
    parser.add_argument("--recipe", help="a JSON recipe (any subset of the fields; e.g. from the dashboard)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), bf16 or fp32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models (CUDA only)")
    parser.add_argument("--step-mode", choices=STEP_MODE_CHOICES, default="eager",
                        help="eager (the default), compiled, graphed (the step in a CUDA graph) or auto (each model's "
                             "fastest as measured, cifar_models.step_modes); CUDA only, else eager")
    parser.add_argument("--fresh", action="store_true", help="discard an interrupted run instead of resuming it (in a "
                        "--budgets sweep, also train a finished run again)")
    parser.add_argument("--seeds", type=whole_number(1), default=1,
                        help="train each model with N seeds (the recipe's seed, +1, ...); the first seed's runs go to "
                             "<out>/<model>/, seed k's to <out>/seed-<k>/<model>/ (default 1)")
    parser.add_argument("--budgets", type=library_type(parse_budgets),
                        help="comma-separated numbers of epochs, e.g. 10,20,40,80: each model trains at each (the "
                             "recipe's schedule stretched to it) into <out>/budgets/<epochs>/[seed-<k>/]<model>/")
    parser.add_argument("--model-option", action="append", default=[], metavar="MODEL.OPTION=VALUE",
                        help="a model's option (repeatable; over a recipe file's model_options), a list as "
                             "comma-separated items: " + "; ".join(described_options()))
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.budgets and args.epochs is not None:
        parser.error("argument --budgets: not allowed with --epochs (each budget is a number of epochs)")
    try:
        args.model_options = options_from_assignments(args.model_option, "argument --model-option")
    except ValueError as error:
        parser.error(str(error))
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.seeds > MAX_SEEDS:
        parser.error(f"argument --seeds: at most {MAX_SEEDS} (each seed trains every model in full), got {args.seeds}")
    return args


def closing_table(records: list[RunRecord]) -> str:
    header = f"{'model':<10} {'seed':>4} {'test acc':>8} {'with TTA':>8} {'params':>11} {'MACs':>8} {'train s':>8} {'img/s':>9} {'precision':<9} {'device'}"
    rows = [header, "-" * len(header)]
    for r in records:
        rows.append(f"{r.model:<10} {r.seed:>4} {r.accuracy:>8.2%} "
                    f"{r.tta_accuracy:>8.2%} {r.params:>11,} {r.macs / 1e6:>7.1f}M {r.train_seconds:>8.1f} {r.training_images_per_s:>9,.0f} "
                    f"{r.precision:<9} {r.device}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        recipe_file = read_recipe_file(args.recipe) if args.recipe else RecipeFile(DEFAULT_RECIPE, {})
        base = recipe_file.recipe
        options = combined(recipe_file.model_options, args.model_options, "the model options")
        if args.epochs is not None:
            base = base.updated(epochs=args.epochs)
        if args.compile:
            base = base.updated(compile=True)
        if args.subset is not None:
            check_subset(args.subset, base.batch_size)  # its lower bound needs no data: refuse before loading any
        runs = planned_runs(args, base, options)  # every run's recipe and folder, refused now rather than later
        sync_check_mode()  # a bad CIFAR_SYNC_CHECK (a ValueError), refused before the data loads
        ranks, device = distributed.setup(args.device)  # DeviceError (a ValueError) names the devices there are
    except ValueError as error:
        print(f"error: {worded(error)}", file=sys.stderr)
        return 2
    try:
        # rank 0 writes the folder: it alone holds it, from before the data is loaded until the end
        with OutputLock(args.out) if ranks.is_writer else nullcontext() as lock:
            if lock is not None and lock.taken_over:
                print(f"note: {args.out} was locked by a run that has ended ({lock.taken_over}); taking it over",
                      file=sys.stderr)
            records = train_models(args, runs, ranks, device, resume_command(argv))
            distributed.finish(ranks)  # no rank leaves before rank 0 has written (see finish for why)
    except KeyboardInterrupt as interrupt:
        print(interrupted(interrupt, resume_command(argv)), file=sys.stderr)
        return INTERRUPTED
    except OutputWriteError as error:  # a full disk: not the user's input, the earlier files kept
        print(f"error: {worded(error)}", file=sys.stderr)
        return 1
    except (AdvisedError, DataError, OutputFolderError, ValueError) as error:
        print(f"error: {worded(error)}{data_advice(error)}", file=sys.stderr)
        return 2
    finally:
        distributed.teardown()
    if records:
        data = load_cifar10(args.data, progress=False)  # from the decode cache the run has just used
        print(closing_lines(args, records, GroundTruth(data.test.labels, data.fingerprint)))
    return 0


def closing_lines(args: argparse.Namespace, records: list[RunRecord], labels: GroundTruth) -> str:
    """The table of the runs and the verdict on each checkpoint folder trained (each budget's, in a sweep), then a
    JSON line naming what was trained."""
    summary = {"checkpoints": str(Path(args.out).resolve()), "models": list(dict.fromkeys(r.model for r in records)),
               "seeds": sorted({r.seed for r in records})}
    if not args.budgets:
        return "\n".join([closing_table(records), closing_verdict(args.out, labels), json.dumps(summary)])
    parts = []
    for epochs in args.budgets:
        parts += [f"budget {epochs} epochs ({budget_folder(args.out, epochs)}):",
                  closing_table([r for r in records if r.recipe.epochs == epochs]),
                  closing_verdict(budget_folder(args.out, epochs), labels)]
    return "\n".join([*parts, json.dumps({**summary, "budgets": list(args.budgets)})])


def closing_verdict(out: str, labels: GroundTruth | None) -> str:
    """The verdict on every seed's run in ``out`` (those of earlier runs too), as the dashboard gives it, and each
    record it leaves out."""
    seed_records, unread = read_seed_records(out)
    notes = [f"note: {folder} is left out: {problem}" for folder, problem in unread.items()]
    try:
        verdict = judge(seed_records, labels)
    except ModuleNotFoundError as missing:  # e.g. the lent GPU machine has no statsmodels: the records are written
        verdict = judge(seed_records)
        notes.append(f"note: the paired tests need {missing.name}, which is not installed here (`pip install "
                     f"{missing.name}`); the verdict above is the untested one, and the dashboard tests the pairs")
    return "\n".join([verdict.text, *notes, *verdict.left_out])


def worded(error: Exception) -> str:
    """The error's message, the library's arguments in it spelled as this script's flags."""
    return error.worded(FLAGS) if isinstance(error, AdvisedError) else str(error)


class PlannedRun(NamedTuple):
    model: str
    recipe: Recipe
    overrides: dict  # the model's departures from the shared recipe
    options: dict  # all the options its builder is given (the options type's defaults for those not chosen)
    out: Path  # the checkpoint folder it writes <model>/ into
    budget: int | None  # the epochs of a --budgets run; None outside a sweep


def planned_runs(args: argparse.Namespace, base: Recipe, options: dict[str, dict]) -> list[PlannedRun]:
    """Every run, budget by budget (the recipe's epochs without --budgets), seed by seed: a seed beyond the recipe's
    limits or a folder in the way is refused here, before any data is loaded or any run trained."""
    runs = []
    for budget in args.budgets or (None,):
        root = Path(args.out) if budget is None else budget_folder(args.out, budget)
        budgeted = base if budget is None else budget_recipe(base, budget)
        for index in range(args.seeds):
            seeded = seeded_recipe(budgeted, index, args.seeds)
            for name in args.models.split(","):
                recipe, overrides = recipe_for(name, seeded)
                out = seed_folder(root, index)
                check_run_folder(out / name)
                chosen = resolved_options(name, options.get(name, {}), f"the model options ({name})")
                runs.append(PlannedRun(name, recipe, overrides, chosen, out, budget))
    return runs


def seeded_recipe(base: Recipe, index: int, seeds: int) -> Recipe:
    """``base`` with its ``index``-th seed (the recipe's seed + index); refused naming --seeds where it overflows."""
    try:
        return base.updated(seed=base.seed + index)
    except RecipeError as error:
        problem = (f"--seeds {seeds} from the recipe's seed {base.seed} needs seed {base.seed + index}, "
                   f"beyond its range ({error}); lower the recipe's seed or --seeds.")
        raise RecipeError(problem) from None


def resume_command(argv: list[str]) -> str:
    """The command that resumes this run: the same one, less --fresh (which would discard what was kept)."""
    return shlex.join(["python", "scripts/train_all.py", *(arg for arg in argv if arg != "--fresh")])


def interrupted(interrupt: KeyboardInterrupt, command: str) -> str:
    """Two lines: what Ctrl-C kept, and the command that resumes from it."""
    if isinstance(interrupt, TrainingInterrupted) and interrupt.epoch:
        kept = (f"interrupted: {interrupt.model} kept epoch {interrupt.epoch} of {interrupt.epochs} in "
                f"{interrupt.run_dir}; the models that had finished are kept too.")
    elif isinstance(interrupt, TrainingInterrupted):
        kept = (f"interrupted in {interrupt.model}'s first epoch, before it kept any; the models that had finished "
                "are kept.")
    else:
        kept = "interrupted before training began; the models that had finished are kept."
    return f"{kept}\nTo resume, rerun the same command: {command}"


def train_models(args: argparse.Namespace, runs: list[PlannedRun], ranks, device, command: str) -> list[RunRecord]:
    """Load the data and train each run in turn (in a sweep, keeping those already finished); the run records (none
    on ranks > 0)."""
    data = load_cifar10(args.data, download=args.download, progress=ranks.is_writer and not args.quiet)
    records = []
    for number, run in enumerate(runs, start=1):
        kept = None
        if run.budget is not None:
            if not args.fresh:
                kept = finished_record(run.out / run.model, run.recipe, model_options=run.options, subset=args.subset,
                                       data_fingerprint=data.fingerprint,
                                       precision=resolve_precision(args.precision, device))
            if ranks.is_writer:
                print(f"[{number}/{len(runs)}] budget {run.budget} epochs, seed {run.recipe.seed}: {run.model}"
                      f"{' finished already, kept (--fresh trains it again)' if kept else ''}", flush=True)
        record = kept or train_model(run.model, data, run.recipe, run.out, device=device, ranks=ranks,
                                     subset=args.subset, model_options=run.options, recipe_overrides=run.overrides,
                                     fresh=args.fresh, progress=not args.quiet, precision=args.precision,
                                     resume_command=command, step_mode=args.step_mode)
        if record is not None and ranks.is_writer:
            records.append(record)
    return records


if __name__ == "__main__":
    raise SystemExit(main())
