"""What the benchmark scripts time under: a median over repeats, and the machine idle or with one core kept busy, as
on a user's laptop (targets are for a 2-core CPU with one core busy)."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()  # warm-up: first-call allocations and lazy initialisation are not what a reader waits for
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def one_core_busy() -> Iterator[None]:
    """A busy loop in a second process, pinned to one of the cores this process may use, for the block's duration."""
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        if hasattr(os, "sched_setaffinity"):  # Linux; elsewhere the loop still takes one core's worth of time
            os.sched_setaffinity(loop.pid, {min(os.sched_getaffinity(0))})
        yield
    finally:
        loop.kill()
        loop.wait()


CONDITIONS: dict[str, Callable[[], ContextManager[None]]] = {"idle": nullcontext, "one core busy": one_core_busy}
