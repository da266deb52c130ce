"""Accuracy against cost over training budgets (``train_all.py --budgets``), as the Compare page shows it: each model's
accuracy per budget over its seeds, the axis of training seconds named by the device that spent them, the verdict at
each budget as a table, and the trend of the decisive gap in one sentence."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cifar_models.budgets import Budget
from cifar_models.models import model_title
from cifar_models.verdict import PairEvidence, Verdict

from .common import Records, ordered, written

POINT_COLUMNS = ["model", "epochs", "seeds", "seed list", "accuracy", "low", "high", "tta", "seconds"]


def budget_points(budgets: Sequence[Budget]) -> pd.DataFrame:
    """One row per model and budget: the budget's epochs, its seeds (how many, which), the test accuracy's mean,
    lowest and highest over them, the mean accuracy with TTA and the mean training seconds."""
    rows = []
    for budget in budgets:
        for name, records in ordered(budget.records).items():
            measured = [record for record in records if math.isfinite(record.accuracy)]
            if not measured:
                continue
            accuracies = [record.accuracy for record in measured]
            rows.append({"model": name, "epochs": budget.epochs, "seeds": len(measured),
                         "seed list": ", ".join(str(record.seed) for record in measured),
                         "accuracy": float(np.mean(accuracies)), "low": min(accuracies), "high": max(accuracies),
                         "tta": float(np.mean([record.tta_accuracy for record in measured])),
                         "seconds": _mean_of_known([record.train_seconds for record in measured])})
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def log_ticks(values: Sequence[float]) -> list[float] | None:
    """The ticks of a log axis over ``values``: the round numbers (1, 2 and 5 times a power of ten) within their
    range, each labelled (Vega's own log ticks draw a grid line at every unit and label few of them); None where
    fewer than two fall within it, for Vega to choose. Values a log axis cannot show (NaN, zero) are not counted."""
    shown = [value for value in values if math.isfinite(value) and value > 0]
    if not shown:
        return None
    low, high = min(shown), max(shown)
    powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = [float(step * 10**power) for power in powers for step in (1, 2, 5) if low <= step * 10**power <= high]
    return ticks if len(ticks) >= 2 else None


def _mean_of_known(values: list[float]) -> float:
    """The mean of the finite values (a record may lack its training time: NaN), NaN where there are none."""
    known = [value for value in values if math.isfinite(value)]
    return float(np.mean(known)) if known else math.nan


# how cifar_models.engine names a CPU: its model name and the threads torch used, or "cpu" where the OS doesn't say
CPU_DEVICE = re.compile(r"cpu|.* \((?P<threads>\d+) threads\)")


def seconds_title(budgets: Sequence[Budget]) -> str:
    """The title of an axis of training seconds, naming what spent them: "GPU training seconds (NVIDIA H200)" where
    every record says one GPU, "CPU training seconds (…)" where one CPU, and a plain "training seconds (on N
    devices)" where the records name several, whose seconds do not compare."""
    devices = sorted({record.device for budget in budgets for records in budget.records.values()
                      for record in records})
    if len(devices) != 1:
        return f"training seconds (on {len(devices)} devices)" if devices else "training seconds"
    device = devices[0]
    cpu = CPU_DEVICE.fullmatch(device)
    if cpu is None:
        return f"GPU training seconds ({device})"
    named = device if cpu["threads"] is None else f"{device.rsplit(' (', 1)[0]}, {cpu['threads']} threads"
    return f"CPU training seconds ({named})"


def budget_problems(budgets: Sequence[Budget], verdicts: Mapping[int, Verdict]) -> list[str]:
    """A message per run record of a budget that does not read (left out, the rest shown), then per record a
    budget's verdict leaves out (``verdicts[epochs]``), each naming its budget."""
    unread = [f"`{folder}` is left out of the {budget.epochs}-epoch budget: {problem}"
              for budget in budgets for folder, problem in budget.problems.items()]
    return unread + [f"At {_epochs([epochs])}: {message}" for epochs, verdict in verdicts.items()
                     for message in verdict.left_out]


def budget_note(records: Records, budgets: Sequence[Budget]) -> str:
    """Home's line under the verdict where budgets exist: the budget of the committed checkpoints (``records``, the
    top level's, which the verdict judges), and the budgets Compare shows it at; '' where there are none."""
    if not budgets:
        return ""
    epochs = sorted({record.epochs_run for record in records.values()})
    at = f"at {_epochs(epochs)}, the committed checkpoints' budget" if epochs else "at the committed budget"
    return f"This answer is {at}; Compare gives it at {_epochs([budget.epochs for budget in budgets])}."


def decisive(verdict: Verdict) -> PairEvidence | None:
    """The pair the verdict turns on: the question model against its closest rival (the smallest lead)."""
    return min(verdict.rivals, key=lambda pair: pair.lead, default=None)


VERDICT_COLUMNS = ["answer", "closest rival", "lead (points)", "95% interval (points)", "Holm p", "seeds"]
VERDICT_FORMATS = {"lead (points)": lambda value: f"{value:+.2f}", "Holm p": lambda value: f"{value:.3g}"}


def verdict_table(verdicts: Mapping[int, Verdict]) -> pd.DataFrame:
    """One row per budget (by epochs): the verdict's answer, the closest rival, the lead over it in points with its
    95% interval and Holm-corrected p (– where the paired tests could not run), and the seeds, written out."""
    rows = {}
    for epochs, verdict in verdicts.items():
        pair = decisive(verdict)
        rows[_epochs([epochs])] = {
            "answer": verdict.answer.capitalize(),
            "closest rival": model_title(pair.rival) if pair else None,
            "lead (points)": 100 * pair.lead if pair else None,
            "95% interval (points)": (f"{100 * pair.interval[0]:+.2f} to {100 * pair.interval[1]:+.2f}"
                                      if pair and pair.interval else None),
            "Holm p": pair.p_corrected if pair else None,
            "seeds": ", ".join(str(seed) for seed in pair.seeds) if pair else None}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=VERDICT_COLUMNS).rename_axis("budget")
    return written(table, VERDICT_FORMATS)


# A change in the gap under a fifth of a point is within what a second seed moves one model's accuracy (the committed
# runs' two seeds differ by 0.1 to 0.7 points), so the gap is said to stay.
STEADY_POINTS = 0.2


def _gap(title: str, rival: str, lead: float) -> str:
    return f"{title}'s lead over {rival}" if lead >= 0 else f"{title}'s gap to {rival}"


def _side(lead: float) -> str:
    return f"{abs(lead):.1f} points {'ahead' if lead >= 0 else 'behind'}"


def trend_sentence(verdicts: Mapping[int, Verdict]) -> str:
    """How the gap the verdict turns on at the largest budget (the question model against its closest rival there)
    moves from the first budget both were judged at to the largest one, with its verb (widens, narrows, reverses or
    stays), and how the answer moves; '' with fewer than two such budgets."""
    if not verdicts:
        return ""
    last = decisive(verdicts[max(verdicts)])
    if last is None:
        return ""
    leads = {epochs: 100 * pair.lead for epochs, verdict in sorted(verdicts.items())
             for pair in verdict.rivals if pair.rival == last.rival}
    if len(leads) < 2:
        return ""
    (first, start), *_, (end_epochs, end) = leads.items()
    title, rival = model_title(last.model), model_title(last.rival)
    span = f"from {first} to {end_epochs} epochs"
    if abs(end - start) < STEADY_POINTS:
        trend = f"{_gap(title, rival, start)} stays at about {abs(start):.1f} points {span}"
    elif (start < 0) != (end < 0):
        trend = (f"{title}'s place against {rival} reverses, from {_side(start)} at {_epochs([first])} to {_side(end)} "
                 f"at {end_epochs}")
    else:
        verb = "widens" if abs(end) > abs(start) else "narrows"
        trend = f"{_gap(title, rival, start)} {verb} from {abs(start):.1f} to {abs(end):.1f} points {span}"
    return f"{trend}; {_answers(verdicts)}."


def _answers(verdicts: Mapping[int, Verdict]) -> str:
    """'the answer is "no" at every budget', or where it changes, the answer at each run of budgets."""
    answers = {epochs: verdict.answer for epochs, verdict in sorted(verdicts.items())}
    if len(set(answers.values())) == 1:
        return f"the answer is \u201c{next(iter(answers.values()))}\u201d at every budget"
    runs: list[tuple[str, list[int]]] = []
    for epochs, answer in answers.items():
        if runs and runs[-1][0] == answer:
            runs[-1][1].append(epochs)
        else:
            runs.append((answer, [epochs]))
    return "the answer is " + ", then ".join(f"\u201c{answer}\u201d at {_epochs(budgets)}"
                                              for answer, budgets in runs)


def _epochs(numbers: list[int]) -> str:
    """[10] -> '10 epochs', [1] -> '1 epoch', [10, 20, 40] -> '10, 20 and 40 epochs'."""
    words = [str(number) for number in numbers]
    listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return f"{listed} epoch{'s' * (numbers != [1])}"
