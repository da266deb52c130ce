"""Where the dashboard reads from: the data (``--data`` after ``--``, as the scripts take it) and the checkpoints
(``$CIFAR10_CHECKPOINTS``), and the command that creates them. No Streamlit here: the browser helpers and the
benchmarks read these too."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cifar_models.checkpoint import DEFAULT_CHECKPOINT_DIR
from cifar_models.data import candidate_locations

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


def train_command() -> str:
    """The command that creates the checkpoints this dashboard looks for, with this session's data and folder."""
    command = f"python scripts/train_all.py --data {data_location()}"
    root = checkpoint_root()
    return command if root == DEFAULT_CHECKPOINT_DIR else f"{command} --out {root}"
