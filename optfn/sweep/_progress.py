"""The sweep's progress bar: compilation as its own phase, trials alive, best so far."""

import math


class Progress:
    """A tqdm bar (a line per chunk without tqdm) over a sweep's chunks.

    ``compiling(kind, started)`` switches the description to ``compiling <kind>`` while
    XLA compiles, so a long first compile shows as such instead of a frozen bar.
    """

    def __init__(self, enabled: bool, total: int, goal: str):
        self.bar, self.enabled, self.done, self.total, self.goal = None, enabled, 0, total, goal
        self.best = math.nan
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit="chunk", desc="training")
            except ImportError:
                pass

    def compiling(self, kind: str, started: bool) -> None:
        if self.bar is not None:
            self.bar.set_description(f"compiling {kind}" if started else "training")
        elif self.enabled and started:
            print(f"compiling {kind} ...")

    def update(self, alive: int, metrics) -> None:
        """One chunk done; ``metrics`` are this chunk's finite ``ok`` metrics."""
        self.done += 1
        pick = min if self.goal == "min" else max
        for m in metrics:  # best so far over every trial, so it never gets worse
            self.best = m if math.isnan(self.best) else pick(self.best, m)
        if self.bar is not None:
            self.bar.set_postfix(alive=alive, best=f"{self.best:.4g}")
            self.bar.update(1)
        elif self.enabled:
            print(f"chunk {self.done}/{self.total}  trials alive {alive}  best so far {self.best:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
