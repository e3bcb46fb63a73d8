"""Interleaved timing shared by the benchmark scripts."""

import statistics
import time


def interleaved(runners: dict, reps: int, warmup: int = 3) -> dict:
    """Call each runner once per round, ``reps`` rounds; return ``name -> list of seconds``.

    Interleaving puts every contender under the same machine load, so the per-round
    ratios stay meaningful on a noisy shared machine. Each runner must block until its
    result is ready.
    """
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = {name: [] for name in runners}
    for _ in range(reps):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return times


def median_ratio(a: list, b: list) -> float:
    """The median of per-round ratios, robust to a slow round hitting one side."""
    return statistics.median(x / y for x, y in zip(a, b))
