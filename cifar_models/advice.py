"""Errors whose advice names the caller's arguments: the library words them as its own keyword arguments
(``fresh=True``), a script as its flags (``--fresh``), from the same message.

A message is a template whose ``{placeholder}`` fields are the arguments it mentions; ``str(error)`` fills them with
:data:`LIBRARY_WORDS`, and a script calls ``error.worded(its_flags)`` with a table of the same keys. Values such as
paths are passed beside the template, never formatted into it, so a brace in a path stays a brace.
"""
from __future__ import annotations

from collections.abc import Mapping

# placeholder -> how the library's functions (train_model, check_subset, check_run_folder) spell the argument
LIBRARY_WORDS = {
    "subset": "subset=",  # before a value: "subset=5 is too small"
    "subset_name": "subset",  # on its own: "or leave subset out"
    "fresh": "fresh=True",
    "recipe": "recipe=Recipe(lr=...)",
    "out": "out_dir",
}


class AdvisedError(Exception):
    """A refusal with advice in terms of arguments: ``template`` uses the keys of :data:`LIBRARY_WORDS` and of
    ``values`` (what the message reports: paths, numbers)."""

    def __init__(self, template: str, **values: object):
        super().__init__(template)
        self.template = template
        self.values = values

    def worded(self, words: Mapping[str, str]) -> str:
        """The message with each argument spelled as ``words`` spells it (a script passes its flags)."""
        return self.template.format_map({**words, **self.values})

    def __str__(self) -> str:
        return self.worded(LIBRARY_WORDS)
