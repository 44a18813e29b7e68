"""How much work a hostile answer costs, counted so that nothing else can add to it.

The tests of hostile answers guard against hangs: a scaler of ten million once blocked
the event loop for seconds, and a larger one forever. Their limits are an order of
magnitude above what a parse costs, so only a hang or a return of such a computation
crosses them. What is counted is this thread's CPU time with garbage collection paused:
not the wall clock (a busy machine), not the process's CPU time (threads that earlier
tests left running), and not a collection of other tests' garbage that happens to
start inside the block.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Spent:
    """CPU seconds the block took; set when it ends."""

    seconds: float = 0.0


@contextmanager
def cpu_spent() -> Iterator[Spent]:
    spent = Spent()
    collecting = gc.isenabled()
    gc.disable()
    started = time.thread_time()
    try:
        yield spent
    finally:
        spent.seconds = time.thread_time() - started
        if collecting:
            gc.enable()
