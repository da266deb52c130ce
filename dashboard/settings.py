"""Where the dashboard reads from: the data (``--data`` after ``--``, as the scripts take it) and the checkpoints
(``$CIFAR10_CHECKPOINTS``), and the commands that create them, each defined once (the library names no script: the
scripts and the dashboard add these to its messages). No Streamlit here: the scripts, the browser helpers and the
benchmarks read these too."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cifar_models.checkpoint import DEFAULT_CHECKPOINT_DIR
from cifar_models.data import DataError, candidate_locations

CHECKPOINTS_ENV = "CIFAR10_CHECKPOINTS"


def data_argument() -> str | None:
    """``--data PATH`` as given after ``--`` (``streamlit run dashboard/Home.py -- --data PATH``), else None.

    None lets :mod:`cifar_models.data` fall back to ``$CIFAR10_DATA``, then ``./data``: the scripts' setting.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--data")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.data


def data_location() -> Path:
    return candidate_locations(data_argument())[0][1]


def checkpoint_root() -> Path:
    """``$CIFAR10_CHECKPOINTS``, else ``checkpoints/`` (where ``scripts/train_all.py`` writes by default)."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or DEFAULT_CHECKPOINT_DIR)


TRAIN_SCRIPT = "python scripts/train_all.py"  # the one train command; every page, script and message builds on it
DOWNLOAD_COMMAND = "python scripts/prepare_data.py --download --data ./data"


def train_command(data: str | os.PathLike | None = None, out: str | os.PathLike | None = None) -> str:
    """The command that creates the checkpoints: for ``data`` into ``out``, by default this session's data and
    checkpoints folder (``--out`` only where it is not the default: the same folder, named relatively or not).
    Like the dashboard, the script resolves relative folders against the working directory."""
    data = data_location() if data is None else data
    out = checkpoint_root() if out is None else Path(out)
    command = f"{TRAIN_SCRIPT} --data {data}"
    return command if out.resolve() == Path(DEFAULT_CHECKPOINT_DIR).resolve() else f"{command} --out {out}"


SWEEP_BUDGETS = (10, 20, 40, 80)  # epochs: the budgets Compare's accuracy-against-cost charts are made from


def budgets_command(data: str | os.PathLike | None = None, out: str | os.PathLike | None = None) -> str:
    """The command that trains every model at each of SWEEP_BUDGETS into ``out``'s ``budgets/`` folder (as
    :func:`train_command` names the data and the checkpoints folder)."""
    return f"{train_command(data, out)} --budgets {','.join(str(epochs) for epochs in SWEEP_BUDGETS)}"


def retrain_advice(name: str, out: str | os.PathLike | None = None) -> str:
    """What fixes a checkpoint of model ``name`` (in ``out``, by default this session's folder) that is missing or
    does not load: the sentence after the library's message, with the command."""
    return f"Train it (again) with `{train_command(out=out)} --models {name}`."


def data_advice(error: Exception) -> str:
    """What to add to an error from the library: for a DataError that a fresh copy of CIFAR-10 fixes, the command
    that downloads it; else nothing."""
    return f" To download it: `{DOWNLOAD_COMMAND}`." if isinstance(error, DataError) and error.download_fixes else ""
