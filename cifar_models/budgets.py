"""Budgets: the same recipe trained for several numbers of epochs, to answer "which model is best?" as a curve.

A budget's runs live in ``<root>/budgets/<epochs>/``, laid out as the top level of a checkpoint folder is
(``<model>/``, ``seed-<k>/<model>/``), so ``read_seed_records(budget_folder(root, epochs))`` reads a budget as
``read_seed_records(root)`` reads the top level (:func:`read_budgets` reads them all, for the Compare page). The
one-cycle schedule is defined over the run's steps, so a budget's recipe is the recipe with ``epochs`` replaced:
warm-up and decay stretch with it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import CheckpointError, read_record, read_seed_records
from .model_options import recorded_options
from .recipe import Recipe
from .run_record import RunRecord

BUDGETS_FOLDER = "budgets"


class BudgetError(ValueError):
    """A list of budgets that cannot be trained: the message says which value and why."""


def budget_folder(root: str | os.PathLike, epochs: int) -> Path:
    """The checkpoint folder of the ``epochs`` budget under ``root``: ``<root>/budgets/<epochs>``."""
    return Path(root) / BUDGETS_FOLDER / str(epochs)


def budgets_present(root: str | os.PathLike) -> list[int]:
    """The budgets (epochs) with a folder under ``<root>/budgets/``, ascending; other names there are not budgets."""
    folder = Path(root) / BUDGETS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(int(path.name) for path in folder.iterdir() if path.is_dir() and _is_budget_name(path.name))


def _is_budget_name(name: str) -> bool:
    return name.isascii() and name.isdigit() and not name.startswith("0")  # as budget_folder writes it: 1, 10, 80


@dataclass(frozen=True)
class Budget:
    """The run records of one training budget."""

    epochs: int
    folder: Path  # <root>/budgets/<epochs>
    records: dict[str, list[RunRecord]] = field(default_factory=dict)  # model name -> its records over seeds
    problems: dict[Path, str] = field(default_factory=dict)  # the folder of each record that does not read -> why


def read_budgets(root: str | os.PathLike) -> list[Budget]:
    """Every budget under ``root`` that holds a run record, in ascending epochs, each with the records that read and,
    for each that does not, its folder and why (the others are read all the same)."""
    budgets = [Budget(epochs, budget_folder(root, epochs), *read_seed_records(budget_folder(root, epochs)))
               for epochs in budgets_present(root)]
    return [budget for budget in budgets if budget.records or budget.problems]


def budget_recipe(recipe: Recipe, epochs: int) -> Recipe:
    """``recipe`` trained for ``epochs``: the same schedule, stretched (or shrunk) over the budget's steps."""
    return recipe.updated(epochs=epochs)


def parse_budgets(text: str) -> tuple[int, ...]:
    """``"10,20,40,80"`` as budgets in ascending order; BudgetError names a value that is not a whole number ≥ 1 and a
    budget given twice (its runs would share one folder)."""
    parts = [part.strip() for part in text.split(",")]
    budgets = []
    for part in parts:
        if not (part.isascii() and part.isdigit()) or int(part) < 1:
            raise BudgetError(f"each budget must be a whole number of epochs ≥ 1, got {part!r} in {text!r}")
        if int(part) in budgets:
            raise BudgetError(f"{int(part)} epochs is given twice in {text!r}; each budget is trained once")
        budgets.append(int(part))
    return tuple(sorted(budgets))


def finished_record(run_dir: str | os.PathLike, recipe: Recipe, *, model_options: dict, subset: int | None,
                    data_fingerprint: str, precision: str) -> RunRecord | None:
    """The record of a finished run in ``run_dir`` that trained exactly this (recipe, model options, subset, data and
    resolved precision; ``model_options`` as ``train_model`` is given them, an option not given the builder's own),
    so an interrupted sweep does not train it again; None where there is none, or it differs or does not read (the
    run then trains and replaces it). Its weights are not needed: a budget's records are what is kept."""
    try:
        record = read_record(run_dir)
    except CheckpointError:
        return None
    same = (record.recipe == recipe and record.model_options == recorded_options(record.model, model_options)
            and record.data.subset == subset and record.data_fingerprint == data_fingerprint
            and record.precision == precision)
    return record if same else None
