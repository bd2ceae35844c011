"""Wall-clock timing and medians."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def seconds(action: Callable[[], object]) -> float:
    """Wall-clock seconds `action` takes (its result must be ready when it returns)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    """The median, rounded to what a shared machine's noise leaves meaningful."""
    return round(statistics.median(values), 6)


def rounded(values: list[float]) -> list[float]:
    """Every measurement, for the record."""
    return [round(value, 6) for value in values]
