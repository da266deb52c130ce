"""Command-line value types shared by the scripts: argparse refuses anything else with the option's name, exit 2."""
from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum`` (e.g. ``--epochs 0`` is refused, not ignored)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number ≥ {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number ≥ {minimum}, got {value}")
        return value

    return parse


class ScriptParser(argparse.ArgumentParser):
    """Every script's parser: its module docstring as the help text, and a refusal in one line, the error and where
    the options are described (argparse's default prints the whole usage first, 5 lines or more)."""

    def __init__(self, description: str | None, **options):
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter, **options)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def library_type(parse: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse ``type`` from a library parser: its ValueError's message is the refusal, naming the option."""
    def typed(text: str) -> object:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return typed
